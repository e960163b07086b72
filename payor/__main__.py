import sys

from payor.cli import main

sys.exit(main())
