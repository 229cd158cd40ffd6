"""Which frames of a video become tasks: pure functions of the frames' times and pictures.

``samvid import`` (``import_plan.py``) takes every frame, every ``--stride``-th, or one per
``1/--fps`` tick inside ``--start``/``--end`` (``select_frames``), and adds codec key
frames (``--keyframes``) and the first frame of each shot (``--scene-change``, from the
difference of grey histograms of successive frames).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# Frames within this many seconds of a --start/--end boundary count as on it.
EPSILON = 1e-6


def tick_slack(spacing: float) -> float:
    """How far before a tick (of ``spacing`` seconds, or frames that far apart) a frame
    time still counts as on it: Matroska and WebM store whole milliseconds, so a 30 fps
    frame at 2/15 s reads 0.133, just before its tick. At most a quarter of the spacing,
    so at a thousand frames a second the frame before a tick is not taken for it."""
    return min(1e-3, spacing / 4)


def select_frames(
    times: Sequence[float],
    *,
    stride: int = 1,
    fps: float | None = None,
    start: float | None = None,
    end: float | None = None,
) -> list[int]:
    """Indices of the frames to import, from their presentation times.

    ``start <= time < end`` first; then every ``stride``-th frame of that window, or, with
    ``fps``, the first frame at or after each tick ``t0, t0 + 1/fps, ...`` (exact for
    variable frame rate). ``select_frames([0, .1, .2, .3, .4], stride=2) == [0, 2, 4]``;
    ``select_frames([0, .1, .2, .3, .4], fps=4) == [0, 3]`` (ticks 0, .25 -> .3; .5 is past
    the end).
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, not {stride}")
    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be > 0, not {fps}")
    lo = -np.inf if start is None else start - EPSILON
    hi = np.inf if end is None else end - EPSILON
    window = [i for i, t in enumerate(times) if lo <= t < hi]
    if fps is None:
        return window[::stride]
    chosen: list[int] = []
    tick = None
    gaps = np.diff([times[i] for i in window])
    slack = tick_slack(min(1 / fps, float(np.median(gaps)) if len(gaps) else 1 / fps))
    for i in window:
        t = times[i]
        if tick is None:
            tick = start_tick = t
        if t >= tick - slack:
            chosen.append(i)
            # The first tick after this frame, ticks in a gap (VFR) skipped: counted, not
            # stepped through, which at a rate far above the video's would never end.
            tick = start_tick + (np.floor((t + slack - start_tick) * fps) + 1) / fps
    return chosen


def keyframe_indices(keyframes: Sequence[bool], window: Sequence[int]) -> list[int]:
    """The indices in ``window`` whose frame is a codec key frame:
    ``keyframe_indices([True, False, True, False], [1, 2, 3]) == [2]``."""
    return [i for i in window if keyframes[i]]


def scene_starts(differences: Sequence[float], threshold: float) -> list[int]:
    """Positions where a shot starts: the first, then every one whose difference from the
    one before is at least ``threshold``. ``differences[k]`` compares frame k-1 and frame k
    (``differences[0]`` is ignored): ``scene_starts([0, .05, .6, .1, .9], .5) == [0, 2, 4]``.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"the scene-change threshold must be in (0, 1], not {threshold}")
    return [k for k, d in enumerate(differences) if k == 0 or d >= threshold]


def grey_histogram(image: np.ndarray) -> np.ndarray:
    """Normalised 256-bin grey-level histogram of a small copy of an RGB frame.

    A histogram rather than pixel differences: a pan or a walking person moves pixels
    but keeps the histogram, a cut to another shot changes it.
    """
    small = cv2.resize(image, (64, 36), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    hist = np.bincount(grey.ravel(), minlength=256).astype(np.float64)
    return hist / hist.sum()


def histogram_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Earth mover's distance of two grey histograms, as a fraction of the grey range.

    0 for alike frames, 1 for black against white; a whole frame 100 grey levels
    brighter gives 100/256 = 0.39. Unlike a bin-by-bin distance, flicker of a few levels
    on a flat frame stays small (it moves mass to the next bin, not far).
    """
    return float(np.abs(np.cumsum(a) - np.cumsum(b)).sum() / len(a))
