"""The prompt as scripts and Label Studio give it: whatever sequences and numbers come in,
a model sees plain (x, y) floats, 0/1 labels and a box with its corners in order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from samvid.core.errors import PromptError
from samvid.core.prompts import MAX_OBJECTS, Prompt, check_object_count


def test_a_box_with_reversed_corners_is_the_same_box() -> None:
    # Dragged from the bottom right to the top left: not a box of zero area.
    prompt = Prompt(box=(50.0, 40.0, 10.0, 5.0))
    prompt.validate_inside(100, 100)
    assert prompt.box == (10.0, 5.0, 50.0, 40.0)
    assert prompt == Prompt(box=(10.0, 5.0, 50.0, 40.0))


@pytest.mark.parametrize("prompt", [
    {"box": (math.nan, 10.0, 50.0, 50.0)},
    {"box": (0.0, 10.0, math.inf, 50.0)},
    {"points": ((math.nan, 5.0),), "labels": (1,)},
])
def test_a_coordinate_that_is_not_a_finite_number_is_refused(prompt: dict) -> None:
    # A NaN passes every comparison: the box became the whole image.
    with pytest.raises(PromptError, match="finite"):
        Prompt(**prompt)


@pytest.mark.parametrize("prompt", [
    {"points": ((5.0, 5.0, 1.0),), "labels": (1,)},
    {"box": (1.0, 2.0, 3.0)},
    {"points": (("left", 5.0),), "labels": (1,)},
])
def test_a_click_is_two_coordinates_and_a_box_four(prompt: dict) -> None:
    with pytest.raises(PromptError, match=r"\(x, y\)|\(x0, y0, x1, y1\)"):
        Prompt(**prompt)


def test_clicks_and_a_box_given_as_lists_or_arrays_make_a_prompt_of_floats_and_integer_labels() -> None:
    prompt = Prompt(points=np.array([[5, 6], [7.5, 8.5]]), labels=np.array([1.0, 0.0]), box=[1, 2, 30, 40])
    assert prompt.points == ((5.0, 6.0), (7.5, 8.5))
    assert prompt.labels == (1, 0) and all(type(label) is int for label in prompt.labels)
    assert prompt.box == (1.0, 2.0, 30.0, 40.0)
    hash(prompt)  # models key caches on it


def test_a_label_other_than_zero_or_one_is_still_refused() -> None:
    with pytest.raises(PromptError, match="click labels must be 1"):
        Prompt(points=((5.0, 5.0),), labels=(0.5,))


@pytest.mark.parametrize("box", [(120.0, 10.0, 150.0, 50.0), (10.0, -60.0, 50.0, -20.0)])
def test_a_box_wholly_past_an_edge_is_refused_when_clipped_not_turned_into_a_box_on_the_image(box) -> None:
    # Clipping turns such a box inside out; put back in order it would lie on the image.
    with pytest.raises(PromptError, match="outside the 100x80 image"):
        Prompt(box=box).clipped(100, 80)


@pytest.mark.parametrize("box", [(10.0, 10.0, 10.0, 20.0), (10.0, 30.0, 40.0, 30.0)])
def test_a_flat_box_on_the_image_is_refused_as_zero_area_when_clipped_not_as_outside(box) -> None:
    # Box tracking seeds its object through ``clipped`` alone: a flat box lies on the image.
    with pytest.raises(PromptError, match="zero area"):
        Prompt(box=box).clipped(100, 80)


def test_the_object_limit_counts_objects_and_says_what_one_is() -> None:
    # It said "labels per image" while it summed the pages of a multi-image task.
    check_object_count(MAX_OBJECTS)
    with pytest.raises(PromptError) as refused:
        check_object_count(MAX_OBJECTS + 1)
    assert str(refused.value) == (f"at most {MAX_OBJECTS} objects per request, got {MAX_OBJECTS + 1} (one per "
                                  "label on each image and page): accept or delete some of the smart regions")
