"""Weight-free propagation that re-segments every object on every frame.

A rigid warp of the first mask cannot follow a running dog or a rider's arms, so each
frame is segmented afresh from three kinds of evidence, added as log-odds and settled
by one graph cut per object:

1. where the object should be: the previous mask pulled along dense optical flow
   (current -> previous, DIS, started from where the object's last view matches best,
   so fast objects are found), as signed-distance log-odds: settled deep inside and far
   outside, open on the outline, which the image decides; parts narrower than that
   ramp count half (where a mask leaks along an edge of its own colours);
2. what it looks like: Lab colour histograms of the object and of the background
   around it, with bins spread over the colours the clip has (a dull clip's colours
   would share a few fixed bins). The object's model mixes the frame a person gave with
   recent frames (it adapts to light and pose without drifting to the background); the
   background's is the ring around the object, which changes as the camera moves;
3. how it moves: with the object, or with its surroundings (not counted just outside the
   outline, where the flow is smeared across it).

Where the flow there and back does not match (ground the object uncovers, a limb that
moved faster than the flow followed), 1. and 3. count half: the flow is no witness there.

A contrast-sensitive smoothness term (GrabCut's) snaps the cut to image edges
(``cut.py``). Nothing fixes the shape, so the mask can deform, grow, shrink and split.

The rigid engine runs alongside as a witness: while its alignment of the given view
holds, its outline replaces the warped one in 1. (a rigid object keeps its outline
instead of drifting; twins keep their identities; an object coming back into view is
found again by its search, even where the mask has meanwhile settled on something else).
The preview runs without the witness for speed, and only searches: while an object is
hidden or its mask is under half its given size, its given view is looked for over the
whole frame (``flow.find_again``), and a find counts as the witness's would.

An object is reported hidden only on evidence: its warped mask left the frame, what the
cut keeps let go of the frame's edge it was leaving by, or the cut keeps nothing of it,
or keeps, away from the frame's edges, a scrap under half the object's given size that
hardly looks like the object as given (ground left behind as it shrank out of sight).
A frame's score is the weakest agreement of the warped mask and the cut on the way to it
from the frame a person gave (or where the object came back into view): each mask is
built on the one before, so a step where tracking slipped spoils every frame after it,
and a later step that agrees again does not repair it.
docs/tracker.md has the measurements.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from samvid.tracker import flow
from samvid.tracker.cues import ColourBins, colour_odds, histogram, motion_cue, object_size, shape_prior, soft
from samvid.tracker.cut import contrast_links, min_cut
from samvid.tracker.engine import Engine, ObjectResult, TrackState
from samvid.tracker.flow_engine import MODES as RIGID_MODES
from samvid.tracker.flow_engine import _FlowRun
from samvid.tracker.masks import bbox, grow_box, touched_edges
from samvid.tracker.metrics import region_iou

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class SegmentSettings:
    preset: str = "medium"  # DIS preset
    max_side: int = 960  # frames larger than this (long side) are processed downscaled
    # An object given on the walk's first frame smaller than this (px at the downscaled
    # size) runs the clip at the size where it has this many, at most twice the usual
    # scale (and the frame's own size): downscaled, a dot of a pixel or two blurs into its
    # background, the cut drops it and it is lost from the next frame on. The bound keeps
    # one stray region from making every frame cost many times more. 0: never.
    min_object_px: int = 16
    prior_weight: float = 1.0  # weight of the shape prior's log-odds
    colour_weight: float = 1.0  # weight of the colour log-odds
    smoothness: float = 2.0  # pairwise weight of the graph cut (log-odds units)
    blur: float = 0.06  # the shape prior's ramp, as a fraction of the object's size (sqrt of area)
    memory: float = 0.3  # weight of the newest frame in the running object/background models
    given_share: float = 0.5  # share of the given frame(s) in the object's colour model
    motion_weight: float = 1.0  # weight of "moves like the object, not like its surroundings"
    motion_fade: bool = True  # fade that cue outside the outline over the shape prior's ramp
    rigid: bool = True  # also align the given view rigidly; use it while it holds
    lock: float = 0.9  # ECC correlation above which the rigid alignment holds outright (if it stands out at all)
    unmatched: float = 0.5  # weight of the flow's evidence where forward and backward flow disagree (1: no check)
    thin: float = 0.5  # weight of the shape prior on the prior shape's parts narrower than its ramp (1: full)
    # ECC iterations of the witness's alignment and re-detection. Where an object deforms
    # ECC never converges and runs them all, every frame; 20 instead of the rigid
    # engine's 40 left every J&F of the real clips as it was (docs/tracker.md, Speed).
    witness_ecc_iterations: int = 20


MODES = {
    "quality": SegmentSettings(),
    # The rigid alignment (ECC, re-detection) costs more than all the rest together, so
    # the preview runs without it; its graph cut costs a sixth of its speed and wins
    # 0.027 J&F on the real clips (docs/tracker.md). Fading the motion cue at the outline
    # lost on real video, with the cut and without it.
    # Doubting the prior's thin parts, which `flow` gains by, lost here on real video
    # (0.804 -> 0.788 J&F, most of it the dog: 0.669 -> 0.562).
    # No raise for a tiny object: a 2 px dot took a 4K preview from 480 px to the full frame.
    "preview": SegmentSettings(preset="ultrafast", max_side=480, rigid=False, motion_fade=False, thin=1.0,
                               min_object_px=0),
}


@dataclass(frozen=True)
class _View:
    """An object as a person gave it, to find it again where no rigid witness runs."""

    gray: np.ndarray  # float32 crop of the frame around the mask (working resolution)
    mask: np.ndarray  # bool crop
    core: np.ndarray  # the mask without its rim (``flow.template_core``)

    @classmethod
    def of(cls, gray: np.ndarray, mask: np.ndarray) -> _View:
        x0, y0, x1, y1 = grow_box(bbox(mask) or (0, 0, 1, 1), 6, mask.shape)
        crop = mask[y0:y1, x0:x1]
        return cls(gray[y0:y1, x0:x1].astype(np.float32), crop, flow.template_core(crop))


@dataclass
class _Object:
    mask: np.ndarray  # bool, working resolution, last frame (may be empty when hidden)
    fg_given: np.ndarray  # colour histogram of the given frame(s)
    fg_recent: np.ndarray  # running colour histogram of the object on recent frames
    bg: np.ndarray  # running colour histogram of the background around it
    velocity: tuple[float, float] = (0.0, 0.0)  # px/frame, of its centroid
    trust: float = 1.0  # the weakest step agreement since it was given or came into view
    view: _View | None = None  # set where no rigid witness runs (preview)
    # How far the mask reached into the frame from each edge it touches (left, top,
    # right, bottom) on the frame it began touching it; 0 where it does not touch.
    crossing: tuple[int, int, int, int] = (0, 0, 0, 0)
    # How much the mask stood out from its surroundings in colour on that frame.
    crossing_contrast: float = 0.0
    # Its size (px, working resolution) and how much it stood out from its surroundings
    # by its own colours on the frame a person gave. The size is kept here, not only in
    # ``view``'s mask, because the view exists only where no rigid witness runs.
    given_size: int = 0
    given_contrast: float = 0.0

    def fg(self, share: float) -> np.ndarray:
        return share * self.fg_given + (1 - share) * self.fg_recent


class SegmentEngine(Engine):
    """Weight-free propagation by per-frame re-segmentation; ``mode``: quality or preview."""

    def __init__(self, mode: str = "quality", settings: SegmentSettings | None = None) -> None:
        self.settings = settings or MODES[mode]
        self.name = f"flow-{mode}" if settings is None else "flow"

    def _new_run(self, state: TrackState) -> _SegmentRun:
        rigid = None
        if self.settings.rigid:
            r = replace(RIGID_MODES["quality"], ecc_iterations=self.settings.witness_ecc_iterations)
            rigid = _FlowRun(r, flow.dis(r.preset))
        return _SegmentRun(self.settings, flow.dis(self.settings.preset), rigid)


def _ring(mask: np.ndarray, width: int) -> np.ndarray:
    """Pixels outside ``mask`` within ``width`` of it (a distance transform: a dilation
    by a disk this wide costs seconds on a large object)."""
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    return (dist > 0) & (dist <= width)


def _around(mask: np.ndarray, size: float) -> np.ndarray:
    """``mask`` and a band around it a tenth of the object's ``size`` wide (at least 4 px)."""
    return mask | _ring(mask, max(4, int(0.1 * size)))


