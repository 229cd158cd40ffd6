"""SAM-style mask clean-up: pure functions on boolean masks.

SAM's raw masks (and GrabCut's) carry pinholes and speckles; annotators expect one
clean region under their click. Every segmenter runs its output through
``clean_mask`` so masks look alike whatever model made them.

A tiny example (``#`` is True) with a 1-pixel hole, a 1-pixel island and a click
at pixel centre (1.5, 1.5)::

    >>> import numpy as np
    >>> m = np.array([[1, 1, 1, 0, 0],
    ...               [1, 0, 1, 0, 1],
    ...               [1, 1, 1, 0, 0]], dtype=bool)
    >>> clean_mask(m, points=[(1.5, 1.5)], min_hole_area=2, min_island_area=2).astype(int)
    array([[1, 1, 1, 0, 0],
           [1, 1, 1, 0, 0],
           [1, 1, 1, 0, 0]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np

Point = tuple[float, float]


def area_threshold(shape: tuple[int, int], relative: float = 0.0, absolute: int = 0) -> int:
    """The larger of ``absolute`` pixels and ``relative`` x the image area.

    >>> area_threshold((100, 200), relative=0.001, absolute=5)
    20
    """
    return max(int(absolute), round(relative * shape[0] * shape[1]))


def _components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(count, labels, areas) of 8-connected components; label 0 is the background."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return n, labels, stats[:, cv2.CC_STAT_AREA]


def remove_small_regions(mask: np.ndarray, min_area: int, mode: Literal["holes", "islands"],
                         spare: Sequence[Point] = ()) -> np.ndarray:
    """Fill holes (``mode="holes"``) or drop islands smaller than ``min_area`` pixels,
    except those under a point of ``spare`` (pixel-centre coordinates).

    As in SAM, any small False component counts as a hole, even one touching the
    image border, and any small True component as an island; and when every island
    is small (and none is spared), the largest stays: a small object is still an
    object, not noise around one.

    >>> m = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=bool)
    >>> bool(remove_small_regions(m, 2, "holes").all())
    True
    >>> remove_small_regions(np.array([[1, 0, 1, 1]], dtype=bool), 5, "islands").astype(int)
    array([[0, 0, 1, 1]])
    """
    # A 0/1 uint8 mask (OpenCV's, a PNG's) is read as one: ~ of it is nonzero everywhere.
    mask = np.asarray(mask).astype(bool)
    if min_area <= 0:
        return mask
    fill_holes = mode == "holes"
    work = ~mask if fill_holes else mask
    _, labels, areas = _components(work)
    small = np.setdiff1d(np.flatnonzero(areas[1:] < min_area) + 1, sorted(_labels_at(labels, spare)))
    if not fill_holes and small.size == len(areas) - 1 > 0:
        # Nothing would be left: a box round a small object (no click to spare it), or a
        # click beside it, would give an empty mask. SAM's own clean-up keeps the largest.
        small = small[small != int(np.argmax(areas[1:])) + 1]
    if small.size == 0:
        return mask
    drop = np.zeros(len(areas), bool)
    drop[small] = True
    hit = drop[labels]  # a lookup table: 8.8 ms vs np.isin 10.2 on a noisy 720p mask
    return (mask | hit) if fill_holes else (mask & ~hit)


def _labels_at(labels: np.ndarray, points: Sequence[Point]) -> set[int]:
    """Component labels under the given pixel-centre coordinates (off-image points ignored;
    a point on the right or bottom edge, x == width, is in the last column, as a prompt
    on the image's edge is valid)."""
    h, w = labels.shape
    found: set[int] = set()
    for x, y in points:
        if not (0 <= x <= w and 0 <= y <= h):
            continue
        col, row = min(w - 1, int(np.floor(x))), min(h - 1, int(np.floor(y)))
        if labels[row, col] > 0:
            found.add(int(labels[row, col]))
    return found


def keep_components(mask: np.ndarray, points: Sequence[Point] = ()) -> np.ndarray:
    """Keep the components under the positive ``points``; the largest one if none is hit.

    Clicks in the background (which GrabCut may leave unmasked) fall back to the
    largest component rather than an empty mask: the annotator still sees a region.

    >>> m = np.array([[1, 0, 0, 1, 1]], dtype=bool)
    >>> keep_components(m, [(0.5, 0.5)]).astype(int)
    array([[1, 0, 0, 0, 0]])
    >>> keep_components(m).astype(int)
    array([[0, 0, 0, 1, 1]])
    """
    n, labels, areas = _components(mask)
    if n <= 2:  # empty, or a single component: nothing to choose
        return mask.astype(bool, copy=True)
    keep = _labels_at(labels, points) or {int(np.argmax(areas[1:])) + 1}
    return np.isin(labels, sorted(keep))


def clean_mask(
    mask: np.ndarray,
    points: Sequence[Point] = (),
    min_hole_area: int = 0,
    min_island_area: int = 0,
    negative: Sequence[Point] = (),
) -> np.ndarray:
    """Fill small holes, drop small islands, then keep the clicked component(s).

    ``points`` are the positive clicks in pixel-centre coordinates, ``negative`` the
    negative ones. Holes are filled first so a hole cannot split an object into two
    components; a hole under a negative click is never filled, nor a component under a
    positive click dropped as an island, however small: the annotator asked for it.
    """
    out = remove_small_regions(mask, min_hole_area, "holes", spare=negative)
    out = remove_small_regions(out, min_island_area, "islands", spare=points)
    return keep_components(out, points)
