"""Small synthetic videos for tracker tests (no weights, no files)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from small_models import small_sam2_video_model
from synthetic import texture


class DiskVideo:
    """A textured disk moving by ``(dx, dy)`` px per frame over a still textured background."""

    def __init__(self, n: int = 6, size: tuple[int, int] = (120, 160), start=(50.0, 60.0),
                 step=(6.0, 3.0), radius: float = 18.0) -> None:
        self.n, self.size, self.start, self.step, self.radius = n, size, start, step, radius
        h, w = size
        self.bg = texture(3, h, w)
        # Fine-grained texture, as real objects have. A disk of flat spots (texture seed 4)
        # gives ECC no grip on scale: the quality engine shrinks it by ~8% (docs/tracker.md).
        rng = np.random.default_rng(1)
        fine = cv2.GaussianBlur(rng.random((h + 800, w + 800, 3), dtype=np.float32), (0, 0), 1.5)
        fine = (fine - fine.min()) / (fine.max() - fine.min())
        self.fg = (fine * 255).astype(np.uint8)

    def centre(self, i: int) -> tuple[float, float]:
        return self.start[0] + i * self.step[0], self.start[1] + i * self.step[1]

    def mask(self, i: int) -> np.ndarray:
        h, w = self.size
        cx, cy = self.centre(i)
        yy, xx = np.mgrid[0:h, 0:w]
        return (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= self.radius**2

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < self.n:
            raise IndexError(i)
        h, w = self.size
        cx, cy = self.centre(i)
        # The disk's texture moves with it (it is the same object in every frame).
        ox, oy = int(round(cx - self.start[0])), int(round(cy - self.start[1]))
        fg = self.fg[400 - oy : 400 - oy + h, 400 - ox : 400 - ox + w]
        img = self.bg.copy()
        m = self.mask(i)
        img[m] = fg[m]
        return img


@pytest.fixture
def disk_video() -> DiskVideo:
    return DiskVideo()


@pytest.fixture
def seeks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The frame index of each seek a ``VideoReader`` makes during the test, in order:
    a decoder that seeks once per frame is the slowness several tests guard against."""
    from samvid.tracker.frames import VideoReader

    made: list[int] = []
    seek = VideoReader._seek

    def counted(reader: VideoReader, index: int) -> None:
        made.append(index)
        seek(reader, index)

    monkeypatch.setattr(VideoReader, "_seek", counted)
    return made

@pytest.fixture(scope="session")
def small_video_model():
    """The builder ``small_models.small_sam2_video_model``: a fresh model per call (a test may
    cast or move it)."""
    return small_sam2_video_model
