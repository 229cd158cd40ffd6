"""Engine names -> engines: the one place that knows which engines exist.

``sam2`` and ``guided`` take an optional model after a colon: ``sam2:/models/sam2.1-hiera-small``,
``guided:facebook/sam-vit-base`` (plain ``guided`` uses the weight-free classic segmenter).
``auto`` (``SAMVID_TRACKER``'s default) is resolved once at start by ``choose_engine``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from samvid.core.errors import TrackingError
from samvid.tracker.baselines import BoxTrackerEngine, CopyFirstEngine, FlowWarpEngine
from samvid.tracker.engine import Engine
from samvid.tracker.flow_engine import FlowEngine
from samvid.tracker.segment_engine import SegmentEngine

log = logging.getLogger(__name__)

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
AUTO = "auto"  # SAM 2's memory engine when a SAM 2-family model with weights is here, else flow
WEIGHT_FREE = "flow"
DEFAULT_VIDEO_MODEL = "facebook/sam2.1-hiera-tiny"


@dataclass(frozen=True)
class EngineOptions:
    """How model engines load their model: device, precision (``samvid.models.precision``)
    and, for benchmarks and tests only, random weights."""

    device: str = "auto"
    precision: str = "auto"
    random_weights: bool = False

    @classmethod
    def of(cls, settings: Any) -> EngineOptions:
        """From ``samvid.settings.Settings`` (SAMVID_DEVICE, SAMVID_PRECISION, SAMVID_RANDOM_WEIGHTS)."""
        return cls(settings.device, settings.precision, settings.random_weights)


_defaults = EngineOptions()
_auto = WEIGHT_FREE  # what ``auto`` means in this process: set by ``start_engine``


def configure(options: EngineOptions, auto: str = WEIGHT_FREE) -> None:
    """The options ``make_engine`` uses when given none, and the engine ``auto`` stands for:
    set once at start from the settings, so every job of the process loads alike."""
    global _defaults, _auto
    _defaults, _auto = options, auto


def choose_engine(requested: str, tracking_model: str | None = None) -> str:
    """The engine ``requested`` names, with ``auto`` resolved: ``sam2:MODEL`` when a SAM 2-family
    model with real weights is at hand (``tracking_model``), the weight-free ``flow`` otherwise.

    >>> choose_engine("auto", "facebook/sam2.1-hiera-tiny"), choose_engine("auto", None)
    ('sam2:facebook/sam2.1-hiera-tiny', 'flow')
    >>> choose_engine("flow-preview", "facebook/sam2.1-hiera-tiny")
    'flow-preview'
    """
    if requested == "sam2" and tracking_model:  # plain sam2: the configured SAM 2 weights
        return f"sam2:{tracking_model}"
    if requested != AUTO:
        return requested
    return f"sam2:{tracking_model}" if tracking_model else WEIGHT_FREE


def resolved(name: str) -> str:
    """``name`` with ``auto`` read as this process resolved it at start (the weight-free
    engine where nothing was started): what a prediction's model version names."""
    return _auto if name == AUTO else name


def engine_choices() -> str:
    return ", ".join([AUTO, *ENGINES, *(f"{m}[:MODEL]" for m in MODEL_ENGINES)])


def is_engine(name: str) -> bool:
    """Whether ``name`` is one of ``engine_choices()`` (a model engine with any model)."""
    return name == AUTO or name in ENGINES or name.partition(":")[0] in MODEL_ENGINES


@lru_cache(maxsize=4)
def _video_model(name: str, options: EngineOptions) -> tuple[Any, str]:
    """Loaded once per process and options: jobs share it (each run has its own inference session)."""
    from samvid.models.precision import apply_precision, resolve_precision
    from samvid.models.sam import check_device, pick_device
    from samvid.tracker.memory_engine import load_video_model

    device = pick_device(options.device)
    check_device(device)  # a GPU this machine lacks: said, not torch's assertion at .to()
    precision = resolve_precision(options.precision, device)  # refused before loading
    model = load_video_model(name, random_weights=options.random_weights)
    return apply_precision(model.to(device), precision), device


@lru_cache(maxsize=2)
def _segmenter(name: str, options: EngineOptions) -> Any:
    from samvid.models import load_segmenter

    return load_segmenter(name, device=options.device, precision=options.precision,
                          random_weights=options.random_weights)


