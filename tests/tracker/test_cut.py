"""The minimum cut both graph cuts of samvid share: evidence per pixel, smoothness that
snaps the outline to image edges."""

from __future__ import annotations

import numpy as np
import pytest

from samvid.tracker.cut import EIGHT, FOUR, GridCut, contrast_links, min_cut


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


def test_a_graph_cut_again_with_new_evidence_gives_the_cut_of_a_new_graph() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    links = contrast_links(image, 3.0, EIGHT)
    graph = GridCut(links)
    excess = rng.normal(0, 4, image.shape[:2])
    for _ in range(4):
        assert np.array_equal(graph.cut(excess), min_cut(links, excess))
        excess = excess + rng.normal(0, 2, excess.shape) * (rng.random(excess.shape) < 0.3)


def test_fixed_pixels_keep_their_label_and_pull_their_free_neighbours() -> None:
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)
    links = contrast_links(image, 5.0, EIGHT)
    fixed = np.zeros((30, 30), bool)
    fixed[:, :4] = fixed[:, -4:] = True
    labels = np.zeros((30, 30), bool)
    labels[:, :4] = True  # object on the left, background on the right
    excess = rng.normal(0, 3, (30, 30))
    # The same as a whole graph whose fixed pixels have overwhelming evidence.
    pinned = excess.copy()
    pinned[fixed] = np.where(labels[fixed], -1e6, 1e6)
    cut = GridCut(links, fixed, labels).cut(excess)
    assert np.array_equal(cut, min_cut(links, pinned))
    assert cut[:, :4].all() and not cut[:, -4:].any()


def test_a_graph_of_fixed_pixels_only_returns_their_labels() -> None:
    links = contrast_links(two_halves((6, 8)), 2.0)
    labels = np.eye(6, 8, dtype=bool)
    graph = GridCut(links, np.ones((6, 8), bool), labels)
    assert np.array_equal(graph.cut(np.zeros((6, 8))), labels)
    assert np.array_equal(graph.cut(np.ones((6, 8))), labels)


def test_a_cut_given_the_free_pixels_evidence_only_is_the_cut_given_all_of_it() -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    links = contrast_links(image, 4.0, EIGHT)
    fixed = np.zeros((24, 32), bool)
    fixed[:3] = fixed[-3:] = True
    labels = np.zeros((24, 32), bool)
    labels[:3] = True
    excess = rng.normal(0, 3, (24, 32))
    whole = GridCut(links, fixed, labels)
    assert np.array_equal(whole.free, ~fixed)
    assert np.array_equal(GridCut(links, fixed, labels).cut_free(excess[whole.free]), whole.cut(excess))
