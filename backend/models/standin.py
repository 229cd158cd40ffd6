"""A deterministic stand-in segmenter with exactly known output.

Used by tests and the browser end-to-end test, where no weights exist and mask
geometry must be asserted exactly: a box becomes the filled box, positive clicks
become disks of ``radius`` pixels, negative clicks cut disks out. It runs the
same code path as SAM (embedding cache, post-processing, Label Studio encoding).
"""

from __future__ import annotations

import numpy as np

from samvid.core.prompts import Prompt
from samvid.core.segmenter import Embedding, MaskPrediction, Segmenter


class StandInSegmenter(Segmenter):
    version = "samvid-standin"

    def __init__(self, radius: float = 20.0) -> None:
        self.radius = radius
        self.version = f"samvid-standin-r{radius:g}"

    def embed(self, image: np.ndarray) -> Embedding:
        h, w = image.shape[:2]
        return Embedding(model=self.version, image_size=(h, w))

    def segment(self, embedding: Embedding, prompt: Prompt) -> MaskPrediction:
        h, w = embedding.image_size
        ys, xs = np.mgrid[0:h, 0:w]
        cx, cy = xs + 0.5, ys + 0.5  # pixel centres
        mask = np.zeros((h, w), dtype=bool)
        if prompt.box is not None:
            x0, y0, x1, y1 = prompt.box
            mask |= (cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1)
        for (px, py), label in zip(prompt.points, prompt.labels):
            disk = (cx - px) ** 2 + (cy - py) ** 2 <= self.radius**2
            mask = mask | disk if label == 1 else mask & ~disk
        return MaskPrediction(mask=mask, score=1.0)
