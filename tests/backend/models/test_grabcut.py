"""samvid's GrabCut: OpenCV's algorithm with the edge term's weight as a parameter."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest

from samvid.models.grabcut import COLOUR_SPACES, SMOOTHNESS, CutCache, grabcut

RED, GREEN = (200, 60, 60), (90, 140, 90)


def noisy(rng: np.random.Generator, shape: tuple[int, int], colour: tuple[int, int, int], sd: float) -> np.ndarray:
    return np.clip(rng.normal(0, sd, (*shape, 3)) + colour, 0, 255).astype(np.uint8)


def two_legs(gap: int, sd: float = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A red object shaped like an upturned U (two legs ``gap`` px apart, joined at the
    top) on green, the box's labels as GrabCut starts from them (object inside the
    box, a hard 10 px background margin), and the gap between the legs."""
    rng = np.random.default_rng(seed)
    obj = np.zeros((96, 96), bool)
    obj[20:80, 30:46] = True
    obj[20:80, 46 + gap:62 + gap] = True
    obj[20:30, 30:62 + gap] = True
    image = noisy(rng, obj.shape, GREEN, sd)
    image[obj] = noisy(rng, obj.shape, RED, sd)[obj]
    start = np.zeros_like(obj)
    start[20:80, 30:62 + gap] = True
    hard = np.ones_like(obj)
    hard[10:-10, 10:-10] = False
    between = np.zeros_like(obj)
    between[30:80, 46:46 + gap] = True
    return image, obj, start, hard, between


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_a_box_around_an_object_of_other_colours_gives_the_object() -> None:
    image, obj, start, hard, _ = two_legs(gap=8)
    assert iou(grabcut(image, start, hard, 2), obj) > 0.95


def test_at_working_size_a_thin_gap_between_two_legs_stays_background() -> None:
    # Why the weight is half OpenCV's: at the paper's 50 the edge term fills a
    # two-pixel gap of background between the legs, as it fills the court between a
    # player's legs in a 260 px crop of a real frame.
    image, _, start, hard, between = two_legs(gap=2)
    assert grabcut(image, start, hard, 2, smoothness=50.0)[between].mean() > 0.5
    assert grabcut(image, start, hard, 2)[between].mean() < 0.1
    assert SMOOTHNESS < 50.0


def test_hard_labels_keep_their_side() -> None:
    image, obj, start, hard, _ = two_legs(gap=8)
    hole = np.zeros(obj.shape, np.uint8)
    cv2.circle(hole, (38, 50), 3, 1, thickness=-1)  # a hard background disk on a leg
    hole = hole > 0
    hard, start = hard | hole, start & ~hole
    mask = grabcut(image, start, hard, 2)
    assert not mask[hole].any()
    assert iou(mask, obj & ~hole) > 0.9


def test_the_same_input_gives_the_same_mask() -> None:
    image, _, start, hard, _ = two_legs(gap=4, sd=35)
    first = grabcut(image, start, hard, 2)
    assert all(np.array_equal(first, grabcut(image, start, hard, 2)) for _ in range(3))


def test_a_cut_that_empties_one_side_ends_there_without_nan() -> None:
    # Black and white noise with the object's start holding both colours as much as the
    # background does: the first cut drops the whole object, leaving the second
    # iteration no object colours to learn from (it warned of NaN costs before).
    rng = np.random.default_rng(1)
    image = np.where(rng.random((20, 20, 1)) > 0.5, 255, 0).repeat(3, axis=2).astype(np.uint8)
    start = np.zeros((20, 20), bool)
    start[:, 6:] = True
    start[10:] = True
    hard = ~start
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mask = grabcut(image, start, hard, 3)
    assert not mask.any()


def test_the_objects_first_colours_learnt_from_start_leave_out_what_fills_the_rest_of_the_box() -> None:
    # A red disk on a blue square, on green; the box is the square. Learnt from the
    # whole box, the object's model is a quarter blue and the mask is the box; learnt
    # from the box's middle, it is red only, and the mask is the disk.
    rng = np.random.default_rng(0)
    disk = np.zeros((96, 96), np.uint8)
    cv2.circle(disk, (48, 48), 20, 1, thickness=-1)
    image = noisy(rng, disk.shape, GREEN, 10)
    image[28:69, 28:69] = noisy(rng, (41, 41), (50, 70, 200), 10)
    image[disk > 0] = noisy(rng, disk.shape, RED, 10)[disk > 0]
    box = np.zeros((96, 96), bool)
    box[28:69, 28:69] = True
    middle = np.zeros((96, 96), np.uint8)
    cv2.circle(middle, (48, 48), 14, 1, thickness=-1)
    assert iou(grabcut(image, box, ~box, 2), box) > 0.95
    assert iou(grabcut(image, box, ~box, 2, start=middle > 0), disk > 0) > 0.95


def test_a_cut_with_colours_in_several_spaces_finds_the_object_and_keeps_hard_labels() -> None:
    image, obj, start, hard, _ = two_legs(gap=8)
    mask = grabcut(image, start, hard, 2, spaces=("rgb", "lab", "ycrcb"))
    assert iou(mask, obj) > 0.95
    assert not mask[hard & ~start].any()


def test_a_colour_space_counted_twice_changes_nothing() -> None:
    # A pixel's cost is the mean of the spaces' costs, not their sum: the edge term
    # keeps its weight however many spaces vote.
    image, _, start, hard, _ = two_legs(gap=2, sd=35)
    assert np.array_equal(grabcut(image, start, hard, 2, spaces=("rgb", "rgb")), grabcut(image, start, hard, 2))


def test_an_unknown_colour_space_is_refused_with_the_known_ones() -> None:
    image, _, start, hard, _ = two_legs(gap=8)
    with pytest.raises(ValueError, match="hsl") as err:
        grabcut(image, start, hard, 2, spaces=("rgb", "hsl"))
    assert all(name in str(err.value) for name in COLOUR_SPACES)


def test_cuts_sharing_a_cache_give_the_masks_each_gives_alone() -> None:
    # A box's second cut shares the first's cache: its colour models start from the
    # same pixels, and the cache must not carry anything else from one cut to the next.
    image, _, start, hard, _ = two_legs(gap=4, sd=35)
    seeded = hard.copy()
    seeded[40:44, 34:38] = True  # a hard object seed inside the box, as _tighten adds
    middle = np.zeros_like(start)
    middle[30:70, 36:60] = True
    cuts = [
        dict(fg=start, hard=hard, iterations=2, start=middle),
        dict(fg=start, hard=seeded, iterations=1, start=middle),
        dict(fg=start, hard=hard, iterations=2, smoothness=50.0),
        dict(fg=start, hard=hard, iterations=2, spaces=("rgb", "lab", "ycrcb")),
    ]
    alone = [grabcut(image, **cut) for cut in cuts]
    cache = CutCache(image)
    for cut, mask in zip(cuts, alone, strict=True):
        assert np.array_equal(grabcut(image, **cut, cache=cache), mask)


def test_a_cache_refuses_another_images_cut() -> None:
    image, _, start, hard, _ = two_legs(gap=8)
    with pytest.raises(ValueError, match="own image"):
        grabcut(image.copy(), start, hard, 2, cache=CutCache(image))
