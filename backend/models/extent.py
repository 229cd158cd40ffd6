"""Where the object under one click ends: the probe squares' vote.

A click without a box says where the object is, not how far it reaches. GrabCut runs
in squares of growing size centred on the click, at a small size; in each, the object
is the part connected to the click. A small square stops at a part and a large one
spills into the background, so no single scale is right: every square whose object is
enclosed (an object is surrounded by other stuff) votes for it, and the majority's
region at the click gives the box that the classic segmenter then cuts
(``samvid.models.classic``; figures in docs/classic.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from samvid.models.classic_ops import (
    Box,
    Point,
    box_labels,
    component_at,
    disk,
    expand,
    found_nothing,
    grabcut,
    work_copy,
)
from samvid.tracker.masks import bbox

if TYPE_CHECKING:
    from samvid.models.classic import ClassicSettings

VOTE_CELL = 4  # px: the probe squares vote on a grid of cells this size


def object_box(image: np.ndarray, click: Point, cfg: ClassicSettings) -> Box:
    """The box of the object under ``click``, grown by ``probe_pad``. A square votes,
    cell by cell, when its object touches under ``probe_touch`` of the square's inner
    sides; with no voter, the largest square's object, else the smallest square."""
    h, w = image.shape[:2]
    x, y = click
    unit = float(np.sqrt(h * w))
    grid = (-(-h // VOTE_CELL), -(-w // VOTE_CELL))
    votes = np.zeros(grid, np.float32)
    voters = 0
    largest: Box | None = None
    for size in cfg.probe_sizes:
        touch, largest, cells = _probe_once(image, click, size * unit, grid, cfg)
        if cells is not None and touch < cfg.probe_touch:
            votes += cells
            voters += 1
    best = bbox(component_at(votes >= voters / 2, [(x / VOTE_CELL, y / VOTE_CELL)])) if voters else None
    if best is not None:
        best = (best[0] * VOTE_CELL, best[1] * VOTE_CELL, min(w, best[2] * VOTE_CELL), min(h, best[3] * VOTE_CELL))
    else:  # no square enclosed the object: the largest square's object, else a small square
        best = largest
    if best is None:
        r = cfg.probe_sizes[0] * unit
        best = (int(x - r), int(y - r), int(x + r) + 1, int(y + r) + 1)
    return expand(best, cfg.probe_pad, 1, (h, w))


def _probe_once(
    image: np.ndarray, click: Point, r: float, grid: tuple[int, int], cfg: ClassicSettings
) -> tuple[float, Box | None, np.ndarray | None]:
    """GrabCut in a square of half-side ``r`` around ``click`` at ``probe_side`` px:
    the share of the square's inner sides the object touches, the object's box,
    and the object's share of each ``VOTE_CELL`` cell of the image (``grid``)."""
    h, w = image.shape[:2]
    x, y = click
    square = (max(0, int(x - r)), max(0, int(y - r)), min(w, int(x + r) + 1), min(h, int(y + r) + 1))
    roi = expand(square, cfg.margin, 2, (h, w))
    small, _, (sx, sy) = work_copy(image, roi, cfg.probe_side)
    sh, sw = small.shape[:2]
    gc, (c0, r0, c1, r1) = box_labels((sh, sw), square, roi, (sx, sy))
    local = ((x - roi[0]) * sx, (y - roi[1]) * sy)
    radius = max(1.0, cfg.click_radius * max(sw, sh))
    disk(gc, local, radius, cv2.GC_FGD)
    fg = component_at(grabcut(small, gc, cfg.iterations), [local])
    if found_nothing(fg, 1, radius):
        # Only the click's own disk is left: the square lies inside one stuff
        # (its colours are the margin's too), so the object is larger.
        return 1.0, None, None
    sides = []  # the square's inner sides that are not the image border
    if square[0] > 0:
        sides.append(fg[r0:r1, c0])
    if square[2] < w:
        sides.append(fg[r0:r1, c1 - 1])
    if square[1] > 0:
        sides.append(fg[r0, c0:c1])
    if square[3] < h:
        sides.append(fg[r1 - 1, c0:c1])
    touch = float(np.concatenate(sides).mean()) if sides else 0.0
    box = bbox(fg)
    if box is None:
        return touch, None, None
    fx0, fy0, fx1, fy1 = box
    cells = np.zeros(grid, np.float32)
    gx0, gy0 = roi[0] // VOTE_CELL, roi[1] // VOTE_CELL
    gx1, gy1 = max(gx0 + 1, roi[2] // VOTE_CELL), max(gy0 + 1, roi[3] // VOTE_CELL)
    cells[gy0:gy1, gx0:gx1] = cv2.resize(fg.astype(np.float32), (gx1 - gx0, gy1 - gy0), interpolation=cv2.INTER_AREA)
    return touch, (
        roi[0] + int(fx0 / sx), roi[1] + int(fy0 / sy),
        roi[0] + int(np.ceil(fx1 / sx)), roi[1] + int(np.ceil(fy1 / sy)),
    ), cells
