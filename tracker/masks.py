"""The value that crosses every boundary: masks of some objects on one frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FrameMasks:
    """Masks of ``len(object_ids)`` objects on frame ``frame``.

    ``masks`` is bool (N, H, W); ``scores`` float (N,) in [0, 1]; ``visible`` bool (N,).
    An object that is not visible has an all-False mask, never a stale one.
    """

    frame: int
    object_ids: tuple[int, ...]
    masks: np.ndarray
    scores: np.ndarray
    visible: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.object_ids)
        if self.masks.ndim != 3 or self.masks.shape[0] != n:
            raise ValueError(f"masks must be (N, H, W) with N={n}, got {self.masks.shape}")
        if self.scores.shape != (n,) or self.visible.shape != (n,):
            raise ValueError("scores and visible must have one entry per object")

    def __len__(self) -> int:
        return len(self.object_ids)

    def mask_of(self, object_id: int) -> np.ndarray:
        return self.masks[self.object_ids.index(object_id)]

    @classmethod
    def empty(cls, frame: int, height: int, width: int) -> FrameMasks:
        return cls(
            frame,
            (),
            np.zeros((0, height, width), bool),
            np.zeros(0, np.float32),
            np.zeros(0, bool),
        )
