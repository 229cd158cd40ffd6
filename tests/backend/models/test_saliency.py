"""What stands out in an image (``samvid.models.saliency``), on generated images."""

from __future__ import annotations

import cv2
import numpy as np

from samvid.models.extent import stand_out
from samvid.models.saliency import spectral_residual


def blob_on_grass(h: int, w: int, radius: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """A red disk on noisy green ground, and its exact mask."""
    rng = np.random.default_rng(1)
    mask = np.zeros((h, w), np.uint8)
    cv2.circle(mask, (w // 3, h // 2), radius, 1, thickness=-1)
    obj = mask.astype(bool)
    image = np.where(obj[..., None], np.array([200, 50, 40]), np.array([70, 140, 60]))
    return np.clip(image + rng.normal(0, 10, (h, w, 3)), 0, 255).astype(np.uint8), obj


def test_saliency_is_a_map_in_0_1_of_the_size_asked() -> None:
    image, _ = blob_on_grass(240, 320)
    saliency = spectral_residual(image, (60, 80))
    assert saliency.shape == (60, 80) and saliency.dtype == np.float32
    assert saliency.min() >= 0 and np.isclose(saliency.max(), 1, atol=0.05)


def test_a_region_holding_an_object_stands_out_more_than_one_of_plain_ground() -> None:
    # The spectral residual marks what departs from the image's smooth statistics,
    # above all an object's outline: a region stands out by holding it.
    image, obj = blob_on_grass(360, 640)
    saliency = spectral_residual(image, obj.shape)
    holding = cv2.dilate(obj.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=40) > 0
    ground = np.roll(holding, 640 // 3, axis=1)  # the same shape, on grass only
    assert not (ground & obj).any()
    assert stand_out(saliency, holding, 0.5) > stand_out(saliency, ground, 0.5) + 0.05


def test_a_flat_image_gives_a_finite_map() -> None:
    saliency = spectral_residual(np.full((50, 70, 3), 128, np.uint8), (50, 70))
    assert np.isfinite(saliency).all()


def test_nothing_stands_out_in_an_empty_region() -> None:
    assert stand_out(np.ones((10, 10), np.float32), np.zeros((10, 10), bool), 0.5) == -np.inf
