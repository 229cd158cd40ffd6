"""Image operations of the classic segmenter (``samvid.models.classic``).

Pure functions on NumPy arrays: box geometry, one deterministic GrabCut call,
the fast guided filter that carries a working-size mask back to full resolution,
and the colour-separation score.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from samvid.models.grabcut import CutCache
from samvid.models.grabcut import grabcut as own_grabcut

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in whole pixels, x1/y1 exclusive
Point = tuple[float, float]
# A crop whose colours vary less than this (grey levels, std) is flat: no GrabCut.
FLAT_STD = 1.0
# A cut that keeps no more than this many times its clicks' disks has found nothing.
COLLAPSED = 4.0
# A speck (``speck_at``) lies on ground plainer than this (RGB levels, std about a
# plane) and differs from it visibly: by at least this (the RGB distance), and 10 times
# the ground's noise. A lower bar (8) took a blemish of 8 levels on a white floor, that
# no annotator sees, for the object clicked (7 px instead of the floor).
PLAIN_STD = 4.0
SPECK_CONTRAST = 30.0
# A box of a few pixels drawn around a mark says where it is: a faint one is meant too.
BOX_MARK_CONTRAST = 8.0
# GrabCut needs this many pixels on each side to fit colour models to.
MIN_SIDE = 10


def scale_to(shape: tuple[int, int], side: int) -> float:
    """Downscale factor so the long side is at most ``side`` (never upscale)."""
    return min(1.0, side / max(shape))


def expand(box: Box, margin: float, pad: int, size: tuple[int, int]) -> Box:
    """Grow ``box`` by ``margin`` of its size plus ``pad`` px, clipped to the image (h, w)."""
    x0, y0, x1, y1 = box
    h, w = size
    dx = int(margin * (x1 - x0)) + pad
    dy = int(margin * (y1 - y0)) + pad
    return max(0, x0 - dx), max(0, y0 - dy), min(w, x1 + dx), min(h, y1 + dy)


def box_pixels(box: tuple[float, float, float, float], size: tuple[int, int]) -> Box:
    """Pixels whose centres lie in a float box, as a whole-pixel box (at least 1x1)."""
    h, w = size
    x0, y0, x1, y1 = box
    c0 = min(w - 1, max(0, math.ceil(x0 - 0.5)))
    r0 = min(h - 1, max(0, math.ceil(y0 - 0.5)))
    c1 = max(c0 + 1, min(w, math.floor(x1 - 0.5) + 1))
    r1 = max(r0 + 1, min(h, math.floor(y1 - 0.5) + 1))
    return c0, r0, c1, r1


def cover_points(box: Box, points: list[Point], size: tuple[int, int]) -> Box:
    """Grow the box to contain every point."""
    x0, y0, x1, y1 = box
    for x, y in points:
        x0, y0 = min(x0, int(x)), min(y0, int(y))
        x1, y1 = max(x1, int(x) + 1), max(y1, int(y) + 1)
    h, w = size
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def disk(mask: np.ndarray, centre: Point, radius: float, value: int) -> None:
    cv2.circle(mask, (int(centre[0]), int(centre[1])), max(1, round(radius)), value, thickness=-1)


def work_copy(image: np.ndarray, roi: Box, side: int) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """(the ROI downscaled to ``side``, the full-resolution crop, (x, y) scale factors)."""
    x0, y0, x1, y1 = roi
    crop = image[y0:y1, x0:x1]
    s = scale_to((crop.shape[0], crop.shape[1]), side)
    sw, sh = max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))
    small = cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_AREA)
    return small, crop, (sw / crop.shape[1], sh / crop.shape[0])


def box_labels(shape: tuple[int, int], box: Box, roi: Box, scale: tuple[float, float]) -> tuple[np.ndarray, Box]:
    """GrabCut's starting labels for ``box`` (image px) in ``roi`` brought to ``shape`` by
    ``scale`` (x, y): the box probably object, the rest background. Also the box in
    working px (x0, y0, x1, y1), at least one pixel each way."""
    sx, sy = scale
    c0, r0 = int((box[0] - roi[0]) * sx), int((box[1] - roi[1]) * sy)
    c1, r1 = max(c0 + 1, round((box[2] - roi[0]) * sx)), max(r0 + 1, round((box[3] - roi[1]) * sy))
    gc = np.full(shape, cv2.GC_BGD, np.uint8)
    gc[r0:r1, c0:c1] = cv2.GC_PR_FGD
    if not (gc == cv2.GC_BGD).any():
        # The box covers the whole ROI (e.g. the whole image): GrabCut needs
        # background samples, so the ROI's outer ring is "probably background".
        gc[[0, -1], :] = cv2.GC_PR_BGD
        gc[:, [0, -1]] = cv2.GC_PR_BGD
    return gc, (c0, r0, c1, r1)


def collapsed_area(radius: float, clicks: int = 1) -> float:
    """The most pixels a cut keeps that found nothing beyond its ``clicks`` hard disks of
    ``radius``: at full resolution for a radius given there (working px / scale)."""
    return COLLAPSED * clicks * np.pi * radius**2


def found_nothing(fg: np.ndarray, clicks: int, radius: float) -> bool:
    """Whether a cut kept no more than its ``clicks`` hard disks of ``radius`` (working px)."""
    return np.count_nonzero(fg) <= collapsed_area(radius, clicks)



def is_flat(image: np.ndarray) -> bool:
    """Whether an (H, W, 3) image is one colour, up to ``FLAT_STD`` levels of noise."""
    return bool(image.size) and float(image.reshape(-1, 3).std(axis=0).max()) < FLAT_STD


def speck_at(image: np.ndarray, click: Point, half: int, max_area: float) -> tuple[np.ndarray, Box] | None:
    """The object under ``click`` at full resolution when it is a speck on plain ground:
    the pixels joined to the click that are nearer its colour than the ground's, where
    the ground, a plane of colour over a square of half-side ``half`` px about the click,
    varies by under ``PLAIN_STD`` around it, the click's colour differs from it by
    ``SPECK_CONTRAST`` or more, and they lie inside that square (an image
    edge may bound them) in at most ``max_area`` px: as a mask of that square, and the
    square (x0, y0, x1, y1). None otherwise. A speck vanishes in
    a downscaled working copy, and a cut there returns the ground or nothing."""
    h, w = image.shape[:2]
    col, row = min(w - 1, int(click[0])), min(h - 1, int(click[1]))
    x0, y0, x1, y1 = max(0, col - half), max(0, row - half), min(w, col + half + 1), min(h, row + half + 1)
    crop = image[y0:y1, x0:x1].reshape(-1, 3).astype(np.float64)
    ch, cw = y1 - y0, x1 - x0
    colour = crop[(row - y0) * cw + (col - x0)]
    ys, xs = np.divmod(np.arange(ch * cw), cw)
    design = np.stack([xs, ys, np.ones_like(xs)], axis=1).astype(np.float64)
    ground = np.broadcast_to(np.median(crop, axis=0), crop.shape)
    region = np.zeros((ch, cw), bool)
    for _ in range(2):  # the ground's first guess is its median; then a plane fit around the speck
        near = np.linalg.norm(crop - colour, axis=1) < np.linalg.norm(crop - ground, axis=1)
        region = component_at(near.reshape(ch, cw), [(col - x0 + 0.5, row - y0 + 0.5)])
        around = ~cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8)).ravel().astype(bool)
        if np.count_nonzero(around) < 3:
            return None
        coef, *_ = np.linalg.lstsq(design[around], crop[around], rcond=None)
        ground = design @ coef
    noise = float((crop - ground)[around].std(axis=0).max())
    contrast = float(np.linalg.norm(colour - ground[(row - y0) * cw + (col - x0)]))
    cut_off = (  # by the square's side, not by the image's edge
        (region[:, 0].any() and x0 > 0) or (region[:, -1].any() and x1 < w)
        or (region[0].any() and y0 > 0) or (region[-1].any() and y1 < h)
    )
    if cut_off or noise > PLAIN_STD or contrast < max(SPECK_CONTRAST, 10 * noise):
        return None
    if np.count_nonzero(region) > max_area:
        return None
    return region, (x0, y0, x1, y1)


def few_pixels_object(image: np.ndarray, box: Box) -> np.ndarray | None:
    """The object in a ``box`` of too few pixels for GrabCut: its pixels nearer the colour
    that differs most from the ground (the median of the ring of pixels around the box)
    than the ground's, as a mask of the box; None where no pixel differs from the ground
    by ``BOX_MARK_CONTRAST`` or no ring is left around the box."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    rx0, ry0, rx1, ry1 = expand(box, 0.0, 1, (h, w))
    ring = np.ones((ry1 - ry0, rx1 - rx0), bool)
    ring[y0 - ry0 : y1 - ry0, x0 - rx0 : x1 - rx0] = False
    if not ring.any():
        return None
    ground = np.median(image[ry0:ry1, rx0:rx1][ring].astype(np.float64), axis=0)
    inside = image[y0:y1, x0:x1].astype(np.float64)
    far = np.linalg.norm(inside - ground, axis=-1)
    if far.max() < BOX_MARK_CONTRAST:
        return None
    colour = inside[np.unravel_index(int(np.argmax(far)), far.shape)]
    return np.asarray(np.linalg.norm(inside - colour, axis=-1) < far)


