"""ISO 3166-1 alpha-2 country codes, from the CLDR territory list Babel ships.

CLDR also names a few codes that are not ISO 3166-1 country codes (exceptional reservations such as ``AC``
or ``EA``, ``EU``/``EZ``/``UN`` groupings, ``QO``, pseudo-locales ``XA``/``XB``, ``XK`` and ``ZZ``): they are
left out, which leaves the 249 officially assigned codes.
"""

from __future__ import annotations

from functools import cache
from typing import Final

from babel import Locale

#: CLDR territory codes that are not officially assigned ISO 3166-1 alpha-2 country codes.
NOT_ISO_3166: Final = frozenset(
    {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "XK", "ZZ"}
)


@cache
def country_names() -> dict[str, str]:
    """``{"US": "United States", ...}``: every ISO 3166-1 alpha-2 code with its English name."""
    territories = Locale("en").territories
    return {
        code: str(name)
        for code, name in sorted(territories.items())
        if len(code) == 2 and code.isalpha() and code.isupper() and code not in NOT_ISO_3166
    }


def country_valid(code: str) -> bool:
    return code in country_names()
