"""One `samvid up` for the whole e2e session: its first start (Label Studio's migrations)
is the slow part, so the browser test and the `up` tests share it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from up_process import MODEL, Up, port_open


@dataclass
class Running:
    """The current `samvid up`; a test that restarts it puts the new one here."""

    stack: Up
    ready: dict[str, Any]


# Started as collection ends, when a collected test will want it: its first start overlaps
# the tests that run before the first e2e one.
EARLY: dict[str, Up] = {}


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly or not any(
            "running" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    data = session.config._tmp_path_factory.mktemp("up") / "data"  # type: ignore[attr-defined]
    EARLY["running"] = Up.start(data, "--model", MODEL)


def pytest_sessionfinish(session: pytest.Session) -> None:
    early = EARLY.pop("running", None)  # started, never asked for (a run stopped early)
    if early is not None:
        try:
            early.interrupt()
        except AssertionError:  # it ignored Ctrl-C: killed below, as a failed test's would be
            pass
        finally:
            early.kill_leftovers()


@pytest.fixture(scope="session")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    stack = EARLY.pop("running", None) or Up.start(tmp_path_factory.mktemp("up") / "data", "--model", MODEL)
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
