"""The one interface every tracker engine offers, modelled on SAM 2's video predictor.

    engine = FlowEngine()
    state = engine.init_state(frames)              # any len() + [i] -> RGB uint8 (H, W, 3)
    engine.add_mask(state, 0, obj_id=1, mask=m)    # or add_prompt where the engine has a model
    for fm in engine.propagate(state, start=0):    # a generator of FrameMasks, one per frame
        ...

Engines stream: they read ``frames[i]`` one at a time and keep only a fixed window
(the previous frame and per-object models), so memory does not grow with the video.
Propagation checks ``state.cancel`` between frames and reports ``Progress``.
A frame that cannot be read (decoder error, wrong shape) is skipped and listed in
``Progress.skipped``; propagation continues from the last good frame.

Subclasses implement ``_new_run``: an object whose ``step`` takes the next frame.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from samvid.core.errors import TrackingError, UnknownObject
from samvid.core.prompts import Prompt
from samvid.tracker.masks import FrameMasks

log = logging.getLogger(__name__)


class FramesSource(Protocol):
    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> np.ndarray: ...


@dataclass(frozen=True)
class ObjectResult:
    """One object on one frame, as an engine's ``_step`` returns it."""

    mask: np.ndarray  # bool (H, W); all False when not visible
    score: float
    visible: bool


@dataclass
class Progress:
    frames_done: int = 0
    frames_total: int = 0
    elapsed_s: float = 0.0
    skipped: list[int] = field(default_factory=list)
    cancelled: bool = False

    @property
    def fps(self) -> float:
        return self.frames_done / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class TrackState:
    """What one propagation session holds: the source and the masks given on frames."""

    frames: FramesSource
    height: int
    width: int
    # frame -> obj_id -> bool mask given by the user (conditioning frames)
    inputs: dict[int, dict[int, np.ndarray]] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: Progress = field(default_factory=Progress)

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    @property
    def object_ids(self) -> tuple[int, ...]:
        return tuple(sorted({o for per in self.inputs.values() for o in per}))


def read_frame(frames: FramesSource, i: int, size: tuple[int, int]) -> np.ndarray | None:
    """``frames[i]`` as RGB uint8 (H, W, 3), or None when it cannot be read or is malformed."""
    try:
        img = frames[i]
    except (IndexError, KeyError):
        raise
    except Exception as exc:  # a decoder can fail in many ways; one bad frame must not stop us
        if _whole_source(exc):
            raise
        log.warning("frame %d unreadable (%s): skipped", i, exc)
        return None
    if not isinstance(img, np.ndarray) or img.shape != (*size, 3) or img.dtype != np.uint8:
        shape = getattr(img, "shape", None)
        log.warning("frame %d malformed (shape %s, want %s): skipped", i, shape, (*size, 3))
        return None
    return img


def _whole_source(exc: Exception) -> bool:
    """Whether ``exc`` condemns every frame of the source, not one: skipped frame by frame,
    the rest of the walk would be "unreadable" with the reason (and the fix) only logged."""
    # Imported here: the frames module loads PyAV and OpenCV, which an engine walking
    # Label Studio's images does not need, and its errors only come from its readers.
    from samvid.tracker.frames import UntrustedTimestamps

    return isinstance(exc, UntrustedTimestamps)


def object_id(obj_id: object) -> int:
    """``obj_id`` as the integer every result names the object by (``"3"`` is 3). What
    names no integer is refused: ``int`` would cut 2.7 to 2, another object's id, and take
    ``True`` (JSON's ``true``) for 1, another object's id too."""
    try:
        as_int = int(obj_id)  # type: ignore[call-overload]  # refused below when it cannot
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
        as_int = None
    if (as_int is None or isinstance(obj_id, (bool, np.bool_))
            or (not isinstance(obj_id, str) and as_int != obj_id)):
        raise TrackingError(f"object id {obj_id!r} is not an integer: give each object an integer id")
    return as_int


def _first_readable(frames: FramesSource) -> np.ndarray:
    """The first frame that can be read, for the video's size: a walk skips a frame it
    cannot read, so one unreadable frame 0 must not refuse the whole video. Where none
    can be read, frame 0's error, as it was raised."""
    error: Exception | None = None
    for i in range(len(frames)):
        try:
            return frames[i]
        except (IndexError, KeyError):
            raise
        except Exception as exc:  # as ``read_frame``: a decoder can fail in many ways
            if _whole_source(exc):
                raise
            log.warning("frame %d unreadable (%s): the video's size is read from a later one", i, exc)
            error = error or exc
    assert error is not None
    raise error


class Run(Protocol):
    def step(
        self, index: int, image: np.ndarray, given: dict[int, np.ndarray]
    ) -> dict[int, ObjectResult]:
        """Advance to ``image``; ``given`` are masks to (re)seed objects with on this frame.

        Called first with the start frame (``given`` holds its objects), then for each next
        frame read. Returns results for every object the run is tracking.
        """
        ...


