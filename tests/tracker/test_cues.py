"""The cues the default engine adds up (``samvid.tracker.cues``), on arrays with exact answers.

The colour bins and the motion cue are specified on moving footage in
``test_segment_engine.py``; these are the pure log-odds."""

from __future__ import annotations

import cv2
import numpy as np

from samvid.tracker.cues import BINS, colour_odds, histogram, object_size, shape_prior


def square(size: int = 64, side: int = 32) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    lo = (size - side) // 2
    mask[lo : lo + side, lo : lo + side] = True
    return mask


def test_shape_prior_is_sure_deep_inside_and_far_outside_and_open_on_the_outline() -> None:
    mask = square()
    prior = shape_prior(mask, sigma=3.0)
    assert prior[32, 32] > 3.9 and prior[2, 2] < -3.9
    assert np.abs(prior).max() <= 4.0
    outline = mask & ~(cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    assert np.abs(prior[outline]).max() < 1.0
    # It rises with the distance into the object along a row.
    row = prior[32, :32]
    assert (np.diff(row) >= 0).all()


def test_shape_prior_does_not_shrink_a_shape_fed_back_to_it() -> None:
    # Thresholded at zero, the prior gives the shape back, corners included: fed back
    # frame after frame it would otherwise erode wherever colour does not hold it.
    mask = square()
    np.testing.assert_array_equal(shape_prior(mask, sigma=5.0) > 0, mask)


def square_with_a_tail() -> np.ndarray:
    """A 32 px square with a 2 px wide line running 40 px on from its right side: a mask
    that has leaked along an edge of its own colour."""
    mask = np.zeros((64, 112), bool)
    mask[16:48, 16:48] = True
    mask[31:33, 48:88] = True
    return mask


def test_shape_prior_doubts_a_part_narrower_than_its_ramp() -> None:
    mask = square_with_a_tail()
    full, doubted = shape_prior(mask, sigma=6.0), shape_prior(mask, sigma=6.0, thin=0.5)
    # Along the tail, away from the square, the shape no longer vouches for it ...
    assert (full[31:33, 60:88] > 0).all() and (doubted[31:33, 60:88] < 0).all()
    # ... while deep in the square next to nothing changes (the tail no longer widens the
    # way out a little), and far outside it stays sure.
    np.testing.assert_allclose(doubted[24:40, 24:40], full[24:40, 24:40], atol=0.05)
    assert doubted[:4].max() < -3.5 and doubted[:, 104:].max() < -3.5


def test_shape_prior_takes_a_shape_thin_all_over_whole() -> None:
    # A pole or a rope has no wide part to trust instead: doubting all of it would lose it.
    mask = np.zeros((64, 64), bool)
    mask[31:33, 8:56] = True
    np.testing.assert_array_equal(shape_prior(mask, sigma=6.0, thin=0.5), shape_prior(mask, sigma=6.0))


def test_doubting_thin_parts_rounds_a_shape_fed_back_to_it_once_and_no_further() -> None:
    # The opening rounds corners by half the ramp, so a square's corner pixels go; fed
    # back frame after frame, the shape must settle rather than erode.
    shape = square()
    rounds = []
    for _ in range(6):
        shape = shape_prior(shape, sigma=6.0, thin=0.5) > 0
        rounds.append(shape)
    np.testing.assert_array_equal(rounds[-1], rounds[1])
    assert (square() & ~rounds[-1]).sum() <= 4 * 6  # a few pixels at each corner
    assert rounds[-1][16:48, 20:44].all() and rounds[-1][20:44, 16:48].all()


def test_colour_odds_favour_the_object_where_only_it_has_the_colour_and_stay_bounded() -> None:
    fg = np.zeros(BINS**3, np.float32)
    bg = np.zeros(BINS**3, np.float32)
    fg[10], bg[20] = 1.0, 1.0
    odds = colour_odds(fg, bg, np.array([10, 20, 30]))
    assert odds[0] == 4.0 and odds[1] == -4.0  # never infinitely sure
    assert odds[2] == 0.0  # a colour neither side has seen tells nothing


def test_histogram_is_a_distribution_spread_to_neighbouring_colours() -> None:
    bins = np.full(100, 5 * BINS * BINS + 5 * BINS + 5)  # one colour, in the middle of the table
    h = histogram(bins, np.ones(100))
    assert abs(float(h.sum()) - 1.0) < 1e-5
    assert h[bins[0]] == h.max() < 1.0
    assert h[bins[0] + 1] > 0  # its neighbour along b
    assert h[bins[0] + BINS * BINS] > 0  # and along L
    empty = histogram(bins, np.zeros(100))
    assert np.allclose(empty, 1.0 / BINS**3)


def test_object_size_is_the_square_root_of_the_area_and_never_zero() -> None:
    assert object_size(square(side=32)) == 32.0
    assert object_size(np.zeros((8, 8), bool)) == 1.0
