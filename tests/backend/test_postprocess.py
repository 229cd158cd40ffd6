"""SAM-style mask clean-up: holes, islands, the clicked component."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from samvid import postprocess
from samvid.postprocess import area_threshold, clean_mask, keep_components, remove_small_regions


def square(mask: np.ndarray, r0: int, c0: int, size: int, value: bool = True) -> np.ndarray:
    mask[r0 : r0 + size, c0 : c0 + size] = value
    return mask


def test_docstring_examples_hold() -> None:
    result = doctest.testmod(postprocess)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(("relative", "absolute", "expected"), [(0.0, 7, 7), (0.01, 0, 100), (0.001, 50, 50)])
def test_area_threshold_is_the_larger_of_relative_and_absolute(
    relative: float, absolute: int, expected: int
) -> None:
    assert area_threshold((100, 100), relative, absolute) == expected


def test_small_holes_are_filled_and_large_holes_kept() -> None:
    mask = square(np.zeros((40, 40), bool), 0, 0, 40)
    square(mask, 5, 5, 2, False)  # 4 px hole
    square(mask, 20, 20, 10, False)  # 100 px hole
    out = remove_small_regions(mask, 10, "holes")
    assert out[5:7, 5:7].all()
    assert not out[20:30, 20:30].any()


def test_small_islands_are_dropped_and_large_islands_kept() -> None:
    mask = square(np.zeros((40, 40), bool), 0, 0, 2)
    square(mask, 20, 20, 10)
    out = remove_small_regions(mask, 10, "islands")
    assert not out[0:2, 0:2].any()
    assert out[20:30, 20:30].all()


def test_zero_threshold_changes_nothing_and_input_is_not_mutated() -> None:
    mask = square(np.zeros((10, 10), bool), 2, 2, 3)
    before = mask.copy()
    assert np.array_equal(remove_small_regions(mask, 0, "islands"), before)
    clean_mask(mask, [(0.5, 0.5)], 100, 100)
    assert np.array_equal(mask, before)


def test_component_under_the_click_is_kept_even_when_smaller() -> None:
    mask = square(square(np.zeros((30, 30), bool), 0, 0, 3), 10, 10, 15)
    out = keep_components(mask, [(1.5, 1.5)])
    assert out[0:3, 0:3].all() and not out[10:25, 10:25].any()


def test_every_clicked_component_is_kept() -> None:
    mask = square(square(square(np.zeros((30, 30), bool), 0, 0, 3), 10, 10, 5), 20, 20, 5)
    out = keep_components(mask, [(1.5, 1.5), (22.5, 22.5)])
    assert out.sum() == 9 + 25


@pytest.mark.parametrize("points", [[], [(29.5, 0.5)]], ids=["no click", "click on background"])
def test_largest_component_is_kept_without_a_click_on_the_mask(
    points: list[tuple[float, float]],
) -> None:
    mask = square(square(np.zeros((30, 30), bool), 0, 0, 3), 10, 10, 5)
    out = keep_components(mask, points)
    assert out.sum() == 25 and out[10, 10]


def test_clicked_component_survives_island_removal() -> None:
    mask = square(square(np.zeros((30, 30), bool), 0, 0, 2), 10, 10, 10)
    out = clean_mask(mask, [(0.5, 0.5)], min_hole_area=0, min_island_area=50)
    assert out.sum() == 4


def test_diagonal_pixels_are_one_component() -> None:
    mask = np.eye(4, dtype=bool)
    assert np.array_equal(keep_components(mask | np.pad(np.ones((1, 1), bool), ((3, 0), (0, 3)))), mask)


def test_empty_mask_stays_empty() -> None:
    out = clean_mask(np.zeros((5, 7), bool), [(1.5, 1.5)], 3, 3)
    assert out.shape == (5, 7) and not out.any()


@pytest.mark.parametrize("click", [(40.0, 5.5), (39.9, 5.5), (5.5, 30.0)])
def test_a_click_on_the_right_or_bottom_edge_keeps_its_component(click) -> None:
    mask = np.zeros((30, 40), bool)
    mask[2:12, 2:20] = True  # the larger part
    mask[2:30, 37:40] = True  # the clicked part, along the right edge...
    mask[27:30, 2:10] = True  # ...or along the bottom one
    kept = clean_mask(mask, [click], min_hole_area=4, min_island_area=100)
    x, y = click
    assert kept[min(29, int(y)), min(39, int(x))], "the clicked part stays"


def test_a_hole_under_a_negative_click_is_not_filled() -> None:
    mask = np.ones((100, 100), bool)
    mask[40:44, 40:44] = False  # what a negative click carved out
    mask[70:72, 70:72] = False  # a speck of a hole, which is filled
    kept = clean_mask(mask, [(10.5, 10.5)], min_hole_area=50, min_island_area=50, negative=[(41.5, 41.5)])
    assert not kept[40:44, 40:44].any() and kept[70:72, 70:72].all()


def test_a_small_object_with_no_click_on_it_is_kept_not_dropped_as_an_island() -> None:
    # A box round a 225 px object in a 720p frame: no positive click spares it, and it is
    # under the island threshold (0.05 % of the image, 461 px), yet it is all SAM found.
    mask = square(np.zeros((720, 1280), bool), 300, 600, 15) | square(np.zeros((720, 1280), bool), 100, 100, 3)
    out = clean_mask(mask, [], min_hole_area=461, min_island_area=461)
    assert out[300:315, 600:615].all() and out.sum() == 225


def test_a_click_beside_a_small_object_keeps_the_object() -> None:
    mask = square(np.zeros((100, 100), bool), 40, 40, 5)
    out = clean_mask(mask, [(38.5, 42.5)], min_hole_area=50, min_island_area=50)
    assert out.sum() == 25


def test_a_0_1_mask_of_integers_has_its_small_holes_filled_like_a_bool_one() -> None:
    # OpenCV and a PNG give 0/1 uint8 masks: their holes are holes too, and the answer a mask.
    mask = square(np.zeros((40, 40), np.uint8), 0, 0, 40, 1)
    square(mask, 5, 5, 2, 0)
    out = remove_small_regions(mask, 10, "holes")
    assert out.dtype == bool and out.all()
    assert clean_mask(mask, min_hole_area=10).all()
