"""The evidence each frame's segmentation adds up, as log-odds of "object" per pixel.

``SegmentEngine`` (``segment_engine.py``) settles three cues with one graph cut per
object: where the object should be (``shape_prior`` of the mask carried by the flow),
what it looks like (``colour_odds`` of Lab histograms over ``ColourBins`` spread over
the clip's colours), and how it moves (``motion_cue``). Each is a pure function of
arrays; docs/lab/tracker.md has the measurements behind their constants.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BINS = 16  # histogram bins per Lab channel (16^3 colours)


def object_size(mask: np.ndarray) -> float:
    """An object's size in pixels: the square root of its area (at least 1)."""
    return float(np.sqrt(max(1, np.count_nonzero(mask))))


@dataclass(frozen=True, eq=False)
class ColourBins:
    """Maps Lab colours to histogram bins spread over the colours a video has.

    Bins fixed over the whole Lab cube put a dull, dim or hazy clip into a handful of
    bins that object and background share, and the colour evidence goes blind. Each
    channel's bins span its 1st-99th percentile on the run's first frame instead, never
    finer than one Lab level per bin (a flat channel is not magnified into noise); colours
    outside fall into the end bins.
    """

    lut: np.ndarray  # uint8 (1, 256, 3): the bin of each Lab level, per channel

    @classmethod
    def of(cls, rgb: np.ndarray) -> ColourBins:
        lab: np.ndarray = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).reshape(-1, 3)
        lo, hi = np.percentile(lab, [1, 99], axis=0)
        span = np.maximum(hi - lo, BINS)
        low = ((lo + hi) / 2 - span / 2).astype(np.float32)
        per_level = (BINS / span).astype(np.float32)
        levels = np.arange(256, dtype=np.float32)[:, None]
        bins = np.clip(((levels - low) * per_level).astype(np.int32), 0, BINS - 1)
        return cls(bins.astype(np.uint8)[None])

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """Histogram bin index (int32) of every pixel's Lab colour."""
        q = cv2.LUT(cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB), self.lut).astype(np.int32)
        return (q[..., 0] * BINS + q[..., 1]) * BINS + q[..., 2]


def histogram(bins: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Normalised colour histogram of the pixels, weighted (soft masks)."""
    counts = np.bincount(bins.ravel(), weights.ravel().astype(np.float64), BINS**3)
    # Spread each count over neighbouring colours: a colour seen once stands for its
    # neighbours too (light and compression shift colours by a bin or two). The blur of
    # the (L, a*b) table spreads along L and b only; spreading along a as well was
    # measured and not kept (docs/lab/tracker.md, "The same sequences, changed").
    h = cv2.GaussianBlur(counts.reshape(BINS, BINS * BINS).astype(np.float32), (3, 3), 0).ravel()
    total = h.sum()
    return h / total if total > 0 else np.full(BINS**3, 1.0 / BINS**3, np.float32)


def soft(mask: np.ndarray, sigma: float) -> np.ndarray:
    """A bool mask as float32 with a blurred rim (``sigma`` pixels)."""
    m = mask.astype(np.float32)
    if sigma < 0.5:
        return m
    k = int(3 * sigma) * 2 + 1
    return cv2.GaussianBlur(m, (k, k), sigma)


def colour_odds(fg: np.ndarray, bg: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Log-odds of "object" from the colour histograms ``fg`` and ``bg`` at each pixel's
    colour bin, within +-4 (a colour one model has never seen is not infinitely sure)."""
    return np.clip(np.log((fg[bins] + 1e-5) / (bg[bins] + 1e-5)), -4, 4)


def shape_prior(mask: np.ndarray, sigma: float, strength: float = 4.0, thin: float = 1.0) -> np.ndarray:
    """Log-odds of "object" from a predicted shape: +-``strength`` deep inside / far
    outside, 0 on its outline, ramping over ``sigma`` pixels of signed distance. (A
    blurred mask thresholded at 0.5 rounds corners: fed back frame after frame, the
    shape would shrink wherever colour does not hold it.)

    With ``thin`` < 1 the shape vouches less for its parts narrower than the ramp: the
    prior is ``thin`` times the shape's plus the rest times that of the shape without
    them (an opening by half the ramp). A shape with no part that wide is taken whole."""
    m = mask.astype(np.uint8)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 3)
    sd = np.where(m > 0, inside - 0.5, 0.5 - outside)
    prior = strength * np.tanh(sd / max(sigma, 1.0)).astype(np.float32)
    radius = int(round(sigma / 2))
    if thin >= 1 or radius < 1:
        return prior
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    wide = cv2.morphologyEx(m, cv2.MORPH_OPEN, disk)
    if not wide.any():
        return prior
    return thin * prior + (1 - thin) * shape_prior(wide, sigma, strength)


def motion_cue(back: np.ndarray, mask: np.ndarray, outline: float = 0.0) -> np.ndarray:
    """Log-odds (in [-1, 1]) that a pixel moves with the object rather than with what
    surrounds it: its flow projected on the axis from the surroundings' median motion to
    the object's. Zero where the two move alike (a camera following the object).

    Just outside ``mask`` the flow is no witness: DIS smooths it across the outline, and
    the flow of the ring around the object starts at the object's own shift, so the
    background there reads "moves like the object" whether or not it does. Taken at its
    word, it grows the cut a little every frame. Outside the mask the cue therefore fades
    to zero at the outline over ``outline`` pixels (0: no fading)."""
    # The band segment_engine's ``_ring`` gives, from a distance kept for the fading below.
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)  # 0 inside
    ring = (dist > 0) & (dist <= max(4, int(0.25 * object_size(mask))))
    if mask.sum() < 16 or ring.sum() < 16:
        return np.zeros(mask.shape, np.float32)
    f_obj = np.median(back[mask], 0)
    f_bg = np.median(back[ring], 0)
    axis = f_obj - f_bg
    sep = float(np.hypot(*axis))
    if sep < 0.5:
        return np.zeros(mask.shape, np.float32)
    t = ((back - f_bg) @ axis) / sep**2  # 0: moves like the surroundings, 1: like the object
    cue = np.clip(2 * t - 1, -1, 1) * min(1.0, sep / 3)
    if outline > 0:
        near = (dist > 0) & (dist < outline)
        cue[near] *= dist[near] / outline
    return cue.astype(np.float32)