def grabcut(
    image: np.ndarray, gc: np.ndarray, iterations: int, start: np.ndarray | None = None,
    spaces: tuple[str, ...] = ("rgb",), cache: CutCache | None = None,
) -> np.ndarray:
    """GrabCut on ``image`` from the label map ``gc`` (cv2.GC_*); returns the object mask.

    samvid's own GrabCut (``samvid.models.grabcut``: OpenCV's, with a weaker edge
    term for working-size crops), its object's first colour model fit to ``start``
    (default: every pixel labelled object), its colours modelled in each of ``spaces``,
    sharing work with other cuts of ``image`` through ``cache``. Deterministic. Without
    samples of both sides, or on one flat colour, the labels are returned as given.
    """
    prior = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD))
    if min(np.count_nonzero(prior), np.count_nonzero(~prior)) < MIN_SIDE or is_flat(image):
        return prior
    hard = np.isin(gc, (cv2.GC_FGD, cv2.GC_BGD))
    return own_grabcut(image, prior, hard, iterations, start=start, spaces=spaces, cache=cache)


def central_ellipse(box: Box, shape: tuple[int, int], share: float) -> np.ndarray:
    """The ellipse inscribed in ``box`` (x0, y0, x1, y1), its axes scaled by ``share``
    about the box's centre, as a mask of ``shape`` (h, w)."""
    x0, y0, x1, y1 = box
    mask = np.zeros(shape, np.uint8)
    centre = ((x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2)
    cv2.ellipse(mask, (centre, (share * (x1 - x0), share * (y1 - y0)), 0.0), 1, thickness=-1)
    return mask > 0


def guided_coefficients(
    guide: np.ndarray, src: np.ndarray, radius: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """He et al.'s colour guided filter as a local linear model ``src ~ a . guide + b``.

    ``guide`` is float32 (H, W, 3) in [0, 1], ``src`` float32 (H, W). Returns the
    box-averaged ``a`` (H, W, 3) and ``b`` (H, W).
    """
    k = (2 * radius + 1, 2 * radius + 1)

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)

    mean_i = mean(guide)
    mean_p = mean(src)
    cov_ip = mean(guide * src[..., None]) - mean_i * mean_p[..., None]
    sigma = np.empty(src.shape + (3, 3), np.float32)
    for i in range(3):
        for j in range(i, 3):
            v = mean(guide[..., i] * guide[..., j]) - mean_i[..., i] * mean_i[..., j]
            sigma[..., i, j] = sigma[..., j, i] = v
    sigma += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(sigma, cov_ip[..., None])[..., 0]
    b = mean_p - np.einsum("...c,...c->...", a, mean_i)
    return mean(a), mean(b)


def upsample(small: np.ndarray, fg_small: np.ndarray, crop: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Full-resolution mask of ``crop`` from a mask computed on its downscaled copy ``small``.

    The fast guided filter (He & Sun 2015): fit the linear colour model at low
    resolution, upsample its coefficients, apply them to the full-resolution
    colours, so the boundary lands on the image's own colour edges.
    """
    h, w = crop.shape[:2]
    if small.shape[:2] == (h, w) or not radius:
        soft = cv2.resize(fg_small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        return np.asarray(soft > 0.5)
    a, b = guided_coefficients(small.astype(np.float32) / 255.0, fg_small.astype(np.float32), radius, eps)
    a_full = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
    b_full = cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR)
    q = np.sum(np.asarray(a_full) * (crop.astype(np.float32) / 255.0), axis=-1) + b_full
    return np.asarray(q > 0.5)


def separation(small: np.ndarray, fg: np.ndarray) -> float:
    """How distinct the object's colours are from the background's, in [0, 1].

    GrabCut has no learned quality estimate; the Bhattacharyya distance between
    the colour histograms of the two sides is an honest stand-in (0 = same colours).
    """
    if fg.all() or not fg.any():
        return 0.0
    hist = [cv2.calcHist([small], [0, 1, 2], m.astype(np.uint8), [8, 8, 8], [0, 256] * 3) for m in (fg, ~fg)]
    return float(cv2.compareHist(hist[0], hist[1], cv2.HISTCMP_BHATTACHARYYA))


def component_at(mask: np.ndarray, points: list[Point]) -> np.ndarray:
    """The 8-connected components of ``mask`` under ``points`` (pixel-centre coordinates)."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    h, w = mask.shape
    keep = {int(labels[min(h - 1, max(0, int(y))), min(w - 1, max(0, int(x)))]) for x, y in points}
    keep.discard(0)
    return np.isin(labels, sorted(keep)) if keep else np.zeros_like(mask, bool)


def innermost(mask: np.ndarray, mask_size: int = cv2.DIST_MASK_3) -> Point:
    """The pixel centre of ``mask`` farthest from its boundary (the image border counts);
    ``mask_size`` is OpenCV's distance approximation (3, 5 or DIST_MASK_PRECISE)."""
    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, mask_size)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return x + 0.5, y + 0.5


def tightness_seeds(
    crop: np.ndarray, inside: np.ndarray, background: np.ndarray, gap: float, strip: float, bins: int = 16
) -> list[Point]:
    """Where a mask should reach the sides of a tight box but does not.

    An annotator's box touches the object on all four sides (the bounding-box prior
    of Lempitsky et al., 2009). For each side of ``crop`` (the box's pixels) that the
    mask ``inside`` falls short of by more than ``gap`` of the box's size, the pixel
    in a strip of ``strip`` of the box along that side whose colour is likeliest
    object against ``background`` ((N, 3) colours around the mask), if its colour is
    more typical of the object than of the background. Box-local pixel centres.
    """
    h, w = inside.shape
    if not inside.any() or not len(background):
        return []
    rows = np.flatnonzero(inside.any(axis=1))
    cols = np.flatnonzero(inside.any(axis=0))
    sx, sy = max(1, round(strip * w)), max(1, round(strip * h))
    strips = [  # (the strip along a side, how much of the box the mask leaves before it)
        ((slice(None), slice(0, sx)), cols[0] / w),
        ((slice(None), slice(w - sx, w)), (w - 1 - cols[-1]) / w),
        ((slice(0, sy), slice(None)), rows[0] / h),
        ((slice(h - sy, h), slice(None)), (h - 1 - rows[-1]) / h),
    ]
    short = [where for where, missing in strips if missing > gap]
    if not short:
        return []

    def codes(colours: np.ndarray) -> np.ndarray:
        q = colours.astype(np.int32) * bins >> 8
        return np.asarray((q[..., 0] * bins + q[..., 1]) * bins + q[..., 2])

    n = bins**3
    crop_codes = codes(crop)
    obj = np.bincount(crop_codes[inside], minlength=n) + 1.0
    bg = np.bincount(codes(background), minlength=n) + 1.0
    ratio = (obj / obj.sum())[crop_codes] / (bg / bg.sum())[crop_codes]
    seeds: list[Point] = []
    for where in short:
        candidates = np.full((h, w), -1.0)
        candidates[where] = ratio[where]
        y, x = np.unravel_index(int(np.argmax(candidates)), (h, w))
        if candidates[y, x] > 1.0:
            seeds.append((x + 0.5, y + 0.5))
    return seeds
