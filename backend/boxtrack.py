"""Track a box through a video: segment it once, propagate the mask, box each frame."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from samvid.core.prompts import Prompt
from samvid.core.segmenter import Segmenter
from samvid.tracker.engine import Engine, FramesSource
from samvid.tracker.masks import bbox

Box = tuple[float, float, float, float]


def mask_box(mask: np.ndarray) -> Box | None:
    """``masks.bbox`` as the float box Label Studio regions carry; None when empty.

    >>> m = np.zeros((4, 4), bool); m[1:3, 2] = True
    >>> mask_box(m)
    (2.0, 1.0, 3.0, 3.0)
    """
    box = bbox(mask)
    return None if box is None else (float(box[0]), float(box[1]), float(box[2]), float(box[3]))


def seed_mask(frames: FramesSource, frame: int, box: Box, segmenter: Segmenter | None) -> np.ndarray:
    """The object inside ``box`` on ``frame``: the segmenter's mask, or the box itself."""
    image = frames[frame]
    h, w = image.shape[:2]
    prompt = Prompt(box=box).clipped(w, h)  # PromptError for a box wholly past an edge
    assert prompt.box is not None
    x0, y0, x1, y1 = prompt.box
    mask = np.zeros((h, w), bool)
    if segmenter is not None:
        mask = segmenter.segment(segmenter.embed(image), prompt).mask
    if mask.sum() < 4:
        bx0, by0, bx1, by1 = (int(round(v)) for v in box)
        mask[max(0, by0):max(0, by1), max(0, bx0):max(0, bx1)] = True
        if not mask.any():  # a box under a pixel (rounded away): the pixels it touches
            mask[math.floor(y0):math.ceil(y1), math.floor(x0):math.ceil(x1)] = True
    return mask


def track_box(frames: FramesSource, frame: int, box: Box, engine: Engine,
              segmenter: Segmenter | None = None, max_frames: int | None = None,
              reverse: bool = False,
              cancelled: Callable[[], bool] = lambda: False) -> list[tuple[int, Box | None]]:
    """(frame, box or None when the object is lost) for ``frame`` and the frames after it."""
    state = engine.init_state(frames)
    engine.add_mask(state, frame, 1, seed_mask(frames, frame, box, segmenter))
    boxes: list[tuple[int, Box | None]] = []
    for fm in engine.propagate(state, start=frame, max_frames=max_frames, reverse=reverse):
        if cancelled():
            break
        boxes.append((fm.frame, mask_box(fm.masks[0]) if fm.visible[0] else None))
    return boxes
