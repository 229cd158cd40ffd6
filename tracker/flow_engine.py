"""Model-free propagation: dense flow, a motion model per object, template alignment.

Per frame (one dense DIS flow shared by all objects):

1. motion: a robust similarity fitted to the flow inside each object's visible mask; the
   flow is initialised with each object's predicted motion (constant velocity), so
   fast objects (tens of px/frame) start near their answer;
2. alignment: the object's reference (the frame where its mask was given) is aligned to
   the current frame with ECC, starting from 1. Masks come from warping the reference
   mask, not the previous mask, so boundary errors do not accumulate into drift;
3. occlusion: where two objects' predicted shapes overlap, the one whose warped
   reference matches the image better owns the pixel (who is in front can change);
   pixels matching neither are hidden by something untracked;
4. visibility: an object whose visible part is tiny, or that left the frame, is reported
   invisible (empty mask) and searched for each frame by masked template matching with
   its reference appearance; it is re-acquired when the match and ECC agree.

The motion model is a similarity (rigid + scale), which is what the synthetic benchmark
moves; ``snap=True`` adds a graph-cut re-segmentation around the result for deforming
objects in real video (slower, see docs/tracker.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from samvid.tracker import flow
from samvid.tracker.engine import Engine, ObjectResult, TrackState
from samvid.tracker.masks import bbox, grow_box

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlowSettings:
    preset: str = "medium"  # DIS preset
    scale: float = 1.0  # work at this fraction of the frame size
    ecc: bool = True  # refine each object's motion against its reference
    ecc_iterations: int = 40
    snap: bool = False  # graph-cut re-segmentation around the result
    redetect: bool = True  # search for lost objects
    min_visible: float = 0.04  # visible fraction of the predicted shape below which: hidden
    match_accept: float = 0.6  # template-match correlation to re-acquire a lost object


MODES = {
    "quality": FlowSettings(),
    # Half resolution breaks ECC on small objects (it stops converging); full resolution
    # with the fastest flow and a short ECC is both faster and better.
    "preview": FlowSettings(preset="ultrafast", ecc_iterations=15),
}


@dataclass
class _Obj:
    ref_gray: np.ndarray  # float32 crop of the reference frame (working resolution)
    ref_rgb: np.ndarray  # float32 (h, w, 3), blurred, for occlusion tests
    ref_mask: np.ndarray  # float32 soft mask of the crop
    ref_core: np.ndarray  # bool: the mask without its rim, what template matching compares
    motion: np.ndarray  # 2x3: reference crop -> current working frame
    velocity: np.ndarray = field(default_factory=lambda: flow.translation(0, 0))
    visible: np.ndarray | None = None  # bool, working resolution, last frame
    lost: bool = False
    # Typical appearance error (mean abs RGB difference to the warped reference) on frames
    # where the object was clearly visible: the yardstick for "this pixel is not me".
    typical_d: float | None = None
    # Whether this frame's motion was measured (flow fit, ECC or a found match) rather
    # than only predicted: an unconfirmed shape must look much more like the object.
    confirmed: bool = True
    # ECC correlation of the reference aligned onto this frame (0: not aligned): near 1
    # when the object moved as a rigid whole, lower when it deformed.
    lock: float = 0.0
    # Whether anything of the given view is left for ECC once its rim is eroded: a dot of
    # a few pixels or a line one or two pixels wide has nothing, wherever it is.
    alignable: bool = True

    @property
    def ref_area(self) -> float:
        return float(self.ref_mask.sum())


def _reference(gray: np.ndarray, rgb_blur: np.ndarray, mask: np.ndarray) -> _Obj:
    x0, y0, x1, y1 = grow_box(bbox(mask >= 0.5) or (0, 0, 1, 1), 6, mask.shape)
    crop = mask[y0:y1, x0:x1].astype(np.float32)
    obj = _Obj(
        gray[y0:y1, x0:x1].astype(np.float32),
        rgb_blur[y0:y1, x0:x1].astype(np.float32),
        crop,
        flow.template_core(crop >= 0.5),
        flow.translation(x0, y0),
    )
    obj.alignable = bool(_eroded(crop >= 0.5).sum() >= _ALIGN_SHARE * obj.ref_area)
    return obj


class FlowEngine(Engine):
    """Weight-free propagation; ``mode`` is "quality" or "preview" (or pass ``settings``)."""

    def __init__(self, mode: str = "quality", settings: FlowSettings | None = None) -> None:
        self.settings = settings or MODES[mode]
        self.name = f"rigid-{mode}" if settings is None else "rigid"

    def _new_run(self, state: TrackState) -> _FlowRun:
        return _FlowRun(self.settings, flow.dis(self.settings.preset))


@dataclass
class _FlowRun:
    cfg: FlowSettings
    dis: cv2.DISOpticalFlow
    objs: dict[int, _Obj] = field(default_factory=dict)
    prev_gray: np.ndarray | None = None
    # Who owned each pixel last frame: 0 nobody, else an object's ``_slot`` (not its id:
    # an id 0 would read as nobody, one past int32 would not fit).
    prev_owner: np.ndarray | None = None

    def step(self, index: int, image: np.ndarray, given: dict[int, np.ndarray]) -> dict[int, ObjectResult]:
        full_hw = image.shape[:2]
        img = self._work(image)
        gray = flow.to_gray(img)
        blur = cv2.GaussianBlur(img, (5, 5), 0).astype(np.float32)
        tracked = [o for o in self.objs if o not in given]
        if self.prev_gray is not None and tracked:
            self._move(gray, tracked)
        for o, m in given.items():
            self.objs[o] = _reference(gray, blur, self._work(m.astype(np.float32)))
        visible = self._occlusion(gray, blur, given)
        self.prev_gray = gray
        out: dict[int, ObjectResult] = {}
        for o, obj in self.objs.items():
            if o in given:
                obj.visible = self._work(given[o].astype(np.float32)) >= 0.5
                out[o] = ObjectResult(given[o], 1.0, True)
                continue
            vis, score = visible[o]
            obj.visible = vis if vis is not None else None
            obj.lost = vis is None
            out[o] = self._result(image, vis, score, full_hw)
        return out

    # ------------------------------------------------------------ motion
    def _work(self, a: np.ndarray) -> np.ndarray:
        s = self.cfg.scale
        if s == 1.0:
            return a
        h, w = a.shape[:2]
        # A side that would round to nothing (a frame 1 px high and wide enough to be
        # scaled down) keeps one pixel.
        return cv2.resize(a, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)

    def _move(self, gray: np.ndarray, tracked: list[int]) -> None:
        h, w = gray.shape
        init = np.zeros((h, w, 2), np.float32)
        use_init = False
        for o in tracked:
            obj = self.objs[o]
            v = obj.velocity
            if obj.visible is None or np.hypot(v[0, 2], v[1, 2]) < 3:
                continue
            ys, xs = np.nonzero(cv2.dilate(obj.visible.astype(np.uint8), np.ones((9, 9), np.uint8)))
            pts = np.stack([xs, ys], 1).astype(np.float32)
            init[ys, xs] = flow.apply(v, pts) - pts
            use_init = True
        assert self.prev_gray is not None
        fwd = np.zeros((h, w, 2), np.float32)
        box = self._flow_box(tracked, (h, w))
        if box is not None:
            # Flow only where the objects are: DIS cost grows with the area.
            x0, y0, x1, y1 = box
            fwd[y0:y1, x0:x1] = flow.dense_flow(
                self.prev_gray[y0:y1, x0:x1], gray[y0:y1, x0:x1], self.dis,
                init[y0:y1, x0:x1] if use_init else None,
            )
        for o in tracked:
            obj = self.objs[o]
            step = obj.velocity  # prediction when the flow says nothing useful
            fit_ok = False
            if obj.visible is not None and not obj.lost:
                full = obj.ref_area * _area_scale(obj.motion)
                # A sliver (object leaving, or mostly hidden) gives unreliable fits: keep
                # the object moving as it did rather than let it stall at an edge.
                if obj.visible.sum() >= 0.2 * full:
                    core = cv2.erode(obj.visible.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
                    fit = flow.fit_similarity(fwd, core if core.sum() >= 12 else obj.visible)
                    if fit is not None and fit.inliers >= 10 and fit.ratio >= 0.25:
                        step = fit.motion
                        # An object too thin to align is all rim: the flow there is its
                        # background's (DIS's patches are wider), no witness of where it went.
                        fit_ok = fit.ratio >= 0.4 and obj.alignable
            predicted = flow.compose(step, obj.motion)
            obj.confirmed = fit_ok
            obj.lock = 0.0
            if self.cfg.ecc and not obj.lost:
                predicted, cc = self._align(obj, gray, predicted, o)
                if not fit_ok and step is not obj.velocity:
                    # A weak flow fit may start ECC where it diverges (fast scaling with the
                    # coarsest flow); the object's own motion so far is the other guess.
                    steady, steady_cc = self._align(obj, gray, flow.compose(obj.velocity, obj.motion), o)
                    if steady_cc > cc:
                        predicted, cc = steady, steady_cc
                obj.confirmed = fit_ok or cc >= 0.75
                obj.lock = cc
                # ECC may fail on a heavily blurred object that the flow followed fine.
                doubt = not fit_ok or 0 < cc < 0.6
                if doubt and _inside(predicted, obj.ref_mask.shape, gray.shape):
                    # The flow lost it (a sudden turn, blur): search for the last view.
                    found = self._search(obj, gray, o)
                    if found is not None and found[1] > max(cc, 0.6):
                        predicted, obj.confirmed = found[0], True
            # Velocity is the whole frame-to-frame motion, ECC's correction included.
            obj.velocity = flow.compose(predicted, cv2.invertAffineTransform(obj.motion))
            obj.motion = predicted
            if obj.lost:
                obj.velocity = flow.translation(0, 0)

    def _flow_box(self, tracked: list[int], hw: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """Union of the tracked objects' last boxes, grown by how far they may move."""
        boxes = []
        for o in tracked:
            obj = self.objs[o]
            if obj.visible is None or obj.lost:
                continue
            b = bbox(obj.visible)
            if b is None:
                continue
            v = obj.velocity
            m = int(2 * np.hypot(v[0, 2], v[1, 2]) + 32 * self.cfg.scale + 8)
            boxes.append((b[0] - m, b[1] - m, b[2] + m, b[3] + m))
        if not boxes:
            return None
        h, w = hw
        x0, y0 = max(0, min(b[0] for b in boxes)), max(0, min(b[1] for b in boxes))
        x1, y1 = min(w, max(b[2] for b in boxes)), min(h, max(b[3] for b in boxes))
        return (x0, y0, x1, y1) if x1 - x0 >= 16 and y1 - y0 >= 16 else None

    def _align(
        self, obj: _Obj, gray: np.ndarray, motion: np.ndarray, oid: int
    ) -> tuple[np.ndarray, float]:
        """ECC-refined ``motion`` and its correlation (0 when ECC was not used)."""
        h, w = gray.shape
        shape = _eroded(flow.warp_affine(obj.ref_mask, motion, (h, w)) >= 0.5)
        if self.prev_owner is not None:
            # Pixels another object owned last frame would pull ECC towards that object.
            shape &= (self.prev_owner == 0) | (self.prev_owner == self._slot(oid))
        if shape.sum() < _ALIGN_SHARE * obj.ref_area:
            # Mostly hidden: nothing to align, nothing to search for. An object too thin
            # to align anywhere is not aligned either: a correlation of 1 here read as a
            # lock, and `flow` took the unmoved given view for the object (lost in a few frames).
            return motion, 1.0 if obj.alignable else 0.0
        got = flow.ecc_align(obj.ref_gray, gray, motion, shape, self.cfg.ecc_iterations)
        if got is None or not _close(got[0], motion, obj.ref_gray.shape, obj.motion):
            return motion, 0.0
        return got

    def _search(self, obj: _Obj, gray: np.ndarray, oid: int) -> tuple[np.ndarray, float] | None:
        """Look for the object's last view around its last place (radius: its speed x2)."""
        if obj.visible is None or self.prev_gray is None:
            return None
        box = bbox(obj.visible)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        v = obj.velocity
        r = int(2 * np.hypot(v[0, 2], v[1, 2]) + 48)
        h, w = gray.shape
        sx0, sy0, sx1, sy1 = max(0, x0 - r), max(0, y0 - r), min(w, x1 + r), min(h, y1 + r)
        found = flow.find_template(
            gray[sy0:sy1, sx0:sx1], self.prev_gray[y0:y1, x0:x1], obj.visible[y0:y1, x0:x1], step=1
        )
        if found is None:
            return None
        dx, dy = found[0] + sx0 - x0, found[1] + sy0 - y0
        guess = flow.compose(flow.translation(dx, dy), obj.motion)
        if self._on_other(obj, guess, oid, gray.shape):
            return None  # the best match is a look-alike another track already owns
        refined, cc = self._align(obj, gray, guess, oid)
        return (refined, cc) if cc > 0 else (guess, found[2] * 0.5)

    # ------------------------------------------------------------ occlusion and visibility
    def _occlusion(
        self, gray: np.ndarray, blur: np.ndarray, given: dict[int, np.ndarray]
    ) -> dict[int, tuple[np.ndarray | None, float]]:
        """Who owns each pixel; per object its visible mask (None: hidden) and score."""
        h, w = gray.shape
        ids = list(self.objs)
        shapes: dict[int, np.ndarray] = {}
        for o in ids:
            obj = self.objs[o]
            if o in given:
                shapes[o] = self._work(given[o].astype(np.float32)) >= 0.5
                continue
            if obj.lost and self.cfg.redetect:
                self._redetect(obj, gray, o)
            if not obj.lost:
                shapes[o] = flow.warp_affine(obj.ref_mask, obj.motion, (h, w)) >= 0.5
        boxes = {o: b for o, sh in shapes.items() if (b := bbox(sh)) is not None}
        result: dict[int, tuple[np.ndarray | None, float]] = {o: (None, 0.0) for o in ids if o not in given}
        self.prev_owner = np.zeros((h, w), np.int32)
        if not boxes:
            return result
        # Ownership is decided only where some object may be: the union of their boxes.
        ux0, uy0 = min(b[0] for b in boxes.values()), min(b[1] for b in boxes.values())
        ux1, uy1 = max(b[2] for b in boxes.values()), max(b[3] for b in boxes.values())
        cost = np.full((len(ids) + 1, uy1 - uy0, ux1 - ux0), np.inf, np.float32)
        for k, o in enumerate(ids):
            if o not in boxes:
                continue
            x0, y0, x1, y1 = boxes[o]
            sub = cost[k, y0 - uy0 : y1 - uy0, x0 - ux0 : x1 - ux0]
            shape = shapes[o][y0:y1, x0:x1]
            if o in given:
                sub[shape] = -1.0  # a given mask owns its pixels
                continue
            obj = self.objs[o]
            d = _appearance_cost(obj, blur, boxes[o])
            if self._mismatch(o, shapes, d, boxes[o]):
                continue  # the whole shape looks wrong: hidden, or we lost it
            thr = 40.0 if obj.typical_d is None else float(np.clip(4 * obj.typical_d, 30, 60))
            ok = shape & (d < thr)
            sub[ok] = d[ok]
            if obj.confirmed and ok.sum() > 0.8 * shape.sum():
                typical = float(np.median(d[ok]))
                obj.typical_d = typical if obj.typical_d is None else 0.8 * obj.typical_d + 0.2 * typical
        owner_k = np.argmin(cost, 0)
        owner_k[np.isinf(cost.min(0))] = len(ids)
        for k, o in enumerate(ids):
            mine = np.zeros((h, w), bool)
            mine[uy0:uy1, ux0:ux1] = owner_k == k
            self.prev_owner[mine] = k + 1
            if o in given or o not in boxes:
                continue
            vis = cv2.morphologyEx(mine.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
            if not vis.any():  # an object under 3 px wide: the opening, meant for specks, takes it all
                vis = mine
            vis = flow.largest_components(vis, 0.1) if vis.any() else vis
            n_shape = float(shapes[o].sum())
            frac = vis.sum() / max(1.0, n_shape)
            in_frame = n_shape / max(1.0, self.objs[o].ref_area * _area_scale(self.objs[o].motion))
            if vis.any() and frac >= self.cfg.min_visible and in_frame * frac >= self.cfg.min_visible:
                result[o] = (vis, float(min(1.0, frac)))
        return result

    def _mismatch(
        self, oid: int, shapes: dict[int, np.ndarray], d: np.ndarray, box: tuple[int, int, int, int]
    ) -> bool:
        """Whether the part of the object's shape no other object covers fails to look like
        it as a whole (then the object is hidden by something untracked, or gone)."""
        obj = self.objs[oid]
        x0, y0, x1, y1 = box
        free = shapes[oid][y0:y1, x0:x1].copy()
        for o, sh in shapes.items():
            if o != oid:
                free &= ~sh[y0:y1, x0:x1]
        if free.sum() < 0.2 * shapes[oid].sum():
            return False
        typical = 5.0 if obj.typical_d is None else obj.typical_d
        # A predicted-only place (the motion could not be measured) is trusted only when
        # it looks like the object nearly as well as a measured one does.
        floor, factor = (20.0, 4.0) if obj.confirmed else (12.0, 2.5)
        return float(np.median(d[free])) > max(floor, factor * typical)

    def _on_other(self, obj: _Obj, motion: np.ndarray, oid: int, hw: tuple[int, int]) -> bool:
        """Whether the object placed by ``motion`` would sit mostly on pixels another
        tracked object owned last frame (identical objects: keep identities apart)."""
        if self.prev_owner is None:
            return False
        shape = flow.warp_affine(obj.ref_mask, motion, hw) >= 0.5
        others = (self.prev_owner != 0) & (self.prev_owner != self._slot(oid))
        return bool((shape & others).sum() > 0.5 * max(1, shape.sum()))

    def _slot(self, oid: int) -> int:
        """Object ``oid``'s mark in ``prev_owner``: objects keep their place in ``objs``."""
        return list(self.objs).index(oid) + 1

    def _redetect(self, obj: _Obj, gray: np.ndarray, oid: int) -> None:
        found = flow.find_again(gray, obj.ref_gray, obj.ref_core, self.cfg.match_accept)
        if found is None:
            return
        x, y, _ = found
        motion = flow.translation(x, y)
        if self._on_other(obj, motion, oid, gray.shape):
            return  # that is another tracked object (a twin), not this one
        got = flow.ecc_align(obj.ref_gray, gray, motion, flow.warp_affine(
            obj.ref_mask, motion, gray.shape) >= 0.5, self.cfg.ecc_iterations) if self.cfg.ecc else None
        if got is not None and got[1] >= 0.7:
            motion = got[0]
        log.debug("object %d re-acquired at (%d, %d), score %.2f", oid, x, y, found[2])
        obj.motion, obj.lost = motion, False
        obj.velocity = flow.translation(0, 0)

    def _result(
        self, image: np.ndarray, vis: np.ndarray | None, score: float, full_hw: tuple[int, int]
    ) -> ObjectResult:
        if vis is None:
            return ObjectResult(np.zeros(full_hw, bool), 0.0, False)
        if self.cfg.scale != 1.0:
            h, w = full_hw
            vis = cv2.resize(vis.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
        if self.cfg.snap:
            vis = flow.grabcut_snap(image, vis.astype(np.float32), erode_px=3, ring_px=8)
        return ObjectResult(vis, score, bool(vis.any()))


# The share of an object's given view that must be left, its rim eroded, to align it.
_ALIGN_SHARE = 0.15


def _eroded(mask: np.ndarray) -> np.ndarray:
    """``mask`` without its rim (a 3x3 erosion): what ECC aligns."""
    return cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def _area_scale(motion: np.ndarray) -> float:
    return float(abs(np.linalg.det(motion[:, :2])))


def _close(
    a: np.ndarray, b: np.ndarray, hw: tuple[int, int], last: np.ndarray, tol: float = 0.2
) -> bool:
    """Whether motion ``a`` moves the corners of an (h, w) crop within ``tol`` of its size of
    where ``b`` does, and keeps its size within 10% of the last frame's ``last``: ECC may
    slide onto a neighbour or shear wildly on a sliver; trust small changes only."""
    h, w = hw
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float32)
    diff = np.hypot(*(flow.apply(a, corners) - flow.apply(b, corners)).T)
    # Objects do not change size by more than a few percent between frames; ECC on a
    # weakly textured object can shrink or grow it while still correlating well.
    scale = np.sqrt(_area_scale(a) / max(_area_scale(last), 1e-9))
    return bool(diff.max() < tol * max(h, w) + 3 and abs(scale - 1) < 0.1)


def _appearance_cost(obj: _Obj, blur: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Per-pixel mismatch (mean abs RGB, smoothed) between the image and the object's
    reference warped to where we think it is, inside ``box``, gain-matched (light).
    The reference is not blurred along the motion; the 7x7 smoothing of the difference
    absorbs part of a fast object's smear."""
    x0, y0, x1, y1 = box
    m = obj.motion.copy()
    m[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    tmpl = cv2.warpAffine(obj.ref_rgb, m, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(obj.ref_mask, m, size, flags=cv2.INTER_LINEAR)
    img = blur[y0:y1, x0:x1]
    inside = alpha >= 0.5
    if not inside.any():
        return np.full(alpha.shape, np.inf, np.float32)
    gain = np.median(img[inside], 0) / np.maximum(np.median(tmpl[inside], 0), 1.0)  # type: ignore[arg-type]  # numpy's stubs reject a float crop of unknown dtype
    d = np.abs(img - tmpl * np.clip(gain, 0.3, 3.0)).mean(-1)
    return cv2.blur(d, (7, 7))


def _inside(motion: np.ndarray, crop_hw: tuple[int, int], frame_hw: tuple[int, int]) -> bool:
    """Whether the crop, moved by ``motion``, lies inside the frame (not leaving it)."""
    h, w = crop_hw
    pts = flow.apply(motion, np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float32))
    fh, fw = frame_hw
    return bool((pts[:, 0] >= 0).all() and (pts[:, 0] <= fw).all() and (pts[:, 1] >= 0).all() and (pts[:, 1] <= fh).all())
