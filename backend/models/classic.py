"""A weight-free segmenter: GrabCut seeded from the box and the clicks.

It lets samvid run offline with no SAM weights, and lets tests assert real mask
content. A prompt is read as an annotator builds it, in order:

1. **The first mask.** From a box: GrabCut on the box plus a margin of context,
   at ``work_side`` pixels (the box interior is "probably object", its middle
   teaching GrabCut the object's colours (``_middle``) in three colour spaces at
   once, unless the cut then takes nearly the whole box (``_first_cut``); the
   margin background);
   the box is read as tight, so a side the mask stops short of gets
   a seed and the box is cut again (``_tighten``). From a click without a box:
   the object's extent is unknown, so GrabCut probes square boxes of growing
   size centred on the click at a small size (``samvid.models.extent``); the bounding
   box of the squares' object that stands out most from its surroundings (spectral
   residual saliency, ``samvid.models.saliency``) then serves as the box, cut at
   ``click_side`` in the box's colour spaces. A click on a speck of plain ground,
   which those downscaled copies lose, gives the speck as it is at full resolution
   (``_speck``).
2. **Every further click is a local edit** (``samvid.models.edit``): a click where
   the mask already agrees changes nothing; otherwise the wrongly labelled region
   under the click, within reach of it, is re-cut by GrabCut with everything else
   held fixed and every earlier click kept. A positive click only adds, a negative
   click only removes. A positive click inside a box adds instead what a new tight
   cut of the box adds next to it (``_grow_in_box``).
3. Boundaries come back to full resolution through the fast guided filter (a
   linear colour model of the mask fitted at working size, applied to the
   full-resolution pixels), then SAM-style clean-up (``samvid.postprocess``).

A box never comes back empty: when GrabCut finds nothing in it, the region
around the box's centre is cut instead, and failing that the box itself is
returned, each with a low score. Results of each click prefix are cached per
image, so an annotator's n-th click costs one edit, not n.

Measured in bench/bench_classic.py, reported in docs/classic.md. It has no
"segment everything" mode (``supports_everything`` is False).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from samvid.core.prompts import Prompt
from samvid.core.segmenter import Embedding, MaskPrediction, Segmenter, rgb8
from samvid.models.classic_ops import (
    MIN_SIDE,
    Box,
    Point,
    box_labels,
    box_pixels,
    central_ellipse,
    collapsed_area,
    component_at,
    cover_points,
    disk,
    expand,
    few_pixels_object,
    found_nothing,
    grabcut,
    innermost,
    is_flat,
    scale_to,
    separation,
    speck_at,
    tightness_seeds,
    upsample,
    work_copy,
)
from samvid.models.edit import Click, clicks_guard, local_edit
from samvid.models.extent import object_box, speck_area
from samvid.models.grabcut import CutCache
from samvid.postprocess import area_threshold, clean_mask

log = logging.getLogger(__name__)

# A mask found only by a fallback (GrabCut found nothing in the box) scores at most this.
FALLBACK_SCORE = 0.05
# ... unless that region is under this share of the box: then the box itself, scored 0.
FALLBACK_MIN = 0.02
CACHE_SIZE = 64  # click-prefix results kept per segmenter (packed bits: ~115 kB each at 720p)


@dataclass(frozen=True)
class ClassicSettings:
    work_side: int = 260  # long side of the region of interest while GrabCut runs
    iterations: int = 2  # 3 was no better on real frames (docs/lab/classic.md) and a third slower
    margin: float = 0.15  # background context around the box, as a fraction of its size
    # A box is read as tight: a side the mask misses by more than ``tight_gap`` of the
    # box gets a seed in a strip of ``tight_strip`` along it (see ``tightness_seeds``).
    # None reads a box as a loose region of interest.
    tight_gap: float | None = 0.03
    tight_strip: float = 0.03
    tight_iterations: int = 1  # of the second cut: one keeps a large 720p box under 400 ms
    # A box's object colours are first learnt from the ellipse inscribed in it, its axes
    # scaled by this about the box's centre (``_middle``), until a click says where the
    # object is; None: from the whole box.
    object_middle: float | None = 0.7
    # ... in each of these colour spaces at once (see grabcut.py) ...
    box_colours: tuple[str, ...] = ("rgb", "lab", "ycrcb")
    # ... and where a cut so learnt keeps more than this share of the box, the box is cut
    # again learning from its whole inside (``_first_cut``).
    box_full: float = 0.9
    # A positive click inside a box adds what a new cut of the box adds next to it, and
    # elsewhere only the new cut's outline within this fraction of the box's long side
    # of the mask (``_grow_in_box``).
    grow_outline: float = 0.01
    click_radius: float = 0.012  # hard disk around a click, fraction of the ROI's long side
    overview_side: int = 256  # long side of the copy used to test for a flat image
    guide_radius: int = 2  # guided-filter radius in working px; 0 = plain bilinear upsampling
    guide_eps: float = 1e-3
    min_region: float = 0.002  # holes/islands below this fraction of the ROI are cleaned
    # Click without a box: probe squares of these half-sides (fractions of sqrt(image
    # area)) at ``probe_side`` px; the object that stands out most from a ring around
    # it, ``probe_ring`` times its side wide, gives the extent (``extent.py``).
    probe_sizes: tuple[float, ...] = (0.05, 0.075, 0.11, 0.16, 0.24, 0.36, 0.5)
    probe_side: int = 96
    probe_ring: float = 0.5
    probe_pad: float = 0.1  # the probed mask's box grows by this before the final cut
    # ... which runs at this long side, its colours in ``box_colours``: three spaces at
    # 200 px cost what one did at ``work_side`` and gained on every set (docs/lab/classic.md).
    click_side: int = 200
    # A corrective click re-cuts the wrong region within ``edit_reach`` x its distance
    # to the nearest pixel already of its label; a disk of ``edit_core`` x that
    # distance around it takes its label outright.
    edit_reach: float = 3.0
    edit_core: float = 0.4
    edit_side: int = 160
    edit_tolerance: float = 6.0  # Lab levels added to the click colour's spread
    edit_leak: float = 0.3  # an edit covering more of the rim of its reach has leaked


class ClassicSegmenter(Segmenter):
    """GrabCut at reduced size + edge-aware upsampling; see the module docstring."""

    version = "samvid-classic-grabcut-11"
    supports_everything = False

    def __init__(self, settings: ClassicSettings | None = None) -> None:
        self.settings = settings or ClassicSettings()
        self._cache: OrderedDict[tuple[object, ...], tuple[np.ndarray, float]] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, image: np.ndarray) -> Embedding:
        """Keep the image, a small copy of it and a digest (the key of the click cache)."""
        image = rgb8(image)
        h, w = image.shape[:2]
        s = scale_to((h, w), self.settings.overview_side)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        digest = hashlib.blake2b(image.data, digest_size=16).digest()
        return Embedding(
            model=self.version,
            image_size=(h, w),
            tensors={
                "image": image,
                "overview": cv2.resize(image, size, interpolation=cv2.INTER_AREA),
                "digest": np.frombuffer(digest, np.uint8).copy(),
            },
        )

    def segment(self, embedding: Embedding, prompt: Prompt) -> MaskPrediction:
        h, w = embedding.image_size
        prompt.validate_inside(w, h)
        prompt = prompt.clipped(w, h)
        image = embedding.tensors["image"]
        # A click on the right or bottom edge (x == w, where percent coordinates round to)
        # is on the last pixel: at its centre, its hard disk is not drawn off the working
        # copy, where GrabCut lost it and a click on the bottom edge gave a square.
        clicks: list[Click] = [
            ((min(float(x), w - 0.5), min(float(y), h - 0.5)), int(lab))
            for (x, y), lab in zip(prompt.points, prompt.labels, strict=True)
        ]
        flat = prompt.box is None and is_flat(embedding.tensors["overview"])
        if prompt.box is None:
            if flat and not any(lab and self._speck(image, p, flat) for p, lab in clicks):
                # One colour everywhere but for specks, none clicked: a click cannot tell
                # object from background.
                return MaskPrediction(mask=np.zeros((h, w), bool), score=0.0)
            first = next(i for i, (_, lab) in enumerate(clicks) if lab == 1)
            clicks.insert(0, clicks.pop(first))  # the first positive click finds the object

        digest = bytes(embedding.tensors["digest"]) if "digest" in embedding.tensors else None
        base_key = (digest, (h, w), prompt.box)
        done, mask, score = self._cached_prefix(base_key, clicks, (h, w)) if digest else (0, None, 0.0)
        if mask is None:
            if prompt.box is not None:
                mask, score = self._box_mask(image, prompt.box)
            else:
                mask, score = self._click_mask(image, clicks[0][0], flat)
                done = 1
            self._remember(base_key, clicks[:done], mask, score, digest)
        for k in range(done, len(clicks)):
            mask = self._edit(image, mask, clicks[k], clicks[:k], prompt.box, flat)
            self._remember(base_key, clicks[: k + 1], mask, score, digest)
        return MaskPrediction(mask=mask.copy(), score=score)

    # -- cache of click prefixes -------------------------------------------------

    def _cached_prefix(
        self, base_key: tuple[object, ...], clicks: list[Click], size: tuple[int, int]
    ) -> tuple[int, np.ndarray | None, float]:
        with self._lock:
            for k in range(len(clicks), -1, -1):
                hit = self._cache.get(base_key + (tuple(clicks[:k]),))
                if hit is not None:
                    self._cache.move_to_end(base_key + (tuple(clicks[:k]),))
                    bits, score = hit
                    h, w = size
                    return k, np.unpackbits(bits, count=h * w).reshape(h, w).astype(bool), score
        return 0, None, 0.0

    def _remember(
        self, base_key: tuple[object, ...], clicks: list[Click], mask: np.ndarray, score: float, digest: bytes | None
    ) -> None:
        if digest is None:
            return
        with self._lock:
            self._cache[base_key + (tuple(clicks),)] = (np.packbits(mask), score)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    # -- the first mask -----------------------------------------------------------

    def _box_mask(
        self, image: np.ndarray, box: tuple[float, float, float, float], hard: list[Click] | None = None,
        side: int | None = None, spaces: tuple[str, ...] | None = None,
    ) -> tuple[np.ndarray, float]:
        """GrabCut from a box (plus hard clicks); never empty (see ``_fallback``). A cut
        with clicks models its colours in ``spaces`` (default RGB alone)."""
        hard = hard or []
        h, w = image.shape[:2]
        inner = box_pixels(box, (h, w))
        if not hard and (inner[2] - inner[0]) * (inner[3] - inner[1]) < MIN_SIDE:
            # Too few pixels for GrabCut, which returned the whole box: a box of a few
            # pixels drawn around a speck gave the speck and the ground beside it.
            few = few_pixels_object(image, inner)
            if few is not None:
                mask = _inside(inner, (h, w))
                mask[inner[1] : inner[3], inner[0] : inner[2]] = few
                roi = expand(inner, 0.0, 1, (h, w))
                return mask, separation(np.ascontiguousarray(image[roi[1] : roi[3], roi[0] : roi[2]]),
                                        mask[roi[1] : roi[3], roi[0] : roi[2]])
        positives = [p for p, lab in hard if lab == 1]
        roi = expand(cover_points(inner, positives, (h, w)), self.settings.margin, 4, (h, w))
        tight = self.settings.tight_gap if not hard else None
        mask_roi, score = self._cut(image, roi, inner, hard, side, tight, spaces)
        mask = _paste(mask_roi, roi, (h, w))
        if not mask.any():
            return self._fallback(image, inner)
        return mask, score

    def _cut(
        self, image: np.ndarray, roi: Box, inner: Box, hard: list[Click], side: int | None = None,
        tight: float | None = None, spaces: tuple[str, ...] | None = None,
    ) -> tuple[np.ndarray, float]:
        """GrabCut on ``roi`` downscaled to ``side``: ``inner`` probably object, the rest
        background, ``hard`` clicks as hard disks. Full-resolution ROI mask and score.
        With ``tight`` (a gap), ``inner`` is a tight box (see ``_tighten``), which holds
        all of its object: the mask is clipped to it."""
        cfg = self.settings
        small, crop, (sx, sy) = work_copy(image, roi, side or cfg.work_side)
        sh, sw = small.shape[:2]
        x0, y0 = roi[:2]
        gc, (c0, r0, c1, r1) = box_labels((sh, sw), inner, roi, (sx, sy))
        radius = max(1.0, cfg.click_radius * max(sw, sh))
        for (x, y), lab in hard:
            disk(gc, ((x - x0) * sx, (y - y0) * sy), radius, cv2.GC_FGD if lab else cv2.GC_BGD)
        cache = CutCache(small)
        fg, middle, spaces = self._first_cut(small, gc, (c0, r0, c1, r1), bool(hard), cache, spaces)
        local = [(x - x0, y - y0) for (x, y), lab in hard if lab == 1]
        positives = len(local)  # before the tightness seeds join them
        if tight is not None:
            fg, seeds = self._tighten(small, gc, fg, (c0, r0, c1, r1), tight, radius, middle, spaces, cache)
            local += [(x / sx, y / sy) for x, y in seeds]
        if positives and found_nothing(fg, positives, radius):
            # Nothing beyond the clicks' own disks: no object found. The histograms
            # of a few pixels would look perfectly distinct, so say so instead.
            score = 0.0
        else:
            score = separation(small, fg)
        mask_roi = upsample(small, fg, crop, cfg.guide_radius, cfg.guide_eps)
        min_area = area_threshold(mask_roi.shape, cfg.min_region)
        mask_roi = clean_mask(mask_roi, local, min_area, min_area)
        if tight is not None:
            mask_roi &= _inside((inner[0] - x0, inner[1] - y0, inner[2] - x0, inner[3] - y0), mask_roi.shape)
        return mask_roi, score

    def _first_cut(
        self, small: np.ndarray, gc: np.ndarray, inner: Box, clicked: bool, cache: CutCache,
        spaces: tuple[str, ...] | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
        """GrabCut of a box's labels ``gc`` (``inner``: the box in working px). Returns the
        mask, and where the object's colours were first learnt and in which colour spaces,
        for a second cut (``_tighten``). Until the annotator clicks, nothing but the box
        says where the object is: the colours are learnt first from the box's middle, and
        in three colour spaces, whose mean cost varies less with where GrabCut's models
        start than any one space (grabcut.py). A middle that is an occluder (a striped
        oval in front of a block) teaches its colours as the object's, and the cut then
        takes the whole box: where the cut keeps nearly all of the box, the box is cut
        again learning from its whole inside, and the cut that keeps less is kept."""
        cfg = self.settings
        if clicked:  # a click says where the object is (see ``_middle``)
            spaces = spaces or ("rgb",)
            return grabcut(small, gc, cfg.iterations, spaces=spaces, cache=cache), None, spaces
        c0, r0, c1, r1 = inner
        middle = self._middle(inner, small.shape[:2])
        fg = grabcut(small, gc, cfg.iterations, middle, cfg.box_colours, cache)
        if middle is not None and fg[r0:r1, c0:c1].mean() > cfg.box_full:
            whole = grabcut(small, gc, cfg.iterations, None, cfg.box_colours, cache)
            if whole[r0:r1, c0:c1].mean() < fg[r0:r1, c0:c1].mean():
                return whole, None, cfg.box_colours
        return fg, middle, cfg.box_colours

    def _tighten(
        self, small: np.ndarray, start: np.ndarray, fg: np.ndarray, inner: Box, gap: float, radius: float,
        middle: np.ndarray | None, spaces: tuple[str, ...], cache: CutCache,
    ) -> tuple[np.ndarray, list[Point]]:
        """Cut again when the object stops short of a side of its box. GrabCut drops
        thin or oddly coloured parts (legs, a racket) that reach the box's sides, yet
        the annotator drew the box to touch them: a seed where each missed side's
        colours look most like the object, and the object's innermost pixel, become
        hard object pixels of a second cut (working size, from the first cut's initial
        labels ``start``, object colours ``middle`` and colour ``spaces``; its seeds are
        inside the box, so its colour models start from the first cut's pixels and
        ``cache`` has them). Returns the object and the seeds; figures in docs/classic.md."""
        cfg = self.settings
        min_area = area_threshold(fg.shape, cfg.min_region)
        kept = clean_mask(fg, [], min_area, min_area)  # as the caller will keep it
        if not kept.any():
            return fg, []
        c0, r0, c1, r1 = inner
        seeds = tightness_seeds(small[r0:r1, c0:c1], kept[r0:r1, c0:c1], small[~kept], gap, cfg.tight_strip)
        if not seeds:
            return fg, []
        points = [innermost(kept)] + [(c0 + x, r0 + y) for x, y in seeds]
        gc = start.copy()
        for point in points:
            disk(gc, point, radius, cv2.GC_FGD)
        gc[start == cv2.GC_BGD] = cv2.GC_BGD  # a seed's disk stays inside the box
        return grabcut(small, gc, cfg.tight_iterations, middle, spaces, cache), points

    def _middle(self, inner: Box, shape: tuple[int, int]) -> np.ndarray | None:
        """Where a box's object colours are first learnt: its central ellipse. A tight
        box's corners and sides are mostly background (the object touches each side
        somewhere, but fills little of it), so the box's whole inside teaches the
        object's model the background's colours too; the middle holds mostly object."""
        share = self.settings.object_middle
        return None if share is None else central_ellipse(inner, shape, share)

    def _grow_in_box(
        self, image: np.ndarray, mask: np.ndarray, inner: Box, click: Click, earlier: list[Click]
    ) -> np.ndarray:
        """What a positive click inside the box adds to ``mask``: the box cut again (read
        as tight) with every click as a hard constraint, and of that cut what it adds
        next to the click. A missed part of a boxed object is usually a whole limb,
        which a local edit grows only partway; on DAVIS frames this adds 0.04 IoU where
        a local edit added nothing (docs/lab/classic.md). The new cut has learnt the
        clicked colour as the object's and may take background of that colour anywhere
        in the box, joined to the click through the mask: away from the click it may
        only move the mask's outline (by ``grow_outline`` of the box), as when the
        first cut left a thin rim of the object out all round. The caller adds the
        result to the mask, so the click only adds."""
        h, w = image.shape[:2]
        cfg = self.settings
        roi = expand(inner, cfg.margin, 4, (h, w))
        # A speck the cut's working copy loses (no larger than the click's disk there)
        # came back as that disk, mostly ground: on plain ground, it is added as it is
        # at full resolution, as a local edit adds it (``speck_at``).
        scale = scale_to((roi[3] - roi[1], roi[2] - roi[0]), cfg.work_side)
        side = max(round((roi[2] - roi[0]) * scale), round((roi[3] - roi[1]) * scale))
        lost = collapsed_area(max(1.0, cfg.click_radius * side) / scale)
        speck = speck_at(image, click[0], cfg.probe_side // 2, lost)
        if speck is not None:
            region, (x0, y0, x1, y1) = speck
            added = np.zeros((h, w), bool)
            added[y0:y1, x0:x1] = region & ~clicks_guard(earlier, 1, (x0, y0, x1, y1), cfg.click_radius)
            return added | _click_disk(click[0], (h, w))
        mask_roi, _ = self._cut(image, roi, inner, earlier + [click], tight=self.settings.tight_gap)
        new = _paste(mask_roi, roi, (h, w)) & ~mask
        r = max(1, round(self.settings.grow_outline * max(inner[2] - inner[0], inner[3] - inner[1])))
        outline = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        grown = component_at(new, [click[0]]) | (new & (outline > 0))
        for point, label in earlier:
            # The click's own hard disk, drawn last, covers an earlier negative click a
            # pixel or two away, which came back: every click is kept, as in a local edit.
            if not label:
                grown &= ~_click_disk(point, (h, w))
        return grown | _click_disk(click[0], (h, w))

    def _fallback(self, image: np.ndarray, inner: Box) -> tuple[np.ndarray, float]:
        """An annotator who draws a box expects a mask in it, even where GrabCut finds
        no object (its inside looks like its outside): cut again with the box's
        centre as object, and failing that return the box itself; both score low."""
        h, w = image.shape[:2]
        x0, y0, x1, y1 = inner
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        log.debug("GrabCut found nothing in the box; cutting around its centre")
        roi = expand(inner, self.settings.margin, 4, (h, w))
        mask = _paste(self._cut(image, roi, inner, [(centre, 1)])[0], roi, (h, w))
        box_only = _inside(inner, (h, w))
        mask &= box_only
        mask = component_at(mask, [centre])
        if mask.sum() < FALLBACK_MIN * box_only.sum():
            return box_only, 0.0
        return mask, FALLBACK_SCORE

    def _click_mask(self, image: np.ndarray, click: Point, flat: bool = False) -> tuple[np.ndarray, float]:
        """The object under one click: a speck on plain ground as it is at full resolution
        (``_speck``), else the extent from ``object_box``, then a box cut. On an image
        ``flat`` at overview size, a click on anything but a speck finds nothing."""
        h, w = image.shape[:2]
        cfg = self.settings
        speck = self._speck(image, click, flat)
        if speck is not None:
            region, (sx0, sy0, sx1, sy1) = speck
            mask = np.zeros((h, w), bool)
            mask[sy0:sy1, sx0:sx1] = region
            return mask, separation(np.ascontiguousarray(image[sy0:sy1, sx0:sx1]), region)
        if flat:
            return np.zeros((h, w), bool), 0.0
        box = object_box(image, click, cfg)
        x0, y0, x1, y1 = (float(v) for v in box)
        mask, score = self._box_mask(image, (x0, y0, x1, y1), [(click, 1)], cfg.click_side, cfg.box_colours)
        return component_at(mask, [click]) | _click_disk(click, (h, w)), score

    def _speck(self, image: np.ndarray, click: Point, flat: bool) -> tuple[np.ndarray, Box] | None:
        """The speck under ``click`` (``speck_at``), if it is one the probes would lose: a
        cut of a downscaled copy sees nothing of an object of a few pixels, or only its
        click's own disk, and returns nothing or the ground around it. On an image that is
        one colour at overview size the probes would not run at all, so any speck within
        the square counts; otherwise only one no larger than the finest probe loses."""
        cfg = self.settings
        limit = np.inf if flat else speck_area(image.shape[:2], cfg)
        return speck_at(image, click, cfg.probe_side // 2, limit)

    # -- further clicks -----------------------------------------------------------

    def _edit(
        self, image: np.ndarray, mask: np.ndarray, click: Click, earlier: list[Click],
        box: tuple[float, float, float, float] | None = None, flat: bool = False,
    ) -> np.ndarray:
        """``mask`` corrected by one more click; see the module docstring (step 2)."""
        h, w = mask.shape
        (x, y), label = click
        col, row = min(w - 1, int(x)), min(h - 1, int(y))
        if mask[row, col] == bool(label):
            return mask  # the mask already agrees with the click
        if label and box is not None:
            boxed = box_pixels(box, (h, w))
            if boxed[0] <= col < boxed[2] and boxed[1] <= row < boxed[3]:
                return mask | self._grow_in_box(image, mask, boxed, click, earlier)
        if label and not mask.any():  # nothing masked yet: this click finds the object
            return mask | self._click_mask(image, (x, y), flat)[0]
        # A negative click on a mask of the whole image is a local edit too: the image's
        # edges stand in for the background it has none of.
        return local_edit(image, mask, click, earlier, self.settings)


def _inside(box: Box, size: tuple[int, int]) -> np.ndarray:
    """The pixels of ``box`` as a mask of an image of ``size`` (h, w)."""
    mask = np.zeros(size, bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return mask


def _paste(mask_roi: np.ndarray, roi: Box, size: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(size, bool)
    x0, y0, x1, y1 = roi
    mask[y0:y1, x0:x1] = mask_roi
    return mask


def _click_disk(click: Point, size: tuple[int, int]) -> np.ndarray:
    """The clicked pixel as a mask: a click's own pixel is always in its mask."""
    mask = np.zeros(size, bool)
    mask[min(size[0] - 1, int(click[1])), min(size[1] - 1, int(click[0]))] = True
    return mask



