"""A weight-free segmenter: OpenCV GrabCut seeded from the box and the clicks.

It lets samvid run offline with no SAM weights, and lets tests assert real mask
content. The pipeline per request:

1. Region of interest: the box plus a margin of background context; for clicks
   without a box, a colour-similarity region grown from the clicks on a small
   Lab overview of the image (``_click_region``), grown again from a wider sample
   if GrabCut collapses it onto the click.
2. GrabCut on the ROI downscaled to ``work_side`` pixels (full-resolution GrabCut on
   a large 720p box takes seconds); the box interior is "probably object", the
   margin is background, clicks are hard object/background disks. A negative click
   that the result still surrounds triggers a second pass in which the colour
   region grown from that click starts as background (``_unwanted``).
3. Boundary restored at full resolution by the fast guided filter: a linear colour
   model of the mask fitted at working size, applied to the full-resolution pixels
   (edge-aware upsampling); then SAM-style clean-up (``samvid.postprocess``).

Measured in bench/bench_classic.py, reported in docs/classic.md. It has no
"segment everything" mode (``supports_everything`` is False).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from samvid.models.base import Embedding, MaskPrediction, Segmenter
from samvid.postprocess import area_threshold, clean_mask
from samvid.prompts import Prompt

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in whole pixels, x1/y1 exclusive
# A ROI whose colours vary less than this (grey levels, std) is flat: no GrabCut.
FLAT_STD = 1.0
# A click-only mask under this share of its seeded region has collapsed onto the
# click; the retry grows the region from RETRY_SCALE x the estimated radius.
COLLAPSED = 0.25
RETRY_SCALE = 3.0
# A negative click never rules out more than this share of the box (or image) alone.
MAX_UNWANTED = 0.6


@dataclass(frozen=True)
class ClassicSettings:
    work_side: int = 200  # long side of the ROI while GrabCut runs
    iterations: int = 3
    margin: float = 0.15  # background context around the box, as a fraction of its size
    click_radius: float = 0.012  # hard disk around a click, fraction of the ROI's long side
    overview_side: int = 256  # long side of the image copy used to grow click regions
    guide_radius: int = 2  # guided-filter radius in working px; 0 = plain bilinear upsampling
    guide_eps: float = 1e-3
    min_region: float = 0.002  # holes/islands below this fraction of the ROI are cleaned


def _scale_to(shape: tuple[int, int], side: int) -> float:
    """Downscale factor so the long side is at most ``side`` (never upscale)."""
    return min(1.0, side / max(shape))


def _expand(box: Box, margin: float, pad: int, size: tuple[int, int]) -> Box:
    """Grow ``box`` by ``margin`` of its size plus ``pad`` px, clipped to the image (h, w)."""
    x0, y0, x1, y1 = box
    h, w = size
    dx = int(margin * (x1 - x0)) + pad
    dy = int(margin * (y1 - y0)) + pad
    return max(0, x0 - dx), max(0, y0 - dy), min(w, x1 + dx), min(h, y1 + dy)


def _box_pixels(box: tuple[float, float, float, float], size: tuple[int, int]) -> Box:
    """Pixels whose centres lie in a float box, as a whole-pixel box (at least 1x1)."""
    h, w = size
    x0, y0, x1, y1 = box
    c0 = min(w - 1, max(0, math.ceil(x0 - 0.5)))
    r0 = min(h - 1, max(0, math.ceil(y0 - 0.5)))
    c1 = max(c0 + 1, min(w, math.floor(x1 - 0.5) + 1))
    r1 = max(r0 + 1, min(h, math.floor(y1 - 0.5) + 1))
    return c0, r0, c1, r1


def _guided_coefficients(
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


def _edge_aware_upsample(
    small: np.ndarray, fg_small: np.ndarray, crop: np.ndarray, radius: int, eps: float
) -> np.ndarray:
    """Full-resolution mask of ``crop`` from a mask computed on its downscaled copy.

    The fast guided filter (He & Sun 2015): fit the linear colour model at low
    resolution, upsample its coefficients, apply them to the full-resolution
    colours. The boundary lands on the image's own colour edges, at the cost of
    a few full-resolution multiply-adds instead of a full-resolution GrabCut.
    """
    h, w = crop.shape[:2]
    a, b = _guided_coefficients(small.astype(np.float32) / 255.0, fg_small.astype(np.float32), radius, eps)
    a_full = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
    b_full = cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR)
    q = np.sum(np.asarray(a_full) * (crop.astype(np.float32) / 255.0), axis=-1) + b_full
    return np.asarray(q > 0.5)


def _disk_mask(mask: np.ndarray, centre: tuple[float, float], radius: int, value: int) -> None:
    cv2.circle(mask, (int(centre[0]), int(centre[1])), max(1, radius), value, thickness=-1)


# Two samples of one texture differ by chance by about this over sqrt(sample size)
# (Bhattacharyya distance, LAB_BINS histograms); tuned on bench/bench_classic.py.
SAMPLING_NOISE = 1.0
LAB_BINS = (6, 10, 10)  # coarse in lightness: shading should not split an object


def _lab_hist(lab: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Normalised coarse Lab histogram of the pixels under ``mask`` (uint8)."""
    hist = cv2.calcHist([lab], [0, 1, 2], mask, list(LAB_BINS), [0, 256] * 3)
    return hist / max(1.0, float(hist.sum()))


