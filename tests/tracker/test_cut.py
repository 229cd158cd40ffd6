"""The minimum cut both graph cuts of samvid share: evidence per pixel, smoothness that
snaps the outline to image edges."""

from __future__ import annotations

import numpy as np
import pytest

from samvid.tracker.cut import EIGHT, FOUR, contrast_links, min_cut


def two_halves(shape: tuple[int, int] = (40, 60)) -> np.ndarray:
    """A dark left half and a bright right half."""
    image = np.full((*shape, 3), 40, np.uint8)
    image[:, shape[1] // 2:] = 220
    return image


def test_without_smoothness_each_pixel_takes_the_side_of_its_evidence() -> None:
    rng = np.random.default_rng(0)
    excess = rng.choice([-1.0, 1.0], (30, 30)) * rng.uniform(0.1, 2.0, (30, 30))
    cut = min_cut(contrast_links(two_halves((30, 30)), 0.0), excess)
    assert np.array_equal(cut, excess < 0)


@pytest.mark.parametrize("neighbours", [FOUR, EIGHT])
def test_where_the_evidence_is_unsure_the_outline_follows_the_image_edge(neighbours: tuple) -> None:
    image = two_halves()
    excess = np.zeros(image.shape[:2])
    excess[:, :5] = -5.0  # sure object on the far left
    excess[:, -5:] = 5.0  # sure background on the far right
    excess[:, 5:-5] = 0.01  # between them, a faint lean towards background
    cut = min_cut(contrast_links(image, 2.0, neighbours), excess)
    assert cut[:, :30].all() and not cut[:, 30:].any()


def test_a_crop_one_pixel_high_is_cut() -> None:
    excess = np.array([[-1.0, -1.0, 1.0, 1.0]])
    image = np.zeros((1, 4, 3), np.uint8)
    image[0, 2:] = 255
    assert min_cut(contrast_links(image, 2.0), excess).tolist() == [[True, True, False, False]]