class Engine(ABC):
    """Shared verbs and bookkeeping; subclasses provide the per-frame work."""

    name = "engine"
    has_model = False

    # ---------------------------------------------------------------- verbs
    def init_state(self, frames: FramesSource) -> TrackState:
        if len(frames) == 0:
            raise TrackingError("the video has no frames")
        first = _first_readable(frames)
        if not isinstance(first, np.ndarray) or first.ndim != 3 or first.shape[2] != 3 or first.dtype != np.uint8:
            raise TrackingError("frames must be RGB uint8 arrays of shape (H, W, 3)")
        return TrackState(frames, first.shape[0], first.shape[1])

    def add_mask(self, state: TrackState, frame: int, obj_id: int, mask: np.ndarray) -> None:
        """Give (or correct) object ``obj_id`` on ``frame``; propagation restarts from it."""
        self._check_frame(state, frame)
        oid = object_id(obj_id)
        mask = np.asarray(mask)
        if mask.shape != (state.height, state.width):
            given = f"{mask.shape[1]}x{mask.shape[0]}" if mask.ndim == 2 else f"of shape {mask.shape}"
            raise TrackingError(
                f"mask is {given}, the video is {state.width}x{state.height}: "
                "give a mask of the frame's size (H, W)"
            )
        if mask.dtype.kind in "fc" and not np.isfinite(mask).all():
            # NaN reads as True: an all-NaN mask would be the whole frame.
            raise TrackingError(f"the mask of object {obj_id} on frame {frame} has values that are not finite (NaN or inf)")
        mask = mask.astype(bool)
        if not mask.any():
            raise TrackingError(f"the mask of object {obj_id} on frame {frame} is empty")
        state.inputs.setdefault(frame, {})[oid] = mask

    def add_prompt(self, state: TrackState, frame: int, obj_id: int, prompt: Prompt) -> None:
        raise TrackingError(f"the {self.name} engine has no model: give a mask, not clicks or a box")

    def remove_object(self, state: TrackState, obj_id: int) -> None:
        oid = object_id(obj_id)
        if oid not in state.object_ids:
            raise UnknownObject(f"object {obj_id!r} is not tracked (known: {list(state.object_ids)})")
        for per in state.inputs.values():
            per.pop(oid, None)
        state.inputs = {f: per for f, per in state.inputs.items() if per}

    def reset_state(self, state: TrackState) -> None:
        state.inputs.clear()
        state.cancel.clear()
        state.progress = Progress()

    def propagate(
        self,
        state: TrackState,
        start: int | None = None,
        max_frames: int | None = None,
        reverse: bool = False,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> Iterator[FrameMasks]:
        """Yield FrameMasks from ``start`` (default: first given frame) on, one per frame read.

        An object enters when the walk reaches its first given mask; a mask given on a later
        frame replaces the engine's own (a correction). Stops when ``state.cancel`` is set.
        """
        if not state.inputs:
            raise TrackingError("add a mask for at least one object before propagating")
        given = sorted(state.inputs)
        if start is None:
            start = given[-1] if reverse else given[0]
        self._check_frame(state, start)
        step = -1 if reverse else 1
        stop = -1 if reverse else state.n_frames
        if max_frames is not None:
            stop = max(stop, start - max_frames) if reverse else min(stop, start + max_frames)
        indices = range(start, stop, step)
        ids = state.object_ids
        state.cancel.clear()
        prog = state.progress = Progress(frames_total=len(indices))
        run = self._new_run(state)
        t0 = time.perf_counter()
        started = False
        pending: dict[int, np.ndarray] = {}  # masks given on frames that could not be read
        for i in indices:
            if state.cancel.is_set():
                prog.cancelled = True
                log.info("propagation cancelled after %d frames", prog.frames_done)
                return
            image = read_frame(state.frames, i, (state.height, state.width))
            if image is None:
                prog.skipped.append(i)
                if started and state.inputs.get(i):
                    # Dropped, the object (or the correction) would be lost for the whole
                    # walk: it enters on the next frame read, as near as the walk can get.
                    log.warning("frame %d holds given masks but cannot be read: they enter on the next frame", i)
                    pending.update(state.inputs[i])
                continue
            new = {**pending, **state.inputs.get(i, {})}
            pending = {}
            if not started:
                # Objects given on frames the walk has passed (before start) enter here.
                # In walk order, so the given frame nearest to ``i`` wins for each object.
                passed = [f for f in given[:: step] if (f <= i if not reverse else f >= i)]
                new = {o: m for f in passed for o, m in state.inputs[f].items()}
                started = True
            results = run.step(i, image, new)
            prog.frames_done += 1
            prog.elapsed_s = time.perf_counter() - t0
            if on_progress is not None:
                on_progress(prog)
            yield to_frame_masks(i, ids, results, (state.height, state.width))

    # ---------------------------------------------------------------- for subclasses
    @abstractmethod
    def _new_run(self, state: TrackState) -> Run:
        """Fresh per-propagation working state (one per ``propagate`` call)."""

    @staticmethod
    def _check_frame(state: TrackState, frame: int) -> None:
        if not 0 <= frame < state.n_frames:
            raise TrackingError(f"frame {frame} is outside the video (0..{state.n_frames - 1})")


def to_frame_masks(
    index: int, ids: Sequence[int], results: dict[int, ObjectResult], size: tuple[int, int]
) -> FrameMasks:
    """Results in the order of ``ids``; an object not (yet) tracked is empty and invisible."""
    h, w = size
    masks = np.zeros((len(ids), h, w), bool)
    scores = np.zeros(len(ids), np.float32)
    visible = np.zeros(len(ids), bool)
    for k, o in enumerate(ids):
        r = results.get(o)
        if r is not None and r.visible:
            masks[k] = r.mask
            scores[k] = r.score
            visible[k] = True
    return FrameMasks(index, tuple(ids), masks, scores, visible)