def _back_project(lab: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table`` (a per-bin value, shaped like a ``_lab_hist``) looked up at every pixel."""
    idx = [(lab[..., c].astype(np.int32) * n) >> 8 for c, n in enumerate(LAB_BINS)]
    return table[idx[0], idx[1], idx[2]].astype(np.float32)


def _object_radius(lab: np.ndarray, centre: tuple[float, float]) -> float:
    """The scale of the object under a click, in pixels of ``lab``.

    Grows a disk from the click and picks the radius where the colours just
    outside the disk differ most from those inside: a textured object's own
    colours fill the disk until it reaches the boundary. Small disks differ by
    chance (few samples in many bins), so the distance is discounted by
    ``SAMPLING_NOISE / sqrt(samples)``.
    """
    h, w = lab.shape[:2]
    best, best_r = -1.0, 0.1 * min(h, w)
    for r in np.geomspace(max(2.0, 0.03 * min(h, w)), 0.6 * min(h, w), 14):
        disk = np.zeros((h, w), np.uint8)
        ring = np.zeros((h, w), np.uint8)
        _disk_mask(disk, centre, round(r), 1)
        _disk_mask(ring, centre, round(1.5 * r), 1)
        ring[disk > 0] = 0
        n = min(int(disk.sum()), int(ring.sum()))
        if ring.sum() < 0.3 * disk.sum():  # the ring left the image: no evidence
            break
        dist = cv2.compareHist(_lab_hist(lab, disk), _lab_hist(lab, ring), cv2.HISTCMP_BHATTACHARYYA)
        score = dist - SAMPLING_NOISE / math.sqrt(max(1, n))
        if score > best:
            best, best_r = score, float(r)
    return best_r


def _grow_region(
    lab: np.ndarray,
    clicks: list[tuple[float, float]],
    others: list[tuple[float, float]],
    radii: list[float],
    contrast: np.ndarray | None = None,
    sample_scale: float = 1.0,
    threshold: float = 0.5,
) -> np.ndarray:
    """A region of the Lab overview grown from ``clicks`` by colour similarity.

    The region's colours are those of a disk of ``radii[i] * sample_scale`` around
    each click; the other side's, those of a ring out to twice the radius, of disks
    around the ``others`` clicks and of the ``contrast`` mask. Pixels more typical
    of the region (likelihood ratio above ``threshold``), smoothed so that texture
    merges into blobs and within twice the radius, form the region; the part
    connected to the clicks is kept.
    """
    h, w = lab.shape[:2]
    inside = np.zeros((h, w), np.uint8)
    outside = np.zeros((h, w), np.uint8) if contrast is None else contrast.astype(np.uint8)
    reach = np.zeros((h, w), np.uint8)
    for p, r in zip(clicks, radii, strict=True):
        _disk_mask(outside, p, round(2 * r), 1)
        _disk_mask(reach, p, round(2 * r), 1)
    for p, r in zip(clicks, radii, strict=True):
        _disk_mask(outside, p, round(1.2 * r), 0)
        _disk_mask(inside, p, max(1, round(r * sample_scale)), 1)
    other_r = max(2, round(0.02 * max(h, w)))
    for p in others:
        _disk_mask(outside, p, other_r, 1)
        _disk_mask(inside, p, other_r, 0)
    if not outside.any():
        outside[:] = 1 - inside
    fg, bg = _lab_hist(lab, inside), _lab_hist(lab, outside)
    like = _back_project(lab, (fg / (fg + bg + 1e-6)).astype(np.float32))
    like = cv2.GaussianBlur(like, (0, 0), max(1.0, min(radii) / 6))
    region = ((like > threshold) & (reach > 0)).astype(np.uint8)
    for p in clicks:
        _disk_mask(region, p, 1, 1)
    _, labels = cv2.connectedComponents(region, connectivity=4)
    keep = {int(labels[min(h - 1, int(y)), min(w - 1, int(x))]) for x, y in clicks}
    return np.isin(labels, sorted(keep - {0}))


def _click_region(
    lab: np.ndarray,
    clicks: list[tuple[float, float]],
    others: list[tuple[float, float]],
    scale: float = 1.0,
) -> np.ndarray:
    """The object under positive ``clicks`` on the Lab overview, found by colour alone:
    ``_grow_region`` at ``scale`` x the radius ``_object_radius`` estimates per click."""
    radii = [scale * _object_radius(lab, p) for p in clicks]
    return _grow_region(lab, clicks, others, radii)


class ClassicSegmenter(Segmenter):
    """GrabCut at reduced size + edge-aware upsampling; see the module docstring."""

    version = "samvid-classic-grabcut-1"
    supports_everything = False

    def __init__(self, settings: ClassicSettings | None = None) -> None:
        self.settings = settings or ClassicSettings()

    def embed(self, image: np.ndarray) -> Embedding:
        """Keep the image and a small Lab overview (reused by every click on this image)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.shape} {image.dtype}")
        h, w = image.shape[:2]
        s = _scale_to((h, w), self.settings.overview_side)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        overview = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return Embedding(
            model=self.version,
            image_size=(h, w),
            tensors={
                "image": np.ascontiguousarray(image),
                "overview_lab": cv2.cvtColor(overview, cv2.COLOR_RGB2LAB),
            },
        )

    def segment(self, embedding: Embedding, prompt: Prompt) -> MaskPrediction:
        h, w = embedding.image_size
        prompt.validate_inside(w, h)
        prompt = prompt.clipped(w, h)
        positives = prompt.positive_points
        negatives = [p for p, lab in zip(prompt.points, prompt.labels, strict=True) if lab == 0]

        if prompt.box is None and _is_flat(embedding.tensors["overview_lab"]):
            # One colour everywhere: a click cannot tell object from background.
            return MaskPrediction(mask=np.zeros((h, w), bool), score=0.0)
        mask, score, seed_area = self._segment(embedding, prompt.box, positives, negatives)
        if prompt.box is None and mask.sum() < COLLAPSED * seed_area:
            # The colour region stopped at one stripe or spot of a textured object
            # and GrabCut shrank to the click: grow from a wider sample instead.
            log.debug("click region collapsed; retrying at %gx its scale", RETRY_SCALE)
            mask, score, _ = self._segment(embedding, None, positives, negatives, RETRY_SCALE)
        return MaskPrediction(mask=mask, score=score)

    def _segment(
        self,
        embedding: Embedding,
        box: tuple[float, float, float, float] | None,
        positives: list[tuple[float, float]],
        negatives: list[tuple[float, float]],
        scale: float = 1.0,
    ) -> tuple[np.ndarray, float, int]:
        """(mask, score, pixels of the seeded region) for one box or click-region scale."""
        image = embedding.tensors["image"]
        h, w = embedding.image_size
        if box is not None:
            inner = _box_pixels(box, (h, w))
            seed = None
            seed_area = (inner[2] - inner[0]) * (inner[3] - inner[1])
        else:
            inner, seed = self._region_from_clicks(embedding, positives, negatives, scale)
            seed_area = round(int(seed.sum()) * (w / seed.shape[1]) * (h / seed.shape[0]))
        roi = _expand(self._cover_points(inner, positives, (h, w)), self.settings.margin, 4, (h, w))
        args = (image, roi, inner, seed)
        mask_roi, score = self._grabcut_roi(*args, [], positives, negatives)
        x0, y0, x1, y1 = roi
        # A negative click that the mask still surrounds means "not this part": the
        # colour region grown from it starts as background in a second pass, so one
        # click removes a whole part, not a dot. A click on the background or at
        # the boundary has done its work as a hard background pixel already.
        inside = [p for p in negatives if _surrounded(mask_roi, (p[0] - x0, p[1] - y0))]
        if inside:
            unwanted = [self._unwanted(embedding, p, positives, box) for p in inside]
            mask_roi, score = self._grabcut_roi(*args, unwanted, positives, negatives)

        local = [(x - x0, y - y0) for x, y in positives]
        min_area = area_threshold(mask_roi.shape, self.settings.min_region)
        mask_roi = clean_mask(mask_roi, local, min_area, min_area)
        mask = np.zeros((h, w), bool)
        mask[y0:y1, x0:x1] = mask_roi
        return mask, score, seed_area

    @staticmethod
    def _cover_points(box: Box, points: list[tuple[float, float]], size: tuple[int, int]) -> Box:
        """Grow the box to contain every positive click (a click outside the box is object)."""
        x0, y0, x1, y1 = box
        for x, y in points:
            x0, y0 = min(x0, int(x)), min(y0, int(y))
            x1, y1 = max(x1, int(x) + 1), max(y1, int(y) + 1)
        h, w = size
        return max(0, x0), max(0, y0), min(w, x1), min(h, y1)

    def _region_from_clicks(
        self,
        embedding: Embedding,
        positives: list[tuple[float, float]],
        negatives: list[tuple[float, float]],
        scale: float = 1.0,
    ) -> tuple[Box, np.ndarray]:
        """The box around the colour region grown from the clicks, and the region itself."""
        region = self._grow(embedding, positives, negatives, scale)
        h, w = embedding.image_size
        s = region.shape[1] / w
        ys, xs = np.nonzero(region)
        # Floor of a few overview pixels: a click on a tiny blob still gets context.
        pad = 3
        box = (
            max(0, int((xs.min() - pad) / s)),
            max(0, int((ys.min() - pad) / s)),
            min(w, math.ceil((xs.max() + 1 + pad) / s)),
            min(h, math.ceil((ys.max() + 1 + pad) / s)),
        )
        return box, region

    @staticmethod
    def _grow(
        embedding: Embedding,
        positives: list[tuple[float, float]],
        negatives: list[tuple[float, float]],
        scale: float = 1.0,
    ) -> np.ndarray:
        """``_click_region`` on the overview, for clicks in original-image pixels."""
        lab = embedding.tensors["overview_lab"]
        s = lab.shape[1] / embedding.image_size[1]
        return _click_region(
            lab,
            [(x * s, y * s) for x, y in positives],
            [(x * s, y * s) for x, y in negatives],
            scale,
        )

    @staticmethod
    def _unwanted(
        embedding: Embedding,
        click: tuple[float, float],
        positives: list[tuple[float, float]],
        box: tuple[float, float, float, float] | None,
    ) -> np.ndarray:
        """The overview region a negative click rules out: stuff coloured like the click.

        Its colours are sampled close to the click only (a wide disk next to the
        object would take in the object's colours too) and contrasted with the
        positive clicks and with the box interior away from the click's own part
        (sized by ``_object_radius``), so only what looks unlike the rest goes.
        """
        lab = embedding.tensors["overview_lab"]
        h, w = lab.shape[:2]
        s = w / embedding.image_size[1]
        centre = (click[0] * s, click[1] * s)
        radius = _object_radius(lab, centre)
        contrast = np.zeros((h, w), np.uint8)
        if box is not None:
            x0, y0, x1, y1 = (round(v * s) for v in box)
            contrast[y0:y1, x0:x1] = 1
            _disk_mask(contrast, centre, round(radius), 0)
        region = _grow_region(
            lab,
            [centre],
            [(x * s, y * s) for x, y in positives],
            [radius],
            contrast,
            # A click beside the object finds its radius at about the distance to the
            # object: half of it samples the click's own stuff only. The threshold is
            # stricter than for positive clicks, as removing the object is worse
            # than leaving a stray bit.
            sample_scale=0.5,
            threshold=0.7,
        )
        box_area = (y1 - y0) * (x1 - x0) if box is not None else h * w
        if region.sum() > MAX_UNWANTED * max(1, box_area):
            log.debug("negative-click region covers most of the box; using the click alone")
            return np.zeros_like(region)
        return region

    def _grabcut_roi(
        self,
        image: np.ndarray,
        roi: Box,
        inner: Box,
        seed: np.ndarray | None,
        unwanted: list[np.ndarray],
        positives: list[tuple[float, float]],
        negatives: list[tuple[float, float]],
    ) -> tuple[np.ndarray, float]:
        """GrabCut on the downscaled ROI; returns the full-resolution ROI mask and a score.

        ``seed`` (probably object) and ``unwanted`` (probably background) are masks on
        the overview; ``inner`` is the box, ``roi`` the box with its context margin.
        """
        cfg = self.settings
        x0, y0, x1, y1 = roi
        crop = image[y0:y1, x0:x1]
        s = _scale_to((crop.shape[0], crop.shape[1]), cfg.work_side)
        sw, sh = max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))
        small = cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_AREA)
        sx, sy = sw / crop.shape[1], sh / crop.shape[0]

        gc = np.full((sh, sw), cv2.GC_BGD, np.uint8)
        ix0, iy0, ix1, iy1 = inner
        r0, r1 = int((iy0 - y0) * sy), max(int((iy0 - y0) * sy) + 1, round((iy1 - y0) * sy))
        c0, c1 = int((ix0 - x0) * sx), max(int((ix0 - x0) * sx) + 1, round((ix1 - x0) * sx))
        if seed is None:
            gc[r0:r1, c0:c1] = cv2.GC_PR_FGD
        else:
            gc[r0:r1, c0:c1] = cv2.GC_PR_BGD
            gc[_overview_to_roi(seed, image.shape[:2], roi, (sh, sw)) & (gc == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD
        for region in unwanted:
            gc[_overview_to_roi(region, image.shape[:2], roi, (sh, sw)) & (gc != cv2.GC_BGD)] = cv2.GC_PR_BGD
        if not (gc == cv2.GC_BGD).any():
            # The box covers the whole ROI (e.g. the whole image): GrabCut needs
            # background samples, so the box's outer ring is "probably background".
            gc[[0, -1], :] = cv2.GC_PR_BGD
            gc[:, [0, -1]] = cv2.GC_PR_BGD
        radius = max(1, round(cfg.click_radius * max(sw, sh)))
        for p in negatives:
            _disk_mask(gc, ((p[0] - x0) * sx, (p[1] - y0) * sy), radius, cv2.GC_BGD)
        for p in positives:
            _disk_mask(gc, ((p[0] - x0) * sx, (p[1] - y0) * sy), radius, cv2.GC_FGD)

        prior = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD))
        if min(np.count_nonzero(prior), np.count_nonzero(~prior)) < 10:
            log.debug("ROI too small for GrabCut; returning the seeded region")
        elif _is_flat(small):
            # Nothing to separate, and GrabCut's k-means crawls on identical colours.
            log.debug("ROI has one flat colour; returning the seeded region")
        else:
            try:
                bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
                # GrabCut seeds its k-means from OpenCV's thread-local RNG: reseed so
                # the same prompt always gives the same mask (tests, caches, undo).
                cv2.setRNGSeed(0)
                cv2.grabCut(small, gc, (0, 0, 0, 0), bgd, fgd, cfg.iterations, cv2.GC_INIT_WITH_MASK)
            except cv2.error as exc:  # degenerate colours (e.g. a uniform image)
                log.warning("GrabCut failed (%s); returning the seeded region", exc)
        fg_small = np.isin(gc, (cv2.GC_FGD, cv2.GC_PR_FGD))
        score = _separation(small, fg_small)
        return self._upsample(small, fg_small, crop), score

    def _upsample(self, small: np.ndarray, fg_small: np.ndarray, crop: np.ndarray) -> np.ndarray:
        """Full-resolution ROI mask from the low-resolution one, snapped to colour edges."""
        h, w = crop.shape[:2]
        if small.shape[:2] == (h, w) or not self.settings.guide_radius:
            soft = cv2.resize(fg_small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
            return soft > 0.5
        return _edge_aware_upsample(
            small, fg_small, crop, self.settings.guide_radius, self.settings.guide_eps
        )


def _is_flat(image: np.ndarray) -> bool:
    """Whether an (H, W, 3) image is one colour, up to ``FLAT_STD`` levels of noise."""
    return float(image.reshape(-1, 3).std(axis=0).max()) < FLAT_STD


def _surrounded(mask: np.ndarray, point: tuple[float, float], share: float = 0.8) -> bool:
    """Whether a ring around ``point`` (3-8% of the mask's long side) is nearly all mask."""
    ring = np.zeros(mask.shape, np.uint8)
    side = max(mask.shape)
    _disk_mask(ring, point, max(2, round(0.08 * side)), 1)
    _disk_mask(ring, point, max(1, round(0.03 * side)), 0)
    ring_px = ring > 0
    return bool(ring_px.any() and mask[ring_px].mean() > share)


def _overview_to_roi(
    region: np.ndarray, image_size: tuple[int, int], roi: Box, out_size: tuple[int, int]
) -> np.ndarray:
    """The part of an overview-sized mask under ``roi`` (full-res box), resized to (h, w)."""
    s = region.shape[1] / image_size[1]
    x0, y0, x1, y1 = roi
    # Sample the overview at the centre of each output pixel (nearest neighbour).
    ys = ((y0 + (np.arange(out_size[0]) + 0.5) * (y1 - y0) / out_size[0]) * s).astype(int)
    xs = ((x0 + (np.arange(out_size[1]) + 0.5) * (x1 - x0) / out_size[1]) * s).astype(int)
    ys = np.clip(ys, 0, region.shape[0] - 1)
    xs = np.clip(xs, 0, region.shape[1] - 1)
    return region[np.ix_(ys, xs)]


def _separation(small: np.ndarray, fg: np.ndarray) -> float:
    """How distinct the object's colours are from the background's, in [0, 1].

    GrabCut has no learned quality estimate; the Bhattacharyya distance between
    the colour histograms of the two sides is an honest stand-in (0 = same colours).
    """
    if fg.all() or not fg.any():
        return 0.0
    hist = [cv2.calcHist([small], [0, 1, 2], m.astype(np.uint8), [8, 8, 8], [0, 256] * 3) for m in (fg, ~fg)]
    return float(cv2.compareHist(hist[0], hist[1], cv2.HISTCMP_BHATTACHARYYA))
