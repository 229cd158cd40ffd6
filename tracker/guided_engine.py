"""Flow-guided re-prompting for image-only SAM models (SAM ViT-B/L/H, or any Segmenter).

Each frame: warp the previous mask with dense optical flow, turn the warp into a
prompt (its box and a positive click deep inside it), and let the segmenter cut the
object anew; when the segmenter's own score says it failed, or its mask strays far
from the warp, keep the warped mask instead. One image embedding per frame is shared
by every object.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from samvid.core.prompts import Prompt
from samvid.core.segmenter import Segmenter
from samvid.tracker import flow
from samvid.tracker.engine import Engine, ObjectResult, TrackState
from samvid.tracker.masks import bbox, iou, touched_edges

MIN_SCORE = 0.5  # below this predicted IoU the segmenter's mask is not trusted
MIN_AGREEMENT = 0.5  # IoU with the warp below which the segmenter has jumped elsewhere


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

    def step(self, index: int, image: np.ndarray, given: dict[int, np.ndarray]) -> dict[int, ObjectResult]:
        gray = flow.to_gray(image)
        results: dict[int, ObjectResult] = {}
        if self.prev is not None and self.masks:
            back = flow.dense_flow(gray, self.prev, self.dis)
            embedding = None
            for obj, previous in self.masks.items():
                warped = flow.warp_backward(previous, back) >= 0.5
                prompt = prompt_from_mask(warped)
                if prompt is None:  # left the frame: empty, not stale
                    results[obj] = ObjectResult(warped, 0.0, False)
                    continue
                if embedding is None:
                    embedding = self.segmenter.embed(image)
                cut = self.segmenter.segment(embedding, prompt)
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
        for obj, mask in given.items():
            results[obj] = ObjectResult(np.asarray(mask, bool), 1.0, True)
            self.edge_area.pop(obj, None)
        self.masks = {o: r.mask for o, r in results.items() if r.visible}
        for o, r in results.items():
            if r.visible and any(touched_edges(r.mask)):
                self.edge_area.setdefault(o, int(r.mask.sum()))
            else:
                self.edge_area.pop(o, None)
        self.prev = gray
        return results