def make_engine(name: str, options: EngineOptions | None = None) -> Engine:
    """The engine called ``name`` (not ``auto``: resolve it with ``choose_engine`` first).

    Raises ``TrackingError`` naming the choices for an unknown name, ``ModelUnavailable`` for a
    model without weights, ``UnsupportedPrecision`` for a precision the device lacks."""
    options = options or _defaults
    name = resolved(name)  # auto: resolved at start (start_engine); unresolved, the weight-free engine
    kind, _, model = name.partition(":")
    if kind == "sam2":
        from samvid.tracker.memory_engine import MemoryEngine

        if model and _known_without_memory(model):
            # Else random weights built a SAM 2 under an image model's name, and without them
            # the advice was to pull weights (of ``classic``, which has none) it cannot track with.
            check_tracking_model(model, f"engine {name!r}")
        video_model, device = _video_model(model or DEFAULT_VIDEO_MODEL, options)
        return MemoryEngine(video_model, device=device)
    if kind == "guided":
        from samvid.tracker.guided_engine import GuidedEngine

        return GuidedEngine(_segmenter(model or "classic", options))
    try:
        return ENGINES[name]()
    except KeyError:
        raise TrackingError(f"unknown engine {name!r}; choose one of {engine_choices()}") from None


# Measured on an idle 2-core CPU at 480p, one object: SAM 2.1-tiny in bf16, 1.8-2.2 s a frame once
# its memory bank is full (bench/bench_memory_engine.py; docs/models.md); flow
# (bench/bench_tracker.py).
CPU_SECONDS_PER_FRAME = 2.2
FLOW_FRAMES_PER_SECOND = 4
_warned: set[str] = set()  # engines whose CPU cost was logged: once per process


def start_engine(requested: str, tracking_model: str | None, options: EngineOptions) -> str:
    """Resolve ``requested`` (``auto`` included), make it the process default with ``options``
    and load its model now, so an unknown name, a model without weights or a precision the
    device lacks is reported at start, never at the first propagation. Returns the engine name."""
    name = choose_engine(requested, tracking_model)
    engine = make_engine(name, options)  # before it becomes the default: a refused one never does
    configure(options, auto=name)
    device = getattr(engine, "device", "")
    if name.startswith("sam2") and str(device).startswith("cpu") and name not in _warned:
        _warned.add(name)
        log.warning(
            "propagation runs SAM 2 (%s) on the CPU: about %.1f s per frame and object at 480p on "
            "2 cores, more on larger frames (docs/models.md). For speed over quality set "
            "SAMVID_TRACKER=flow: the weight-free engine, about %d frames/s at 480p",
            name, CPU_SECONDS_PER_FRAME, FLOW_FRAMES_PER_SECOND)
    return name


def start_configured(settings: Any, segmenter: Any) -> str:
    """``start_engine`` for ``samvid.settings.Settings`` (SAMVID_TRACKER, SAMVID_TRACKER_MODEL,
    device, precision) and the loaded click ``segmenter``, whose own weights ``auto`` may track with."""
    check_device_and_precision(settings)
    model = settings.tracker_model or getattr(segmenter, "tracking_model", None)
    if settings.tracker_model:
        check_tracking_model(settings.tracker_model)
    return start_engine(settings.tracker, model, EngineOptions.of(settings))


def check_device_and_precision(settings: Any) -> None:
    """Refuse a SAMVID_DEVICE this machine lacks, then a SAMVID_PRECISION that device lacks."""
    from samvid.models.precision import resolve_precision
    from samvid.models.sam import check_device, pick_device

    device = pick_device(settings.device)
    # The device first, whatever uses it: a precision checked against a GPU this machine
    # lacks (int8 on cuda) was refused for the precision, and the GPU never named.
    check_device(device)
    resolve_precision(settings.precision, device)


def check_tracking_model(name: str, said: str = "") -> None:
    """SAMVID_TRACKER_MODEL (or the model of the engine ``said`` names) must be a SAM 2-family
    or EdgeTAM model (a name or a local folder)."""
    from samvid.models.registry import MODELS
    from samvid.models.sam import MEMORY_FAMILIES, family_of

    if family_of(name) not in MEMORY_FAMILIES:
        choices = ", ".join(n for n, info in MODELS.items() if info.video)
        raise TrackingError(f"{said or f'SAMVID_TRACKER_MODEL={name!r}'} has no video memory: choose a "
                            f"SAM 2-family or EdgeTAM model ({choices}) or a folder of one")


def _known_without_memory(name: str) -> bool:
    """Whether ``name`` is surely no SAM 2-family or EdgeTAM model: a registry model of
    another family, or a folder whose config says so. Any other name is left to the
    loader (a hub model outside the registry is read by its own config)."""
    from samvid.models.registry import MODELS, model_path
    from samvid.models.sam import MEMORY_FAMILIES, family_of

    known = name in MODELS or (model_path(name) / "config.json").is_file()
    return known and family_of(name) not in MEMORY_FAMILIES
