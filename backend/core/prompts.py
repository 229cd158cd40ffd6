"""The prompt an annotator gives on one image: clicks and an optional box.

Coordinates are in pixels of the original image, x to the right, y down,
with pixel centres at integer + 0.5 (a click on the top-left pixel is (0.5, 0.5)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from samvid.core.errors import PromptError

MAX_POINTS = 64
# Per interactive request: each object is a mask made while a server thread waits. Propagation
# tracks at most as many at once (samvid.propagation.request.MAX_OBJECTS).
MAX_OBJECTS = 100
# How far past an edge a click may land and still count as on it, in pixels.
EDGE_SLACK = 0.5


@dataclass(frozen=True)
class Prompt:
    """Clicks (``labels`` 1 = positive, 0 = negative) and/or a box ``(x0, y0, x1, y1)``."""

    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: tuple[float, float, float, float] | None = None
    # Free-form provenance, e.g. the Label Studio label chosen with the prompt.
    meta: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        self._normalise()
        if len(self.points) != len(self.labels):
            raise PromptError("each click needs a label (positive or negative)")
        if not self.points and self.box is None:
            raise PromptError("give at least one click or a box")
        if len(self.points) > MAX_POINTS:
            raise PromptError(f"at most {MAX_POINTS} clicks per request, got {len(self.points)}")
        if self.points and not any(self.labels) and self.box is None:
            raise PromptError("only negative clicks: add a positive click or a box")

    def _normalise(self) -> None:
        """Store plain tuples of floats and ints, whatever sequences or NumPy values came in:
        a model turns labels into embedding indices (a float label crashes SAM 2), caches key
        on the box (a list cannot be hashed), and a NaN would pass every comparison."""
        try:
            points = tuple((float(x), float(y)) for x, y in self.points)
            box = None if self.box is None else tuple(float(v) for v in self.box)
        except (TypeError, ValueError):
            raise PromptError("a click is (x, y) and a box (x0, y0, x1, y1), in pixels") from None
        if box is not None and len(box) != 4:
            raise PromptError("a box is (x0, y0, x1, y1), in pixels")
        if not all(math.isfinite(v) for v in (*(c for p in points for c in p), *(box or ()))):
            raise PromptError("click and box coordinates must be finite numbers of pixels")
        labels = tuple(self.labels)
        if any(label not in (0, 1) for label in labels):
            raise PromptError("click labels must be 1 (positive) or 0 (negative)")
        if box is not None:  # a box dragged up or to the left has its corners the other way round
            x0, y0, x1, y1 = box
            box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "labels", tuple(int(label) for label in labels))
        object.__setattr__(self, "box", box)

    @property
    def positive_points(self) -> list[tuple[float, float]]:
        return [p for p, label in zip(self.points, self.labels) if label == 1]

    @property
    def negative_points(self) -> list[tuple[float, float]]:
        return [p for p, label in zip(self.points, self.labels) if label == 0]

    def validate_inside(self, width: int, height: int) -> None:
        """Raise PromptError unless every click and the box lie on the image.

        A click up to ``EDGE_SLACK`` px past an edge counts as on it: coordinates that
        travel as percent of the image come back a rounding residue off the edge
        (``clipped`` moves such a click onto it).
        """
        for x, y in self.points:
            if not (-EDGE_SLACK <= x <= width + EDGE_SLACK and -EDGE_SLACK <= y <= height + EDGE_SLACK):
                raise PromptError(
                    f"click at ({x:.1f}, {y:.1f}) px is outside the {width}x{height} image"
                )
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            if x1 <= x0 or y1 <= y0:
                raise PromptError("the box has zero area: drag a rectangle around the object")
            if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
                raise PromptError(f"the box lies outside the {width}x{height} image")

    def clipped(self, width: int, height: int) -> Prompt:
        """The same prompt on the image: the box clipped to it (boxes may overhang) and
        clicks within ``EDGE_SLACK`` past an edge moved onto the edge."""
        points = tuple(
            (min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))) for x, y in self.points
        )
        if self.box is None and points == self.points:
            return self
        box = self.box
        if box is not None:
            x0, y0, x1, y1 = box
            if x1 <= x0 or y1 <= y0:  # before clipping: a flat box on the image is not "outside" it
                raise PromptError("the box has zero area: drag a rectangle around the object")
            box = (max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))
            if box[2] <= box[0] or box[3] <= box[1]:  # wholly past an edge: turned inside out
                raise PromptError(f"the box lies outside the {width}x{height} image")
        return Prompt(points, self.labels, box, self.meta)


def check_object_count(count: int) -> None:
    """Refuse a request that makes more than ``MAX_OBJECTS`` objects: count them as made
    (clicks without a label and negative-only labels folded into the others), summed over
    every image and page of the request, before any image is read.

    >>> check_object_count(MAX_OBJECTS)
    >>> check_object_count(MAX_OBJECTS + 1)
    Traceback (most recent call last):
    ...
    samvid.core.errors.PromptError: at most 100 objects per request, got 101 (one per label on each image and page): accept or delete some of the smart regions
    """
    if count > MAX_OBJECTS:
        raise PromptError(f"at most {MAX_OBJECTS} objects per request, got {count} (one per label on "
                          "each image and page): accept or delete some of the smart regions")


def encoder_points(points: object, sx: float, sy: float) -> np.ndarray:
    """Clicks (pixels, centres at index + 0.5) as SAM's prompt encoders take them, (N, 2)
    float32: scaled by (sx, sy) to the model's input, less the 0.5 the encoder adds itself
    to reach a pixel's centre (it takes pixel indices). Box corners are edges: scaled only."""
    return (np.asarray(points, np.float32).reshape(-1, 2) * [sx, sy] - 0.5).astype(np.float32)
