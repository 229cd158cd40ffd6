"""Engine names -> engines: the one place that knows which engines exist.

``sam2`` and ``guided`` take an optional model after a colon: ``sam2:/models/sam2.1-hiera-small``,
``guided:facebook/sam-vit-base`` (plain ``guided`` uses the weight-free classic segmenter).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from samvid.core.errors import TrackingError
from samvid.tracker.baselines import BoxTrackerEngine, CopyFirstEngine, FlowWarpEngine
from samvid.tracker.engine import Engine
from samvid.tracker.flow_engine import FlowEngine
from samvid.tracker.segment_engine import SegmentEngine

ENGINES: dict[str, Callable[[], Engine]] = {
    "flow": lambda: SegmentEngine("quality"),
    "flow-preview": lambda: SegmentEngine("preview"),
    "rigid": lambda: FlowEngine("quality"),
    "rigid-preview": lambda: FlowEngine("preview"),
    "warp-snap": lambda: FlowWarpEngine(snap=True),
    "warp": lambda: FlowWarpEngine(),
    "box": BoxTrackerEngine,
    "copy": CopyFirstEngine,
}
MODEL_ENGINES = ("sam2", "guided")


@lru_cache(maxsize=2)
def _video_model(name: str):
    """Loaded once per process: jobs share it (each run has its own inference session)."""
    from samvid.tracker.memory_engine import load_video_model

    return load_video_model(name)


@lru_cache(maxsize=2)
def _segmenter(name: str):
    from samvid.models import load_segmenter

    return load_segmenter(name)


def make_engine(name: str) -> Engine:
    kind, _, model = name.partition(":")
    if kind == "sam2":
        from samvid.tracker.memory_engine import MemoryEngine

        return MemoryEngine(_video_model(model or "facebook/sam2.1-hiera-tiny"))
    if kind == "guided":
        from samvid.tracker.guided_engine import GuidedEngine

        return GuidedEngine(_segmenter(model or "classic"))
    try:
        return ENGINES[name]()
    except KeyError:
        choices = ", ".join([*ENGINES, *MODEL_ENGINES])
        raise TrackingError(f"unknown engine {name!r}; choose one of {choices}") from None