def _flow_start(where: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """An initial flow for DIS: ``shift`` at ``where``, zero elsewhere."""
    start = np.zeros((*where.shape, 2), np.float32)
    start[where] = shift
    return start


@dataclass
class _SegmentRun:
    cfg: SegmentSettings
    dis: cv2.DISOpticalFlow
    rigid: _FlowRun | None = None  # the rigid engine, run alongside as a witness
    objs: dict[int, _Object] = field(default_factory=dict)
    prev_gray: np.ndarray | None = None
    scale: float = 1.0
    colours: ColourBins | None = None  # fixed on the run's first frame

    def step(self, index: int, image: np.ndarray, given: dict[int, np.ndarray]) -> dict[int, ObjectResult]:
        h, w = image.shape[:2]
        if self.prev_gray is None:
            self.scale = min(1.0, self.cfg.max_side / max(h, w))
            areas = [a for a in (np.count_nonzero(m >= 0.5) for m in given.values()) if a]
            if areas and min(areas) * self.scale**2 < self.cfg.min_object_px:
                # Only as much larger as the smallest object needs, and at most twice: a 4K
                # run at full size for one small object cost 3 to 6 times a frame's work.
                self.scale = min(1.0, 2 * self.scale, (self.cfg.min_object_px / min(areas)) ** 0.5)
        img = self._work(image)
        gray = flow.to_gray(img)
        if self.colours is None:
            self.colours = ColourBins.of(img)
        bins = self.colours(img)
        probs: dict[int, np.ndarray] = {}
        scores: dict[int, float] = {}
        locked: dict[int, tuple[np.ndarray, bool]] = {}
        if self.rigid is not None:
            for o, r in self.rigid.step(index, image, given).items():
                robj = self.rigid.objs[o]
                hidden = o in self.objs and not self.objs[o].mask.any()
                if o not in given and r.visible and (robj.confirmed or robj.lock >= self.cfg.lock or hidden):
                    locked[o] = (self._work_mask(r.mask), robj.lock >= self.cfg.lock)
        if self.rigid is None and self.prev_gray is not None:
            for o in self.objs:
                if o not in given and (found := self._find_again(o, gray)) is not None:
                    locked[o] = (found, False)
        for o, obj in self.objs.items():
            if o in given or self.prev_gray is None:
                continue
            got = self._segment(obj, img, gray, bins, locked.get(o))
            if got is not None:
                probs[o], scores[o] = got
        out: dict[int, ObjectResult] = {}
        taken = np.zeros((h, w), bool)  # pixels an object already owns at full size
        for given_mask in given.values():
            taken |= given_mask  # a person gave these to an object on this frame: no other may have them
        owned = _owned(probs)
        for o in list(self.objs) + [o for o in given if o not in self.objs]:
            if o in given:
                m = self._work_mask(given[o])
                if not m.any():
                    # Thinner than the downscale (a wire on a 4K frame): at half cover
                    # it would vanish, and the object with it, for the rest of the walk.
                    m = self._work(given[o].astype(np.float32)) > 0
                self._learn(o, m, bins, given=True)
                if self.rigid is None and m.any():
                    self.objs[o].view = _View.of(gray, m)
                out[o] = ObjectResult(given[o], 1.0, True)
                continue
            obj = self.objs[o]
            if o not in probs:
                obj.mask, obj.trust = np.zeros_like(obj.mask), 1.0
                out[o] = ObjectResult(np.zeros((h, w), bool), 0.0, False)
                continue
            m = _clean(owned[o])
            if (_left_by_edge(obj.mask, m, obj.crossing) or self._faded_at_edge(obj, m, bins)
                    or self._faded_away(obj, m, bins)):
                m = np.zeros_like(m)
            began = not any(obj.crossing)
            obj.crossing = _crossing(obj.crossing, m)
            if began and any(obj.crossing):
                obj.crossing_contrast = _stands_out(obj.fg(self.cfg.given_share), obj.bg, bins, m)
            self._learn(o, m, bins, given=False)
            full = self._full(m, (h, w)) & ~taken  # upscaled outlines can meet on a pixel
            taken |= full
            seen = bool(full.any())
            obj.trust = min(obj.trust, scores[o]) if seen else 1.0
            out[o] = ObjectResult(full, obj.trust if seen else 0.0, seen)
        self.prev_gray = gray
        return out

    # ------------------------------------------------------------ resolution
    def _work(self, a: np.ndarray) -> np.ndarray:
        if self.scale == 1.0:
            return a
        h, w = a.shape[:2]
        # A side that would round to nothing (a frame 1 px high and wide enough to be
        # scaled down) keeps one pixel.
        size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
        return cv2.resize(a, size, interpolation=cv2.INTER_AREA)

    def _work_mask(self, m: np.ndarray) -> np.ndarray:
        return self._work(m.astype(np.float32)) >= 0.5 if self.scale != 1.0 else m.astype(bool)

    def _full(self, m: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        if self.scale == 1.0:
            return m
        h, w = hw
        return cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5

    # ------------------------------------------------------------ models
    def _learn(self, o: int, mask: np.ndarray, bins: np.ndarray, given: bool) -> None:
        """Update object ``o``'s colour models and motion from its mask on this frame."""
        obj = self.objs.get(o)
        if not mask.any():
            if obj is not None:
                obj.mask = mask
            return
        # Colours are learnt away from the outline, where a mask error of a few pixels
        # would teach the object's model the background's colours (and so on, frame
        # after frame) -- except from a given mask, which is right to the edge.
        size = object_size(mask)
        gap = 0 if given else max(2, int(0.05 * size))
        dist_in = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
        dist_out = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
        core = dist_in > gap
        if core.sum() < 0.25 * mask.sum():
            core = mask
        ring = (dist_out > gap) & (dist_out <= gap + max(8, int(0.5 * size)))
        fg = histogram(bins[core], np.ones(int(core.sum())))
        bg = histogram(bins[ring], np.ones(int(ring.sum())))
        if obj is None or given:
            old = obj
            obj = self.objs[o] = _Object(mask, fg, fg, bg if old is None else _mix(old.bg, bg, 0.5))
            if old is not None:
                # A correction: its view replaces the given one; the recent one restarts.
                obj.velocity = old.velocity
            obj.given_size = int(mask.sum())
            obj.given_contrast = _stands_out(obj.fg_given, obj.bg, bins, mask)
        else:
            a = self.cfg.memory
            obj.fg_recent = _mix(obj.fg_recent, fg, a)
            obj.bg = _mix(obj.bg, bg, a)
            m0 = _centroid(obj.mask)
            m1 = _centroid(mask)
            if m0 is not None and m1 is not None:
                obj.velocity = (m1[0] - m0[0], m1[1] - m0[1])
            obj.mask = mask

    def _segment(
        self, obj: _Object, img: np.ndarray, gray: np.ndarray, bins: np.ndarray,
        rigid: tuple[np.ndarray, bool] | None = None,
    ) -> tuple[np.ndarray, float] | None:
        """The object's probability map on this frame (full working size), and its score;
        None when it is not in view."""
        assert self.prev_gray is not None
        # An empty view from the rigid search (an object of a pixel or two, lost in the
        # downscale) is no view of it: taken for one, the object had no box.
        seen = rigid is not None and bool(rigid[0].any())
        if not obj.mask.any():
            if not seen:
                return None  # hidden, and the rigid search has not found it again
            assert rigid is not None
            obj.mask = rigid[0]  # found again
        elif seen and rigid is not None and self._found_elsewhere(obj, rigid[0], bins):
            obj.mask = rigid[0]
        hw = gray.shape
        box = bbox(obj.mask)
        assert box is not None
        size = object_size(obj.mask)
        vx, vy = obj.velocity
        margin = int(0.5 * size + 1.5 * np.hypot(vx, vy) + 16)
        x0, y0, x1, y1 = grow_box(box, margin, hw)
        # Backward flow (current -> previous), started where the object's last view best
        # matches (DIS alone loses parts that move tens of pixels a frame).
        dx, dy = self._shift(obj, gray, box, (vx, vy), margin)
        moved = np.zeros(hw, np.uint8)
        moved[obj.mask] = 1
        moved = cv2.warpAffine(moved, flow.translation(dx, dy), (hw[1], hw[0]))
        init = _flow_start(_around(moved > 0, size)[y0:y1, x0:x1], (-dx, -dy))
        back = flow.dense_flow(gray[y0:y1, x0:x1], self.prev_gray[y0:y1, x0:x1], self.dis, init)
        # Pull the previous mask from anywhere in the frame, not only inside the box.
        xx, yy = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        prev = soft(obj.mask, 1.0)
        if prev.max() < 0.5:
            # The blur would take the whole object under half (a line one or two pixels
            # wide, a dot): it would read as gone on a frame where nothing moved.
            prev = np.maximum(prev, obj.mask)
        warped = cv2.remap(prev, xx + back[..., 0], yy + back[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if warped.max() < 0.5:
            return None  # it left the frame
        sigma = self.cfg.blur * size
        fg, bg = obj.fg(self.cfg.given_share), obj.bg
        colour = colour_odds(fg, bg, bins[y0:y1, x0:x1])
        carried = warped >= 0.5  # the previous mask, where the flow carries it
        shape = carried
        if rigid is not None:
            # The given view aligned onto this frame: its outline does not drift as the
            # warped one does. It is the prior while it holds (ECC lock), or while it
            # stands out from its surroundings at least as well as the warped one.
            aligned, locked = rigid
            aligned = aligned[y0:y1, x0:x1]
            fit = _contrast(colour, aligned, size)
            # A lock is no witness on a shape that looks less like the object than its
            # surroundings do (ECC can lock on a sliver of low-contrast footage).
            if (locked and fit > 0) or fit >= _contrast(colour, shape, size):
                shape = aligned
        # A part of the prior shape narrower than its ramp is where a mask leaks along an
        # edge of its own colours (a guardrail behind a bike): carried at full weight, the
        # prior would keep it frame after frame, and it grows (docs/tracker.md).
        prior = self.cfg.prior_weight * shape_prior(shape, sigma, thin=self.cfg.thin)
        motion = np.zeros_like(prior)
        if self.cfg.motion_weight:
            fade = sigma if self.cfg.motion_fade else 0.0
            motion = self.cfg.motion_weight * motion_cue(back, carried, fade)
        if self.cfg.unmatched < 1:
            # Where the flow back and forth does not match, it is no witness of where the
            # object went or how it moves (the ground a running dog uncovers, a head that
            # moved faster than the flow followed): colour has more say there.
            start = _flow_start(_around(obj.mask[y0:y1, x0:x1], size), (dx, dy))
            forward = flow.dense_flow(self.prev_gray[y0:y1, x0:x1], gray[y0:y1, x0:x1], self.dis, start)
            doubt = flow.unmatched(back, forward)
            motion[doubt] *= self.cfg.unmatched
            if shape is carried:  # the rigid witness's shape does not come from the flow
                prior[doubt] *= self.cfg.unmatched
        unary = prior + motion + self.cfg.colour_weight * colour
        cut = min_cut(contrast_links(img[y0:y1, x0:x1], self.cfg.smoothness), -unary)
        prob = np.zeros(hw, np.float32)
        crop = np.where(cut, 1 / (1 + np.exp(-np.clip(unary, -8, 8))), 0.0)
        prob[y0:y1, x0:x1] = np.maximum(crop, cut * 0.5 + 1e-3)
        return prob, region_iou(carried, cut)

    def _faded_at_edge(self, obj: _Object, m: np.ndarray, bins: np.ndarray) -> bool:
        """Whether what the cut keeps of an object crossing the frame's edge is ground it
        left behind, still touching that edge: it reaches in under half as far as when the
        object began crossing, and stands out from its surroundings under half as much.
        An object partly out of view keeps its colours; a scrap of ground does not."""
        if not m.any() or obj.crossing_contrast <= 0:
            return False
        crossed = [k for k, c in enumerate(obj.crossing) if c]
        touches = touched_edges(m)
        if not crossed or not all(touches[k] for k in crossed):
            return False
        reach = _reach(m)
        if not all(reach[k] < 0.5 * obj.crossing[k] for k in crossed):
            return False
        return _stands_out(obj.fg(self.cfg.given_share), obj.bg, bins, m) < 0.5 * obj.crossing_contrast

    def _faded_away(self, obj: _Object, m: np.ndarray, bins: np.ndarray) -> bool:
        """Whether what the cut keeps of an object away from the frame's edges is ground it
        left behind as it shrank to nothing: under half the object's size on the frame a
        person gave, and standing out from its surroundings, by the colours it had there,
        under a quarter as much as it did there. A mask part object, part ground stands
        out about as much as the object's share of it, so it is then mostly ground; a
        small object still in view keeps its colours. The running colour model cannot
        judge this: it learns the scrap, which then stands out more frame after frame."""
        if not m.any() or obj.given_contrast <= 0 or any(touched_edges(m)):
            return False
        if m.sum() >= 0.5 * obj.given_size:
            return False
        return _stands_out(obj.fg_given, obj.bg, bins, m) < 0.25 * obj.given_contrast

    def _find_again(self, o: int, gray: np.ndarray) -> np.ndarray | None:
        """Where the object is, by its given view matched over the whole frame, while it is
        hidden or its mask is under half its given size (a scrap of ground it left behind)
        and no longer touches an edge it was crossing: the rigid witness's search, for the
        engine that runs without the witness. The halves of the view (an object coming
        back across an edge) are matched only while it is hidden: they match textured
        ground too. None when no match is good enough, or the match sits mostly on another
        tracked object (a twin)."""
        obj = self.objs[o]
        if obj.view is None or obj.mask.sum() >= 0.5 * obj.given_size:
            return None
        if any(c and t for c, t in zip(obj.crossing, touched_edges(obj.mask))):
            return None  # it is small because it is crossing the frame's edge, not lost
        accept = RIGID_MODES["preview"].match_accept
        if obj.mask.any():  # in view somewhere: its whole view only
            found = flow.find_template(gray, obj.view.gray, obj.view.core)
            found = found if found is not None and found[2] >= accept else None
        else:
            found = flow.find_again(gray, obj.view.gray, obj.view.core, accept)
        if found is None:
            return None
        shape = flow.warp_affine(obj.view.mask, flow.translation(found[0], found[1]), gray.shape) >= 0.5
        others = sum((p.mask & shape).sum() for k, p in self.objs.items() if k != o)
        return shape if shape.any() and others <= 0.5 * shape.sum() else None

    def _found_elsewhere(self, obj: _Object, aligned: np.ndarray, bins: np.ndarray) -> bool:
        """Whether the rigid search found the object away from its tracked mask, the
        mask is under half the object's size there, and that place looks more like the
        object: it came back into view while the mask held on to a scrap of ground
        where it left."""
        if not aligned.any() or (aligned & obj.mask).any() or obj.mask.sum() >= 0.5 * aligned.sum():
            return False
        fg, bg = obj.fg(self.cfg.given_share), obj.bg
        return _stands_out(fg, bg, bins, aligned) > _stands_out(fg, bg, bins, obj.mask)

    def _shift(
        self, obj: _Object, gray: np.ndarray, box: tuple[int, int, int, int],
        velocity: tuple[float, float], margin: int,
    ) -> tuple[float, float]:
        """The object's translation since the last frame: its last view (masked) matched
        around its last place; its velocity when the match is weak."""
        assert self.prev_gray is not None
        x0, y0, x1, y1 = box
        sx0, sy0, sx1, sy1 = grow_box(box, margin, gray.shape)
        found = flow.find_template(
            gray[sy0:sy1, sx0:sx1], self.prev_gray[y0:y1, x0:x1], obj.mask[y0:y1, x0:x1], step=2
        )
        if found is None or found[2] < 0.5:
            return velocity
        return float(found[0] + sx0 - x0), float(found[1] + sy0 - y0)


def _band_width(size: float) -> int:
    """Width of the band around a shape that ``_contrast`` compares it with."""
    return max(3, int(0.15 * size))


def _contrast(colour: np.ndarray, shape: np.ndarray, size: float) -> float:
    """How much more object-like (colour log-odds) ``shape`` is inside than in a band
    around it: the better a shape hypothesis fits the image, the higher."""
    if not shape.any():
        return -np.inf
    band = _ring(shape, _band_width(size))
    outside = float(colour[band].mean()) if band.any() else 0.0
    return float(colour[shape].mean()) - outside


def _reach(mask: np.ndarray) -> tuple[int, int, int, int]:
    """How far ``mask`` reaches into the frame from its left, top, right and bottom edges."""
    box = bbox(mask)
    if box is None:
        return 0, 0, 0, 0
    x0, y0, x1, y1 = box
    h, w = mask.shape
    return x1, y1, w - x0, h - y0


def _crossing(before: tuple[int, int, int, int], mask: np.ndarray) -> tuple[int, int, int, int]:
    """For each edge ``mask`` touches, how far it reached in on the frame it began touching
    it (``before`` keeps that while it touches); 0 for the others."""
    left, top, right, bottom = (
        then or now if touches else 0 for then, now, touches in zip(before, _reach(mask), touched_edges(mask))
    )
    return left, top, right, bottom


def _left_by_edge(before: np.ndarray, after: np.ndarray, crossing: tuple[int, int, int, int]) -> bool:
    """Whether an object crossing the frame's edge has left: what the cut keeps has let
    go of every edge it was crossing, and either shrunk to under half in one frame, or
    reaches in from each of those edges under half as far as it did when it began
    crossing it (it slid out over several frames). An object in view does not let go of
    the edge while it shrinks (its visible part ends there); what stays behind is a scrap
    of ground that the shape prior holds on to. An object coming in reaches further in
    as it comes, and one that moves away from the camera moves away from the edge."""
    was = touched_edges(before)
    if not any(was) or not after.any():
        return False
    now = touched_edges(after)
    if any(a and b for a, b in zip(was, now)):
        return False
    if after.sum() < 0.5 * before.sum():
        return True
    return all(now_in < 0.5 * then for now_in, then, crossed in zip(_reach(after), crossing, was) if crossed)


def _stands_out(fg: np.ndarray, bg: np.ndarray, bins: np.ndarray, shape: np.ndarray) -> float:
    """``_contrast`` of ``shape`` on its own crop of the frame."""
    size = object_size(shape)
    box = bbox(shape)
    assert box is not None
    x0, y0, x1, y1 = grow_box(box, _band_width(size) + 1, shape.shape)  # room for the band
    return _contrast(colour_odds(fg, bg, bins[y0:y1, x0:x1]), shape[y0:y1, x0:x1], size)


def _mix(old: np.ndarray, new: np.ndarray, a: float) -> np.ndarray:
    return (1 - a) * old + a * new


def _centroid(mask: np.ndarray) -> tuple[float, float] | None:
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    if m["m00"] == 0:
        return None
    return m["m10"] / m["m00"], m["m01"] / m["m00"]


def _owned(probs: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Each object's pixels: where objects' cuts overlap, the more probable one wins; a
    pixel no object has over a quarter of is nobody's. By position, not by object id: an
    id 0 would read as "nobody" and take the background, one past int32 would not fit."""
    if not probs:
        return {}
    stack = np.stack(list(probs.values()))
    best = np.argmax(stack, 0)
    claimed = stack.max(0) > 0.25
    return {o: claimed & (best == k) for k, o in enumerate(probs)}


def _clean(mask: np.ndarray) -> np.ndarray:
    """Drop specks and fill pinholes the cut leaves."""
    if not mask.any():
        return mask
    mask = _near_parts(mask)
    holes = ~mask
    n, lab, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
    small = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < 0.002 * mask.sum() + 4) + 1
    return mask | np.isin(lab, small)


def _near_parts(mask: np.ndarray, gap: float = 0.15, big: float = 0.5) -> np.ndarray:
    """The largest part of ``mask`` and every other part that is large (``big`` x its
    area) or close to it (within ``gap`` x the object's size): a thin occluder (a pole)
    splits an object into nearby parts, while a leak into the background left behind
    as the object moves away is a far-off fragment."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask.astype(bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    main = 1 + int(np.argmax(areas))
    dist = cv2.distanceTransform((lab != main).astype(np.uint8), cv2.DIST_L2, 3)
    reach = gap * np.sqrt(areas.sum()) + 2
    keep = [k for k in range(1, n) if k == main or stats[k, cv2.CC_STAT_AREA] >= big * areas.max()
            or dist[lab == k].min() <= reach]
    return np.isin(lab, keep)
