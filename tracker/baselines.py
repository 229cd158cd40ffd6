"""Baselines the flow engine is measured against, in the same run and on the same data.

- ``copy``: the first mask on every frame (what "no tracking" scores).
- ``box``: OpenCV's MIL box tracker, seeded so that runs repeat; its box filled as the mask.
- ``warp``: the previous mask pulled along dense optical flow, nothing else (drifts).
- ``warp-snap``: the warp, then a graph-cut snap around it each frame (the design the
  project started from).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from samvid.tracker import flow
from samvid.tracker.engine import Engine, ObjectResult, TrackState
from samvid.tracker.masks import bbox


def _result(mask: np.ndarray, score: float = 1.0) -> ObjectResult:
    visible = bool(mask.any())
    return ObjectResult(mask if visible else np.zeros_like(mask), score if visible else 0.0, visible)


class CopyFirstEngine(Engine):
    name = "copy"

    def _new_run(self, state: TrackState) -> _CopyRun:
        return _CopyRun()


@dataclass
class _CopyRun:
    masks: dict[int, np.ndarray] = field(default_factory=dict)

    def step(self, index: int, image: np.ndarray, given: dict[int, np.ndarray]) -> dict[int, ObjectResult]:
        self.masks.update(given)
        return {o: _result(m) for o, m in self.masks.items()}


class BoxTrackerEngine(Engine):
    """OpenCV's MIL tracker (the box tracker this OpenCV build ships without contrib)."""

    name = "box"

    def _new_run(self, state: TrackState) -> _BoxRun:
        return _BoxRun()


# OpenCV's MIL tracker loops forever on a box of a few pixels and refuses one with no
# room around it for background samples: it is given a box of at least MIL_SIDE on a
# side, in the frame with a border of MIL_BORDER repeated edge pixels, and the
# object's own box is reported at the centre of what it tracks.
MIL_SIDE = 16
MIL_BORDER = 32
# OpenCV's MIL tracker draws its random Haar features from C's rand() and its samples from
# OpenCV's RNG, both when it starts; what its updates return depends on nothing else. So
# both are seeded for the start, as flow.py and grabcut.py seed OpenCV's RNG before use
# (nothing in samvid draws from C's rand()). The lock keeps another thread's tracker, whose
# updates call rand() too, from drawing in between.
MIL_SEED = 1
_MIL_LOCK = threading.Lock()


def _init_mil(image: np.ndarray, box: tuple[int, int, int, int]) -> cv2.Tracker:
    """A MIL tracker started on ``box`` the same way on every run."""
    tracker: cv2.Tracker = cv2.TrackerMIL.create()
    with _MIL_LOCK:
        cv2.setRNGSeed(MIL_SEED)
        if (libc := _c_library()) is not None:
            libc.srand(MIL_SEED)
        tracker.init(image, box)
    return tracker


def _update_mil(tracker: cv2.Tracker, image: np.ndarray) -> tuple[bool, Sequence[int]]:
    with _MIL_LOCK:
        ok, box = tracker.update(image)
    return ok, box


@functools.cache
def _c_library() -> ctypes.CDLL | None:
    """The C library whose rand() OpenCV calls; None where none loads (runs then differ)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return None


@dataclass
class _BoxRun:
    trackers: dict[int, tuple[cv2.Tracker, int, int]] = field(default_factory=dict)  # tracker, w, h

    def step(self, index: int, image: np.ndarray, given: dict[int, np.ndarray]) -> dict[int, ObjectResult]:
        b = MIL_BORDER
        bgr = cv2.copyMakeBorder(image[..., ::-1], b, b, b, b, cv2.BORDER_REPLICATE)
        out: dict[int, ObjectResult] = {}
        for o, m in given.items():
            x0, y0, x1, y1 = bbox(m) or (0, 0, 1, 1)
            w, h = x1 - x0, y1 - y0
            tw, th = max(w, MIL_SIDE), max(h, MIL_SIDE)
            t = _init_mil(bgr, (round(b + x0 + (w - tw) / 2), round(b + y0 + (h - th) / 2), tw, th))
            self.trackers[o] = (t, w, h)
            out[o] = _result(m)
        for o, (t, w, h) in self.trackers.items():
            if o in out:
                continue
            ok, (x, y, tw, th) = _update_mil(t, bgr)
            mask = np.zeros(image.shape[:2], bool)
            if ok:
                x0, y0 = round(x + (tw - w) / 2) - b, round(y + (th - h) / 2) - b
                mask[max(0, y0) : max(0, y0 + h), max(0, x0) : max(0, x0 + w)] = True
            out[o] = _result(mask)
        return out


class FlowWarpEngine(Engine):
    """The previous mask warped along DIS flow; with ``snap``, graph-cut re-segmentation."""

    def __init__(self, snap: bool = False, preset: str = "medium") -> None:
        self.snap = snap
        self.preset = preset
        self.name = "warp-snap" if snap else "warp"

    def _new_run(self, state: TrackState) -> _WarpRun:
        return _WarpRun(flow.dis(self.preset), self.snap)


@dataclass
class _WarpRun:
    dis: cv2.DISOpticalFlow
    snap: bool
    prev: np.ndarray | None = None
    masks: dict[int, np.ndarray] = field(default_factory=dict)

    def step(self, index: int, image: np.ndarray, given: dict[int, np.ndarray]) -> dict[int, ObjectResult]:
        gray = flow.to_gray(image)
        if self.prev is not None and self.masks:
            back = flow.dense_flow(gray, self.prev, self.dis)
            for o, m in self.masks.items():
                warped = flow.warp_backward(m, back)
                m = flow.grabcut_snap(image, warped) if self.snap else warped >= 0.5
                self.masks[o] = m
        self.masks.update(given)
        self.prev = gray
        return {o: _result(m) for o, m in self.masks.items()}
