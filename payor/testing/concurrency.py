"""Racing work over real parallel database connections, for concurrency tests."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def race(workers: list[Callable[[], object]]) -> list[object]:
    """Run every callable at the same instant, each on its own connection; return results or exceptions."""
    barrier = threading.Barrier(len(workers))
    results: list[object] = [None] * len(workers)

    def run(index: int, work: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[index] = work()
        except Exception as exc:  # collected and asserted on by the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, work)) for i, work in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
