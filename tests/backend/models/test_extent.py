"""Where one click's object ends (``samvid.models.extent``), on generated images with exact masks."""

from __future__ import annotations

import cv2
import numpy as np

from samvid.models.classic import ClassicSettings
from samvid.models.extent import object_box


def disk_scene(h: int, w: int, centre: tuple[int, int], radius: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy red disk on a noisy green background, and its exact mask."""
    rng = np.random.default_rng(0)
    mask = np.zeros((h, w), np.uint8)
    cv2.circle(mask, centre, radius, 1, thickness=-1)
    obj = mask.astype(bool)
    image = np.where(obj[..., None], np.array([190, 60, 50]), np.array([60, 150, 70]))
    image = np.clip(image + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    return image, obj


def holds(box: tuple[int, int, int, int], mask: np.ndarray) -> bool:
    x0, y0, x1, y1 = box
    return bool(mask[y0:y1, x0:x1].sum() == mask.sum())


def test_click_on_an_object_gives_a_box_around_it_not_around_the_frame() -> None:
    image, obj = disk_scene(360, 640, (400, 150), 60)
    box = object_box(image, (400.5, 150.5), ClassicSettings())
    x0, y0, x1, y1 = box
    assert holds(box, obj)
    assert (x1 - x0) * (y1 - y0) < 3 * (2 * 60) ** 2  # the disk's box with its padding, not the frame


def test_click_on_an_object_at_the_frames_corner_gives_a_box_inside_the_frame() -> None:
    image, obj = disk_scene(240, 320, (20, 20), 40)
    x0, y0, x1, y1 = object_box(image, (5.5, 5.5), ClassicSettings())
    assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240
    assert holds((x0, y0, x1, y1), obj)
    assert (x1 - x0) * (y1 - y0) < 0.25 * 240 * 320
