"""The effort bench's simulated annotator (``bench/bench_effort.py``): how a correction by
clicks ends, and how far its brush paints. Stand-in segmenters give masks of known IoU,
so no model is involved."""

from __future__ import annotations

import numpy as np
import pytest
from bench_effort import MAX_CLICKS, Clip, Outcome, brush_to, by_clicks

from samvid.core.prompts import Prompt
from samvid.core.segmenter import MaskPrediction

TRUTH = np.zeros((120, 120), bool)
TRUTH[10:110, 10:110] = True


def rows_kept(iou: float) -> np.ndarray:
    """The true square with its lower rows cut off, leaving a mask of ``iou`` against it."""
    mask = TRUTH.copy()
    mask[10 + round(100 * iou):] = False
    return mask


class Stuck:
    """A click model whose mask stays at one IoU however many clicks it gets."""

    def __init__(self, iou: float) -> None:
        self.mask = rows_kept(iou)

    def embed(self, image: np.ndarray) -> None:
        return None

    def segment(self, embedding: None, prompt: Prompt) -> MaskPrediction:
        return MaskPrediction(mask=self.mask.copy(), score=1.0)


class Improving(Stuck):
    """A click model whose mask reaches ``iou`` at the ``at``-th click."""

    def __init__(self, iou: float, at: int) -> None:
        super().__init__(iou)
        self.at = at

    def segment(self, embedding: None, prompt: Prompt) -> MaskPrediction:
        mask = self.mask if len(prompt.points) >= self.at else rows_kept(0.5)
        return MaskPrediction(mask=mask.copy(), score=1.0)


def correct(segmenter: Stuck, aim: float | None) -> tuple[np.ndarray, Outcome]:
    clip = Clip("square", [np.zeros((120, 120, 3), np.uint8)], [{1: TRUTH}])
    out = Outcome()
    fixed = by_clicks(segmenter, 0.85, aim)(clip, 0, {1: rows_kept(0.5)}, out)  # type: ignore[arg-type]
    return fixed[1], out


@pytest.mark.parametrize("reached", [0.5, 0.87])
def test_an_object_short_of_the_aim_after_20_clicks_is_finished_with_the_brush(reached: float) -> None:
    # Before the fix a mask past the bar (0.87) was kept while one that never passed it
    # (0.5) got the true mask: the click model that came closer ended worse. Its one
    # error region (the rows cut off) is painted whole.
    mask, out = correct(Stuck(reached), aim=0.9)
    assert np.array_equal(mask, TRUTH)
    assert (out.clicks, out.brushed) == (MAX_CLICKS, 1)


def holed() -> np.ndarray:
    """The true square missing its lower 15 rows (IoU 0.85) and a 20x20 hole (0.04)."""
    mask = rows_kept(0.85)
    mask[40:60, 40:60] = False
    return mask


def test_the_brush_paints_the_largest_error_first_and_stops_at_the_aim() -> None:
    # Painting the rows reaches 0.96: a brush that went on to the hole would hand the
    # tracker a better mask than clicks that stopped at the aim.
    painted = brush_to(holed(), TRUTH, aim=0.9)
    expected = TRUTH.copy()
    expected[40:60, 40:60] = False
    assert np.array_equal(painted, expected)


def test_the_brush_paints_every_error_region_the_aim_needs() -> None:
    assert np.array_equal(brush_to(holed(), TRUTH, aim=0.97), TRUTH)


def test_the_brush_leaves_a_mask_at_the_aim_as_it_is() -> None:
    assert np.array_equal(brush_to(rows_kept(0.92), TRUTH, aim=0.9), rows_kept(0.92))


def test_an_object_at_the_aim_keeps_the_click_made_mask() -> None:
    mask, out = correct(Improving(0.92, at=3), aim=0.9)
    assert np.array_equal(mask, rows_kept(0.92))
    assert (out.clicks, out.brushed) == (3, 0)


def test_without_an_aim_clicks_stop_at_the_bar() -> None:
    mask, out = correct(Improving(0.87, at=2), aim=None)
    assert np.array_equal(mask, rows_kept(0.87))
    assert (out.clicks, out.brushed) == (2, 0)
