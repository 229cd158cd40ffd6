"""Engine names -> engines: the one place that knows which engines exist."""

from __future__ import annotations

from collections.abc import Callable

from samvid.errors import BadRequest
from samvid.tracker.baselines import BoxTrackerEngine, CopyFirstEngine, FlowWarpEngine
from samvid.tracker.engine import Engine
from samvid.tracker.flow_engine import FlowEngine

ENGINES: dict[str, Callable[[], Engine]] = {
    "flow": lambda: FlowEngine("quality"),
    "flow-preview": lambda: FlowEngine("preview"),
    "warp-snap": lambda: FlowWarpEngine(snap=True),
    "warp": lambda: FlowWarpEngine(),
    "box": BoxTrackerEngine,
    "copy": CopyFirstEngine,
}


def make_engine(name: str) -> Engine:
    try:
        return ENGINES[name]()
    except KeyError:
        raise BadRequest(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}") from None
