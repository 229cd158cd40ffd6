"""Calls run at the same moment in threads, for tests of two writers or two starts at once."""

from __future__ import annotations

import threading
from collections.abc import Callable


def at_once(call: Callable[[], object], times: int = 2) -> list[object]:
    """What each of ``times`` threads running ``call`` at once returned or raised (an
    exception is returned, not raised: the test's assertion names it), in the order they
    finished."""
    outcomes: list[object] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            outcome = call()
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            outcome = exc
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def failures(outcomes: list[object]) -> list[BaseException]:
    """The exceptions among ``at_once``'s outcomes."""
    return [o for o in outcomes if isinstance(o, BaseException)]
