"""A corrective click: a local edit of the mask around it.

A click where the mask is wrong disputes the wrongly labelled region under it, as far
as a few times its distance to the mask's edge (``edit_reach``): that region is cut
again by GrabCut at a small size with everything else held fixed. The click's own
colour says which pixels of the region start on its side, those near it and joined to
it (the core) take its label outright, and every earlier click stays a hard
constraint. A positive click only adds, a negative click only removes, so a click
never undoes the rest of the mask. Two guards keep an edit local: one that would
remove the whole mask disputes less, and one that runs out to the rim of its reach
all around has leaked into stuff like the click's and keeps its inner half. A click on
a speck with plain surroundings, which the small copy loses, gives the speck its label
as it is at full resolution (``speck_at``).
Figures in docs/lab/classic.md.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import cv2
import numpy as np

from samvid.models.classic_ops import (
    Box,
    Point,
    collapsed_area,
    component_at,
    disk,
    expand,
    grabcut,
    speck_at,
    upsample,
    work_copy,
)

if TYPE_CHECKING:
    from samvid.models.classic import ClassicSettings

log = logging.getLogger(__name__)

Click = tuple[Point, int]


def local_edit(
    image: np.ndarray, mask: np.ndarray, click: Click, earlier: list[Click], cfg: ClassicSettings,
    narrow: float = 1.0,
) -> np.ndarray:
    """``mask`` corrected by ``click``, which it disagrees with, somewhere in a mask that
    has pixels of the click's label (or, for a negative click, a mask of the whole image);
    ``narrow`` scales the click's reach."""
    h, w = mask.shape
    (x, y), label = click
    same = mask if label else ~mask
    # Distance from the click to the nearest pixel already of its label.
    ys, xs = np.nonzero(same)
    # None yet: a negative click on a mask of the whole image, bounded by its edges below.
    dist = float(np.sqrt(np.min((xs + 0.5 - x) ** 2 + (ys + 0.5 - y) ** 2))) if len(xs) else np.inf
    if not label:
        # A negative click sits in the mask, and where the mask runs to the frame's
        # edge the edge bounds it as much as background does (mud under a bike whose
        # box reaches the frame's bottom: its nearest background lies past the
        # wheels, which a reach measured from there would take too).
        dist = min(dist, x, y, w - x, h - y)
    reach = narrow * max(cfg.edit_reach * dist, 0.03 * max(h, w))
    window = expand((int(x - reach), int(y - reach), int(x + reach) + 1, int(y + reach) + 1), 0.0, 0, (h, w))
    wx0, wy0, wx1, wy1 = window
    local = (x - wx0, y - wy0)
    zone = _disputed(mask[wy0:wy1, wx0:wx1], local, label, reach)

    small, crop, (sx, sy) = work_copy(image, window, cfg.edit_side)
    # A click far from pixels of its label has a wide reach, cut at a small scale, where a
    # speck of a few pixels is lost: the click's colour there is mostly what surrounds it,
    # and the edit took all of that (a positive click: the whole ground; a negative click
    # on a small hole: the object around it). On plain surroundings, the speck takes the
    # click's label as it is at full resolution.
    lost = collapsed_area(max(1.0, cfg.click_radius * max(small.shape[:2])) / sx)
    speck = speck_at(image, (x, y), cfg.probe_side // 2, lost)
    if speck is not None:
        region, square = speck
        x0, y0, x1, y1 = square
        out = mask.copy()
        out[y0:y1, x0:x1][region & ~clicks_guard(earlier, label, square, cfg.click_radius)] = bool(label)
        out[min(h - 1, int(y)), min(w - 1, int(x))] = bool(label)  # as on the cut's path
        return out
    core_radius = max(1.0, cfg.edit_core * dist * sx)
    gc, core = _start_labels(small, mask[wy0:wy1, wx0:wx1], zone, (local[0] * sx, local[1] * sy), label, core_radius, cfg)
    radius = max(1.0, cfg.click_radius * max(small.shape[:2]))
    for (px, py), plab in earlier:
        if wx0 <= px < wx1 and wy0 <= py < wy1:
            disk(gc, ((px - wx0) * sx, (py - wy0) * sy), radius, cv2.GC_FGD if plab else cv2.GC_BGD)
    gc[core] = cv2.GC_FGD if label else cv2.GC_BGD
    new = upsample(small, grabcut(small, gc, cfg.iterations), crop, cfg.guide_radius, cfg.guide_eps)

    flipped = zone & (new == bool(label))
    core_full = cv2.resize(core.astype(np.uint8), (wx1 - wx0, wy1 - wy0), interpolation=cv2.INTER_NEAREST)
    flipped |= (core_full > 0) & zone
    flipped &= ~clicks_guard(earlier, label, window, cfg.click_radius)
    flipped = component_at(flipped, [local])
    # A negative click flips mask pixels only, so equal counts mean it flips them all.
    if not label and narrow > 0.25 and np.count_nonzero(flipped) == np.count_nonzero(mask):
        # A negative edit that would remove the whole mask had nothing of the object
        # held fixed to learn its colours from (a click on an occluder coloured like
        # the object it hides): dispute less, so that more stays. Only a box's mask
        # gets here (an earlier positive click's disk always stays), and a box says
        # there is an object in it.
        return local_edit(image, mask, click, earlier, cfg, narrow / 2)
    flipped = _unleaked(flipped, zone, local, reach, cfg.edit_leak)
    out = mask.copy()
    out[wy0:wy1, wx0:wx1][flipped] = bool(label)
    out[min(h - 1, int(y)), min(w - 1, int(x))] = bool(label)
    return out


def _disputed(local_mask: np.ndarray, click: Point, label: int, reach: float) -> np.ndarray:
    """The region the click disputes: the wrongly labelled part joined to it, within ``reach``."""
    zone = component_at(local_mask != bool(label), [click])
    within = np.zeros_like(zone, np.uint8)
    disk(within, click, reach, 1)
    return zone & (within > 0)


def _start_labels(
    small: np.ndarray, local_mask: np.ndarray, zone: np.ndarray, centre: Point, label: int, core_radius: float,
    cfg: ClassicSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """GrabCut's labels for the edit at working size (``small``; ``centre`` in its pixels),
    and the core that takes the click's label outright: the pixels within ``core_radius``
    coloured like the click and joined to it. Outside the disputed
    region the mask is held; inside it, pixels coloured like the click start on its side.
    The click's own colour is its pixel and nearest neighbours, not a wide disk that may
    be mostly the other side (issue 20)."""
    sh, sw = small.shape[:2]
    cur = cv2.resize(local_mask.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST) > 0
    zone_s = cv2.resize(zone.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST) > 0
    gc = np.where(cur, cv2.GC_FGD, cv2.GC_BGD).astype(np.uint8)
    keep, take = (cv2.GC_PR_BGD, cv2.GC_PR_FGD) if label else (cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    gc[zone_s] = keep
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    seed = np.zeros((sh, sw), np.uint8)
    disk(seed, centre, 1.5, 1)
    seed_px = seed > 0
    seed_px[min(sh - 1, int(centre[1])), min(sw - 1, int(centre[0]))] = True
    mu, sd = lab[seed_px].mean(axis=0), lab[seed_px].std(axis=0)
    like = (np.sqrt((((lab - mu) / (sd + cfg.edit_tolerance)) ** 2).sum(axis=-1)) < 3.0) & zone_s
    gc[like] = take
    near = np.zeros((sh, sw), np.uint8)
    disk(near, centre, core_radius, 1)
    core = component_at(((near > 0) & like) | seed_px, [centre]) & (zone_s | seed_px)
    return gc, core


def clicks_guard(earlier: list[Click], label: int, window: Box, click_radius: float) -> np.ndarray:
    """The disks of the earlier clicks of the other label in ``window``: all clicks are
    kept, so the edit never flips them."""
    wx0, wy0, wx1, wy1 = window
    guard = np.zeros((wy1 - wy0, wx1 - wx0), np.uint8)
    for (px, py), plab in earlier:
        if plab != label:
            disk(guard, (px - wx0, py - wy0), max(1.0, click_radius * max(wx1 - wx0, wy1 - wy0)), 1)
    return guard > 0


def _unleaked(flipped: np.ndarray, zone: np.ndarray, click: Point, reach: float, leak: float) -> np.ndarray:
    """An edit that runs out to the edge of its reach all around has leaked into stuff
    like the click's (water around a surfboard): keep its inner half. A reach that
    passes every edge of the image has no rim in it, and an edit that flooded the whole
    image went unseen: there, the image's farthest pixels are the rim of its reach."""
    rim = _ring(zone.shape, click, reach)
    if not rim.any():
        zh, zw = zone.shape
        reach = float(np.hypot(max(click[0], zw - click[0]), max(click[1], zh - click[1])))
        rim = _ring(zone.shape, click, reach)
    rim_px = (rim > 0) & zone
    if not (rim_px.sum() and flipped[rim_px].mean() > leak):
        return flipped
    log.debug("the edit leaked to the edge of its reach; keeping its inner half")
    inner = np.zeros_like(zone, np.uint8)
    disk(inner, click, 0.5 * reach, 1)
    return component_at(flipped & (inner > 0), [click])


def _ring(shape: tuple[int, int], click: Point, reach: float) -> np.ndarray:
    """The outer rim of a click's reach, from 0.85 of it out, as a mask of ``shape``."""
    rim = np.zeros(shape, np.uint8)
    disk(rim, click, reach, 1)
    disk(rim, click, 0.85 * reach, 0)
    return rim
