"""Flow-guided re-prompting for image-only SAM models (SAM ViT-B/L/H, or any Segmenter).

Each frame: warp the previous mask with dense optical flow, turn the warp into a
prompt (its box and a positive click deep inside it), and let the segmenter cut the
object anew; when the segmenter's own score says it failed, or its mask strays far
from the warp, keep the warped mask instead. One image embedding per frame is shared
by every object. An object that was hidden (it left the frame) is looked for by its
given view, and is back where the segmenter cuts it there. Each pixel goes to one
object, and a person's masks on a frame to the objects they were given to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from samvid.core.prompts import Prompt
from samvid.core.segmenter import Segmenter
from samvid.tracker import flow
from samvid.tracker.bridge import one_owner
from samvid.tracker.engine import Engine, ObjectResult, TrackState
from samvid.tracker.masks import bbox, grow_box, iou, touched_edges

MIN_SCORE = 0.5  # below this predicted IoU the segmenter's mask is not trusted
MIN_AGREEMENT = 0.5  # IoU with the warp below which the segmenter has jumped elsewhere
MATCH_ACCEPT = 0.6  # template correlation to look for a hidden object there (the flow engine's)
SEARCH_SIDE = 480  # long side (px) of the frame a hidden object is looked for on


def prompt_from_mask(mask: np.ndarray, margin: float = 0.1) -> Prompt | None:
    """A box around ``mask`` grown by ``margin`` of its size (the warp may fall short of
    the object, and a segmenter cannot reach outside its box) and a positive click at the
    mask's most interior pixel.

    >>> m = np.zeros((20, 20), bool); m[5:15, 4:14] = True
    >>> prompt_from_mask(m).box
    (3.0, 4.0, 15.0, 16.0)
    """
    box = bbox(mask)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    h, w = mask.shape
    pad_x, pad_y = max(1.0, margin * (x1 - x0)), max(1.0, margin * (y1 - y0))
    grown = (max(0.0, x0 - pad_x), max(0.0, y0 - pad_y), min(float(w), x1 + pad_x), min(float(h), y1 + pad_y))
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    y, x = np.unravel_index(int(np.argmax(inside)), inside.shape)
    return Prompt(points=((x + 0.5, y + 0.5),), labels=(1,), box=grown)


@dataclass(frozen=True)
class _View:
    """An object as a person gave it, to find it again once it was hidden. It is looked
    for on the frame brought down to ``SEARCH_SIDE``: over a whole 1080p frame the search
    costs about a second an object."""

    mask: np.ndarray  # bool crop, full resolution
    scale: float  # of the search
    gray: np.ndarray  # float32 crop of the frame at the search's scale
    core: np.ndarray  # its mask without the rim (``flow.template_core``), same scale

    @classmethod
    def of(cls, gray: np.ndarray, mask: np.ndarray) -> _View:
        x0, y0, x1, y1 = grow_box(bbox(mask) or (0, 0, 1, 1), 6, mask.shape)
        crop = mask[y0:y1, x0:x1]
        scale = search_scale(gray.shape)
        small = _scaled(gray, scale)[round(y0 * scale):round(y1 * scale), round(x0 * scale):round(x1 * scale)]
        if not small.size:  # a speck on a 4K frame rounds to nothing: it cannot be looked for
            return cls(crop, scale, small.astype(np.float32), np.zeros(small.shape, bool))
        small_mask = cv2.resize(crop.astype(np.float32), (small.shape[1], small.shape[0]),
                                interpolation=cv2.INTER_AREA) >= 0.5
        return cls(crop, scale, small.astype(np.float32), flow.template_core(small_mask))

    def find(self, gray: np.ndarray) -> np.ndarray | None:
        """Where the view matches ``gray`` (the whole frame), as a full-size mask; None when
        nothing matches well enough."""
        if self.core.size == 0 or not self.core.any():
            return None
        found = flow.find_again(_scaled(gray, self.scale), self.gray, self.core, MATCH_ACCEPT)
        if found is None:
            return None
        # The crop's corner in the search, brought back to full resolution.
        x, y = found[0] / self.scale, found[1] / self.scale
        return flow.warp_affine(self.mask, flow.translation(x, y), gray.shape) >= 0.5


def search_scale(shape: tuple[int, ...]) -> float:
    return min(1.0, SEARCH_SIDE / max(shape[:2]))


def _scaled(gray: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return gray
    h, w = gray.shape[:2]
    return cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


class GuidedEngine(Engine):
    """Optical flow proposes, the segmenter disposes."""

    name = "guided"
    has_model = True

    def __init__(self, segmenter: Segmenter, preset: str = "medium") -> None:
        self.segmenter = segmenter
        self.preset = preset

    def _new_run(self, state: TrackState) -> _GuidedRun:
        return _GuidedRun(self.segmenter, flow.dis(self.preset))


@dataclass
class _GuidedRun:
    segmenter: Segmenter
    dis: cv2.DISOpticalFlow
    prev: np.ndarray | None = None
    masks: dict[int, np.ndarray] = field(default_factory=dict)
    # Each object's area on the frame its mask began touching the frame's edge, while it does.
    edge_area: dict[int, int] = field(default_factory=dict)
    views: dict[int, _View] = field(default_factory=dict)  # each object as last given

    def step(self, index: int, image: np.ndarray, given: dict[int, np.ndarray]) -> dict[int, ObjectResult]:
        gray = flow.to_gray(image)
        results: dict[int, ObjectResult] = {}
        embedded: list[Any] = []  # the frame's embedding: made once, and only if a cut needs it

        def cut_of(prompt: Prompt) -> Any:
            if not embedded:
                embedded.append(self.segmenter.embed(image))
            return self.segmenter.segment(embedded[0], prompt)

        if self.prev is not None and self.masks:
            back = flow.dense_flow(gray, self.prev, self.dis)
            for obj, previous in self.masks.items():
                warped = flow.warp_backward(previous, back) >= 0.5
                prompt = prompt_from_mask(warped)
                if prompt is None:  # left the frame: empty, not stale
                    results[obj] = ObjectResult(warped, 0.0, False)
                    continue
                cut = cut_of(prompt)
                if cut.score >= MIN_SCORE and iou(cut.mask, warped) >= MIN_AGREEMENT:
                    results[obj] = ObjectResult(cut.mask, float(cut.score), True)
                elif cut.score < MIN_SCORE and any(touched_edges(warped)) and warped.sum() < 0.5 * self.edge_area.get(obj, 0):
                    # The segmenter sees no object where the warp, under half the size it had
                    # when it began crossing the frame's edge, still reaches it: the object went
                    # out by that edge (the flow engine's half). The warp of the still ground it
                    # left would stay there for good (flow carries ground nowhere).
                    results[obj] = ObjectResult(np.zeros_like(warped), 0.0, False)
                else:
                    results[obj] = ObjectResult(warped, float(cut.score), True)
        if self.prev is not None:
            # A hidden object has no warp to follow: its given view is looked for over the
            # frame, and where the segmenter cuts the object there, it is back.
            for obj, view in self.views.items():
                if obj in self.masks or obj in given:
                    continue
                shape = view.find(gray)
                if shape is None:
                    continue
                others = sum(int((r.mask & shape).sum()) for r in results.values() if r.visible)
                prompt = prompt_from_mask(shape)
                if prompt is None or others > 0.5 * shape.sum():  # on another object: its twin
                    continue
                cut = cut_of(prompt)
                if cut.score >= MIN_SCORE and iou(cut.mask, shape) >= MIN_AGREEMENT:
                    results[obj] = ObjectResult(cut.mask, float(cut.score), True)
        taken = np.zeros(gray.shape, bool)
        for obj, mask in given.items():
            results[obj] = ObjectResult(np.asarray(mask, bool), 1.0, True)
            taken |= results[obj].mask
            self.edge_area.pop(obj, None)
            self.views[obj] = _View.of(gray, results[obj].mask)
        # A person gave these pixels to an object on this frame: no tracked object keeps
        # them. And each cut came from its own box, which may reach over a neighbour: a
        # pixel two tracked objects claim goes to one (bridge's rule for merged ends).
        tracked = [o for o, r in results.items() if o not in given and r.visible]
        if tracked:
            owned = one_owner(np.stack([results[o].mask & ~taken for o in tracked]),
                              np.array([results[o].score for o in tracked]))
            for o, mask in zip(tracked, owned):
                results[o] = ObjectResult(mask, results[o].score, True) if mask.any() else ObjectResult(mask, 0.0, False)
        self.masks = {o: r.mask for o, r in results.items() if r.visible}
        for o, r in results.items():
            if r.visible and any(touched_edges(r.mask)):
                self.edge_area.setdefault(o, int(r.mask.sum()))
            else:
                self.edge_area.pop(o, None)
        self.prev = gray
        return results

