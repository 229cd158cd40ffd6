"""Pure flow and warp functions: dense optical flow, mask warps, motion fits, snaps.

Conventions: images are (H, W[, C]) arrays; a flow is float32 (H, W, 2) of (dx, dy);
a "motion" is a 2x3 float64 affine matrix mapping points of one frame to the next.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)

ECC_SIDE = 192  # templates larger than this (long side, px) are aligned downscaled
PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def to_gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def dis(preset: str = "fast") -> cv2.DISOpticalFlow:
    """A DIS optical flow object (coarse-to-fine, so it handles tens of pixels of motion)."""
    return cv2.DISOpticalFlow.create(PRESETS[preset])


def dense_flow(
    prev: np.ndarray, cur: np.ndarray, method: cv2.DISOpticalFlow | None = None,
    init: np.ndarray | None = None,
) -> np.ndarray:
    """Flow from gray ``prev`` to gray ``cur``: ``prev[y, x]`` moved to ``(x, y) + flow[y, x]``.

    ``init`` is an initial guess (e.g. predicted motion), refined by DIS; zeros if None.
    """
    method = method or dis()
    h, w = prev.shape[:2]
    if init is None:
        # Always hand DIS an initial flow: one instance called with an initial flow on
        # one size and then without one on another size reads freed memory and crashes
        # (OpenCV 4.12), taking the whole server down with it.
        init = np.zeros((h, w, 2), np.float32)
    ph, pw = dis_min_size(method, h, w)
    if (ph, pw) != (h, w):
        pad = ((0, ph - h), (0, pw - w))
        prev, cur = np.pad(prev, pad, mode="edge"), np.pad(cur, pad, mode="edge")
        init = np.pad(init, (*pad, (0, 0)), mode="edge")
    out = method.calc(np.ascontiguousarray(prev), np.ascontiguousarray(cur), np.ascontiguousarray(init, np.float32))
    return out[:h, :w]


def dis_min_size(method: cv2.DISOpticalFlow, h: int, w: int) -> tuple[int, int]:
    """The size (h, w) an image must be padded to before DIS sees it.

    DIS picks its coarsest pyramid level from the image's size and walks down to its
    preset's finest level. On an image too small for that walk (a tiny video, a thin
    one brought down to working size, the crop around a small object) the walk is
    empty, and OpenCV 4.12 returns uninitialised memory or kills the process (a
    segfault; 13x100 px with the fast presets). The coarsest level is
    min(round(log2(long / (4 * patch))), floor(log2(short / patch))), so both sides
    must reach ``patch * 2**finest`` and the long side ``4 * patch * 2**(finest - 0.5)``.
    """
    patch, finest = method.getPatchSize(), method.getFinestScale()
    short = max(12, patch * 2**finest)  # and DIS refuses anything under 12 px
    long = math.ceil(4 * patch * 2 ** (finest - 0.5))
    h, w = max(h, short), max(w, short)
    if max(h, w) < long:
        if w >= h:
            w = long
        else:
            h = long
    return h, w


def warp_backward(values: np.ndarray, flow_back: np.ndarray) -> np.ndarray:
    """Pull ``values`` of the previous frame along ``flow_back`` (current -> previous flow).

    Each pixel of the current frame takes the value where it came from; bilinear.
    """
    h, w = flow_back.shape[:2]
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(
        values.astype(np.float32), xx + flow_back[..., 0], yy + flow_back[..., 1],
        cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )


def unmatched(back: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Pixels of the current frame where the backward flow (current -> previous) and the
    forward flow (previous -> current) do not undo each other: uncovered background,
    parts moving faster than the flow follows, or simply flow that is wrong. The bound
    is the usual one for a forward-backward check (Sundaram, Brox and Keutzer, 2010):
    a squared mismatch over 1% of the two flows' squared lengths plus half a pixel."""
    h, w = back.shape[:2]
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    there = cv2.remap(forward, xx + back[..., 0], yy + back[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    mismatch = ((back + there) ** 2).sum(-1)
    return mismatch > 0.01 * ((back**2).sum(-1) + (there**2).sum(-1)) + 0.5


def warp_affine(values: np.ndarray, motion: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``values`` moved by the 2x3 ``motion`` onto an image of ``size`` = (H, W); bilinear."""
    h, w = size
    return cv2.warpAffine(
        values.astype(np.float32), motion.astype(np.float64), (w, h), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )


def translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The motion "b, then a" (2x3 each)."""
    a3 = np.vstack([a, [0, 0, 1]])
    b3 = np.vstack([b, [0, 0, 1]])
    return (a3 @ b3)[:2]


def apply(motion: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Points (N, 2) moved by ``motion``."""
    return pts @ motion[:, :2].T + motion[:, 2]


@dataclass(frozen=True)
class MotionFit:
    motion: np.ndarray  # 2x3 similarity, previous -> current frame
    inliers: int
    samples: int

    @property
    def ratio(self) -> float:
        return self.inliers / self.samples if self.samples else 0.0


def fit_similarity(
    flow: np.ndarray, mask: np.ndarray, max_samples: int = 400, thresh: float = 1.5,
    rng: np.random.Generator | None = None,
) -> MotionFit | None:
    """Robust similarity (rotation, scale, translation) explaining ``flow`` inside ``mask``.

    None when the mask has too few pixels to fit. RANSAC keeps boundary pixels, whose flow
    is dragged by the background, from biasing the fit.
    """
    ys, xs = np.nonzero(mask)
    if len(xs) < 12:
        return None
    rng = rng or np.random.default_rng(0)
    if len(xs) > max_samples:
        pick = rng.choice(len(xs), max_samples, replace=False)
        xs, ys = xs[pick], ys[pick]
    src = np.stack([xs, ys], 1).astype(np.float32)
    dst = src + flow[ys, xs]
    cv2.setRNGSeed(0)  # RANSAC draws from OpenCV's global RNG: keep runs reproducible
    m, inl = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=thresh, maxIters=500, confidence=0.99
    )
    if m is None:
        return None
    return MotionFit(m, int(inl.sum()), len(xs))


def ecc_align(
    template: np.ndarray, image: np.ndarray, init: np.ndarray, image_mask: np.ndarray,
    iterations: int, eps: float = 1e-4,
) -> tuple[np.ndarray, float] | None:
    """Refine ``init`` (template coords -> image coords, 2x3) to align gray ``template`` with
    ``image`` (enhanced correlation, invariant to gain and bias: robust to light changes).

    ``image_mask`` selects the image pixels that belong to the object. Returns
    (refined motion, correlation) or None when ECC diverges.
    """
    # ECC's warp maps template coordinates to image coordinates, as ``init`` does.
    th, tw = template.shape[:2]
    warp0 = init.astype(np.float32)
    img = image.astype(np.float32)
    msk = image_mask.astype(np.uint8)
    tmpl = template.astype(np.float32)
    # Each iteration costs the template's area: align a large object at a coarser scale
    # (sub-pixel there is still within a pixel or two here).
    s = min(1.0, ECC_SIDE / max(th, tw))
    if s < 1.0:
        def small(a: np.ndarray) -> np.ndarray:
            return cv2.resize(a, (max(1, round(a.shape[1] * s)), max(1, round(a.shape[0] * s))),
                              interpolation=cv2.INTER_AREA)
        tmpl, img, msk = small(tmpl), small(img), small(msk)
        warp0[:, 2] *= s
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, eps)
    try:
        cc, warp = cv2.findTransformECC(tmpl, img, warp0, cv2.MOTION_AFFINE, crit, msk, 3)
    except cv2.error as exc:
        log.debug("ECC did not converge: %s", exc)
        return None
    warp[:, 2] /= s  # type: ignore[misc]  # numpy's stubs cannot tell ECC's float32 warp is float
    return nearest_similarity(warp.astype(np.float64), ((tw - 1) / 2, (th - 1) / 2)), float(cc)


def nearest_similarity(motion: np.ndarray, centre: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """The similarity (rotation, one scale, translation) closest to an affine ``motion``.

    ECC fits a full affine; under motion blur it stretches along the motion. Objects do
    not shear from frame to frame, so the shear and anisotropic scale are dropped.
    """
    a = motion[:, :2]
    u, sv, vt = np.linalg.svd(a)
    r = u @ vt
    if np.linalg.det(r) < 0:  # no reflections
        u[:, -1] *= -1
        r = u @ vt
    out = motion.copy()
    out[:, :2] = r * float(np.mean(sv))
    # ``centre`` lands where the affine put it.
    c = np.asarray(centre, np.float64)
    out[:, 2] += apply(motion, c[None])[0] - apply(out, c[None])[0]
    return out


def grabcut_snap(
    image: np.ndarray, prior: np.ndarray, erode_px: int = 4, ring_px: int = 12,
    iterations: int = 1,
) -> np.ndarray:
    """Re-segment around a soft ``prior`` mask: eroded prior = sure foreground, the prior's
    edge band = probable, a ring around it = probable background, the rest background.

    Works on the prior's bounding box (plus the ring) only. Returns a bool mask.
    """
    hard = prior >= 0.5
    if hard.sum() < 16:
        return hard
    ys, xs = np.nonzero(hard)
    h, w = hard.shape
    pad = ring_px + 2
    y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
    roi = hard[y0:y1, x0:x1].astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode_px + 1, 2 * erode_px + 1))
    sure = cv2.erode(roi, k)
    kr = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring_px + 1, 2 * ring_px + 1))
    near = cv2.dilate(roi, kr)
    gc = np.full(roi.shape, cv2.GC_BGD, np.uint8)
    gc[near > 0] = cv2.GC_PR_BGD
    gc[roi > 0] = cv2.GC_PR_FGD
    gc[sure > 0] = cv2.GC_FGD
    if not (gc == cv2.GC_FGD).any() or not ((gc == cv2.GC_BGD) | (gc == cv2.GC_PR_BGD)).any():
        return hard
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    img = np.ascontiguousarray(image[y0:y1, x0:x1])
    cv2.setRNGSeed(0)  # GrabCut's k-means draws from OpenCV's global RNG: same frames, same mask
    try:
        # rect is unused with GC_INIT_WITH_MASK: OpenCV takes None, its stubs want a tuple.
        cv2.grabCut(img, gc, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]  # see above
    except cv2.error as exc:  # a degenerate colour model; keep the prior
        log.debug("grabCut failed: %s", exc)
        return hard
    out = np.zeros_like(hard)
    out[y0:y1, x0:x1] = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    return out


def largest_components(mask: np.ndarray, keep_fraction: float = 0.2) -> np.ndarray:
    """Drop specks: keep connected parts at least ``keep_fraction`` of the largest one."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask.astype(bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= keep_fraction * areas.max()) + 1
    return np.isin(lab, keep)


def find_template(
    image: np.ndarray, template: np.ndarray, template_mask: np.ndarray, step: int = 2
) -> tuple[int, int, float] | None:
    """Best place of a masked ``template`` in ``image`` (both gray), searched at 1/``step``
    resolution: (x, y) of the template's top-left corner in ``image`` pixels and the
    normalised correlation there; None when the template does not fit in the image."""
    th, tw = template.shape[:2]
    ih, iw = image.shape[:2]
    if th >= ih or tw >= iw or th < 2 * step or tw < 2 * step:
        return None
    small = cv2.resize(image, (iw // step, ih // step), interpolation=cv2.INTER_AREA)
    t = cv2.resize(template, (tw // step, th // step), interpolation=cv2.INTER_AREA)
    m = cv2.resize(template_mask.astype(np.float32), (tw // step, th // step), interpolation=cv2.INTER_AREA)
    res = masked_correlation(small.astype(np.float32), t.astype(np.float32), m)
    _, score, _, (x, y) = cv2.minMaxLoc(res)
    return x * step, y * step, float(score)


def template_core(mask: np.ndarray) -> np.ndarray:
    """The mask without its rim, what a template match compares: a blurred or
    anti-aliased edge mixes in whatever is behind the object, which changes as it moves
    and spoils the match."""
    k = max(3, min(mask.shape) // 8) | 1
    core = cv2.erode(mask.astype(np.uint8), np.ones((k, k), np.uint8)) > 0
    return core if core.sum() >= 0.25 * mask.sum() else mask


def find_again(
    image: np.ndarray, template: np.ndarray, template_mask: np.ndarray, accept: float
) -> tuple[int, int, float] | None:
    """Where an object that was out of sight is back in ``image``: its masked view
    ``template`` matched over the whole frame, else (an object coming back across an
    edge, half of it in view) the half of it that would be inside, placed so that the
    whole crosses that edge. (x, y) of the template's top-left corner (it may lie
    outside the frame) and the correlation; None when no match reaches ``accept``."""
    found = find_template(image, template, template_mask)
    if found is not None and found[2] >= accept:
        return found
    th, tw = template.shape
    h, w = image.shape
    best = None
    #             template part                  its offset in the template
    for part, (dx, dy) in (((slice(None), slice(0, tw // 2)), (0, 0)),  # entering from the right
                           ((slice(None), slice(tw // 2, tw)), (tw // 2, 0)),  # from the left
                           ((slice(0, th // 2), slice(None)), (0, 0)),  # from the bottom
                           ((slice(th // 2, th), slice(None)), (0, th // 2))):  # from the top
        half = find_template(image, template[part], template_mask[part])
        if half is None:
            continue
        x, y = half[0] - dx, half[1] - dy
        crosses = x < 0 or y < 0 or x + tw > w or y + th > h
        if crosses and (best is None or half[2] > best[2]):
            best = (x, y, half[2])
    return best if best is not None and best[2] >= accept else None


def masked_correlation(image: np.ndarray, template: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """OpenCV's ``TM_CCOEFF_NORMED`` with a ``mask`` (float32 arrays), -1 where undefined.

    OpenCV's masked match costs 15-60 ms for a frame at half of 480p, so a tracker that
    searches for a lost object every frame spent a third of its time there. The same
    formula from four unmasked correlations, each a fraction of a millisecond, gives
    the same scores to about 1e-5 and the same best place (tests/tracker/test_flow.py;
    docs/lab/tracker.md, "Speed"). The image is centred first so that float32 keeps the
    sums of squares exact enough.
    """
    img = image - np.float32(image.mean())
    m2 = mask * mask
    m_sum, m2_sum = float(mask.sum()), float(m2.sum())
    if m_sum <= 0:
        return np.full((image.shape[0] - template.shape[0] + 1, image.shape[1] - template.shape[1] + 1),
                       -1.0, np.float32)
    centred = template - np.float32(float((mask * template).sum()) / m_sum)
    kernel = m2 * centred
    t_norm = float(np.sqrt(((mask * centred) ** 2).sum()))

    def corr(a: np.ndarray, k: np.ndarray) -> np.ndarray:
        return cv2.matchTemplate(a, np.ascontiguousarray(k, np.float32), cv2.TM_CCORR).astype(np.float64)

    img_mask = corr(img, mask)
    # A binary mask (no shrinking, step 1) is its own square: one correlation fewer.
    img_m2 = img_mask if np.array_equal(m2, mask) else corr(img, m2)
    local_mean = img_mask / m_sum
    num = corr(img, kernel) - float(kernel.sum()) * local_mean
    var = corr(img * img, m2) - 2 * img_m2 * local_mean + m2_sum * local_mean**2
    # A window of one flat grey (OpenCV's NaN) matches nothing. Float32 rounding leaves
    # its variance at about 1e-7 of the largest squares, so a window whose spread is
    # under 0.1% of the image's largest deviation from its mean counts as flat.
    flat = var <= 1e-6 * m2_sum * max(float(np.abs(img).max()) ** 2, 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = num / (np.sqrt(np.maximum(var, 0)) * t_norm)
    res[flat | ~np.isfinite(res)] = -1.0
    return np.clip(res, -1.0, 1.0).astype(np.float32)


def motion_blur_kernel(dx: float, dy: float) -> np.ndarray:
    """A normalised line kernel along (dx, dy): the blur of a linear move during exposure."""
    import math

    length = max(1.0, math.hypot(dx, dy))
    size = int(math.ceil(length)) | 1
    k = np.zeros((size, size), np.float32)
    c = size // 2
    ux, uy = dx / length, dy / length
    for s in np.linspace(-length / 2, length / 2, int(length * 2) + 1):
        k[int(round(c + s * uy)), int(round(c + s * ux))] = 1.0
    return k / k.sum()
