"""One `samvid up` for the whole e2e session: its first start (Label Studio's migrations)
is the slow part, so the browser test and the `up` tests share it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from services import EARLY_STARTS, EarlyStart, claim
from up_process import MODEL, Up, port_open


@dataclass
class Running:
    """The current `samvid up`; a test that restarts it puts the new one here."""

    stack: Up
    ready: dict[str, Any]


def _stop(stack: Up) -> None:
    try:
        stack.interrupt()
    except AssertionError:  # it ignored Ctrl-C: killed below, as a failed test's would be
        pass
    finally:
        stack.kill_leftovers()


EARLY_STARTS["running"] = EarlyStart(start=lambda factory: Up.start(factory.mktemp("up") / "data", "--model", MODEL),
                                     stop=_stop)


@pytest.fixture(scope="session")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    stack = claim("running", tmp_path_factory)
    current = Running(stack, {})
    try:
        current.ready = stack.wait_ready()
        yield current
    finally:
        started = list({id(s): s for s in (stack, current.stack)}.values())
        codes = [s.interrupt() for s in started]
        for s in started:
            s.kill_leftovers()
        assert codes == [0] * len(started), current.stack.output
        # Ctrl-C stopped both children: nothing listens on their ports any more.
        assert not port_open(current.stack.port) and not port_open(current.stack.backend_port)
