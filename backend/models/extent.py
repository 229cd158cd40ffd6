"""Where the object under one click ends: the probe square that stands out most.

A click without a box says where the object is, not how far it reaches. GrabCut runs
in squares of growing size centred on the click, at a small size; in each, the object
is the part connected to the click. A small square stops at a part and a large one
spills into the background, and colour alone cannot tell which is right: every rule
read off the cuts' colours chose worse than a vote of the squares. Saliency
(``samvid.models.saliency``) can: it marks the outline and detail of what stands out
from its surroundings, so the square's object that holds the most of it, with the
quietest ring around it, is the one that encloses the object. Its box is what the
classic segmenter then cuts (``samvid.models.classic``; figures in docs/classic.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from samvid.models.classic_ops import (
    Box,
    Point,
    box_labels,
    collapsed_area,
    component_at,
    disk,
    expand,
    found_nothing,
    grabcut,
    is_flat,
    work_copy,
)
from samvid.models.saliency import spectral_residual
from samvid.tracker.masks import bbox

if TYPE_CHECKING:
    from samvid.models.classic import ClassicSettings

CELL = 4  # px: the squares' objects are compared on a grid of cells this size


def object_box(image: np.ndarray, click: Point, cfg: ClassicSettings) -> Box:
    """The box of the object under ``click``, grown by ``probe_pad``: of the probe
    squares' objects, the one that stands out most (``stand_out``); with none, a
    square of the smallest probe size."""
    h, w = image.shape[:2]
    x, y = click
    unit = float(np.sqrt(h * w))
    grid = (-(-h // CELL), -(-w // CELL))
    saliency = spectral_residual(image, grid)
    best: Box | None = None
    most = -np.inf
    for size in cfg.probe_sizes:
        probe = _probe_once(image, click, size * unit, grid, cfg)
        if probe is None:
            continue
        score = stand_out(saliency, probe[1], cfg.probe_ring)
        if best is None or score > most:
            best, most = probe[0], score
    if best is None:
        r = cfg.probe_sizes[0] * unit
        best = (int(x - r), int(y - r), int(x + r) + 1, int(y + r) + 1)
    return expand(best, cfg.probe_pad, 1, (h, w))


def speck_area(shape: tuple[int, int], cfg: ClassicSettings) -> float:
    """The most full-resolution pixels an object may have and still be lost by the
    finest probe: no more than its click's disk would be, once downscaled."""
    h, w = shape
    r = cfg.probe_sizes[0] * float(np.sqrt(h * w))
    side = 2 * int(r) + 1
    roi_side = min(max(h, w), side + 2 * (int(cfg.margin * side) + 2))
    scale = min(1.0, cfg.probe_side / roi_side)
    radius = max(1.0, cfg.click_radius * roi_side * scale)
    return collapsed_area(radius / scale)


def stand_out(saliency: np.ndarray, region: np.ndarray, ring: float) -> float:
    """How much more salient ``region`` is than the ring around it, ``ring`` times
    the region's side (the square root of its area) wide."""
    if not region.any():
        return -np.inf
    width = max(1, int(ring * np.sqrt(np.count_nonzero(region))))
    around = cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=width) > 0
    around &= ~region
    if not around.any():
        # The region is the whole image: nothing around it to stand out from. Read as
        # a plain surround, it outscored every object in a small image (a click on a
        # square in a 40 px frame gave the whole frame).
        return -np.inf
    return float(saliency[region].mean()) - float(saliency[around].mean())


def _probe_once(
    image: np.ndarray, click: Point, r: float, grid: tuple[int, int], cfg: ClassicSettings
) -> tuple[Box, np.ndarray] | None:
    """GrabCut in a square of half-side ``r`` around ``click`` at ``probe_side`` px:
    the object's box, and the ``CELL`` cells of the image (``grid``) it mostly covers;
    None where it found nothing."""
    h, w = image.shape[:2]
    x, y = click
    square = (max(0, int(x - r)), max(0, int(y - r)), min(w, int(x + r) + 1), min(h, int(y + r) + 1))
    roi = expand(square, cfg.margin, 2, (h, w))
    small, _, (sx, sy) = work_copy(image, roi, cfg.probe_side)
    if is_flat(small):
        # One colour all over, margin and all: the square lies inside one stuff, as when
        # a cut keeps only the click's disk (below), but GrabCut is not run on a flat
        # crop and the square itself came back as the object, which could win the vote
        # (a click in the middle of a block of flat colour gave a small square).
        return None
    sh, sw = small.shape[:2]
    gc, _ = box_labels((sh, sw), square, roi, (sx, sy))
    local = ((x - roi[0]) * sx, (y - roi[1]) * sy)
    radius = max(1.0, cfg.click_radius * max(sw, sh))
    disk(gc, local, radius, cv2.GC_FGD)
    fg = component_at(grabcut(small, gc, cfg.iterations), [local])
    box = None if found_nothing(fg, 1, radius) else bbox(fg)
    if box is None:
        # Only the click's own disk is left: the square lies inside one stuff
        # (its colours are the margin's too), so the object is larger.
        return None
    fx0, fy0, fx1, fy1 = box
    cells = np.zeros(grid, np.float32)
    gx0, gy0 = roi[0] // CELL, roi[1] // CELL
    gx1, gy1 = max(gx0 + 1, roi[2] // CELL), max(gy0 + 1, roi[3] // CELL)
    cells[gy0:gy1, gx0:gx1] = cv2.resize(fg.astype(np.float32), (gx1 - gx0, gy1 - gy0), interpolation=cv2.INTER_AREA)
    return (
        roi[0] + int(fx0 / sx), roi[1] + int(fy0 / sy),
        roi[0] + int(np.ceil(fx1 / sx)), roi[1] + int(np.ceil(fy1 / sy)),
    ), cells > 0.5
