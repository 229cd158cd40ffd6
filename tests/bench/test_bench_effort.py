"""The effort bench's simulated annotator (``bench/bench_effort.py``): how a correction by
clicks ends, and how far its brush paints (stand-in segmenters give masks of known IoU,
so no model is involved); its first-30% figures; its command line on a tiny clip."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import bench_effort
import numpy as np
import pytest
import tiny_roots
from bench_effort import (
    MAX_CLICKS,
    Clip,
    Outcome,
    Session,
    bad_found_early,
    brush_to,
    by_clicks,
    first_share_of,
    found_early_in_review,
)
from tiny_roots import tiny_davis

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


def test_a_click_correction_deletes_the_region_of_an_object_absent_from_the_frame() -> None:
    # Before the fix the object that had left the frame kept the region shown for it: the
    # corrected frame stayed under the bar and seeded the object where it is not.
    absent = np.zeros_like(TRUTH)
    clip = Clip("left", [np.zeros((120, 120, 3), np.uint8)], [{1: TRUTH, 2: absent}])
    out = Outcome()
    fixed = by_clicks(Stuck(0.9), 0.85)(clip, 0, {1: TRUTH, 2: rows_kept(0.3)}, out)  # type: ignore[arg-type]
    assert not fixed[2].any()
    assert np.array_equal(fixed[1], TRUTH)
    assert out.clicks == 0
    assert clip.quality(0, fixed) == 1.0


# ---------------------------------------------------------------- the report and the command line
def test_both_first_30_percent_figures_count_the_same_frames() -> None:
    # Before the fix the first propagation's figure counted round(0.3 * 42) = 13 frames as
    # the first 30% of a 42-frame review, the review's own figure 12 (0.3 * 42 = 12.6).
    # Here the one bad frame is the 13th opened by score: past 30% for both.
    first = [(i / 100, 0.5 if i == 12 else 1.0) for i in range(42)]
    assert bad_found_early(first, "score", 0.85, 0.85) == 0.0
    assert found_early_in_review(Outcome(corrected_at=[13]), 42) == 0.0
    first[12], first[11] = (0.12, 1.0), (0.11, 0.5)  # the 12th opened: within 30% for both
    assert bad_found_early(first, "score", 0.85, 0.85) == 1.0
    assert found_early_in_review(Outcome(corrected_at=[12]), 42) == 1.0


def test_the_first_30_percent_is_at_most_30_percent_of_the_frames_and_at_least_one() -> None:
    assert [first_share_of(n) for n in (1, 3, 10, 42, 69)] == [1, 1, 3, 12, 20]


def run_main(monkeypatch: pytest.MonkeyPatch, *argv: str) -> None:
    assert tiny_roots.run_main(monkeypatch, bench_effort.main, "bench_effort.py", *argv) == 0


def test_clips_of_one_set_run_that_set_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # Before the fix the synthetic set, left with none of --clips, crashed the report
    # (StatisticsError) after the real clips had run.
    run_main(monkeypatch, "--davis", str(tiny_davis(tmp_path)), "--clips", "tiny", "--engines", "copy",
             "--orders", "frame", "--bridge", "off")
    out = capsys.readouterr().out
    assert "### Real video (davis16): 1 clips, 6 frames" in out
    assert "| copy | off | frame | 100.0 |" in out
    assert "Synthetic set" not in out


@pytest.mark.parametrize(("argv", "error"), [
    (["--clips", "nosuch"], "no clip named nosuch; the clips: basic, "),
    (["--engines", "copy", "flwo"], "unknown engine 'flwo'"),
    (["--davis", "/nonexistent/davis16"], "/nonexistent/davis16 is missing: give --davis ROOT or --no-real"),
    (["--plot", "effort.png", "--orders", "frame"], "--plot draws the real clips reviewed by score"),
    (["--plot-from", "/nonexistent/effort.json"], "no file /nonexistent/effort.json"),
    (["--clicks", "--aim", "0.8"], "--aim 0.8 must be at least the threshold (0.85) and at most 1"),
    (["--threshold", "85"], "--threshold 85.0 is no IoU"),
])
def test_a_bad_selection_is_refused_before_any_clip_is_read(
    argv: list[str], error: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def read(*_: object, **__: object) -> list[Clip]:
        raise AssertionError("clips read for nothing")

    monkeypatch.setattr(bench_effort, "synthetic_clips", read)
    monkeypatch.setattr(bench_effort, "davis_clips", read)
    real = [] if "--davis" in argv else ["--no-real"]
    monkeypatch.setattr(sys, "argv", ["bench_effort.py", *real, *argv])
    with pytest.raises(SystemExit) as exit_:
        bench_effort.main()
    assert exit_.value.code == 2
    assert error in capsys.readouterr().err


@pytest.mark.parametrize(("option", "where", "error"), [
    ("--json", "missing/effort.json", "missing does not exist: create it first"),
    ("--json", ".", "is a folder: give a file name"),
    ("--json", "notes.txt", "notes.txt holds no saved outcomes"),
    ("--plot", "missing/effort.png", "missing does not exist: create it first"),
])
def test_an_output_file_that_cannot_be_written_is_refused_before_any_clip_is_read(
    option: str, where: str, error: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix the runs went first and the write ended them in a traceback, the
    # outcomes of hours unsaved (and a JSON file that was something else overwritten).
    (tmp_path / "notes.txt").write_text("not the outcomes of a run")

    def read(*_: object, **__: object) -> list[Clip]:
        raise AssertionError("clips read for nothing")

    monkeypatch.setattr(bench_effort, "synthetic_clips", read)
    monkeypatch.setattr(bench_effort, "davis_clips", read)
    monkeypatch.setattr(sys, "argv", ["bench_effort.py", "--davis", str(tmp_path), option, str(tmp_path / where)])
    with pytest.raises(SystemExit) as exit_:
        bench_effort.main()
    assert exit_.value.code == 2
    assert error in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "not the outcomes of a run"


def test_plotting_outcomes_saved_without_their_curves_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix a --json saved without --plot (no J&F curves) gave an empty plot.
    saved = tmp_path / "effort.json"
    saved.write_text(json.dumps({"real": {"flow|bridge=off|score": [asdict(Outcome())]}}))
    monkeypatch.setattr(sys, "argv", ["bench_effort.py", "--plot-from", str(saved), "--plot", str(tmp_path / "e.png")])
    with pytest.raises(SystemExit) as exit_:
        bench_effort.main()
    assert exit_.value.code == 2
    assert "save them with --plot and --json together" in capsys.readouterr().err
    assert not (tmp_path / "e.png").exists()


def test_a_submit_of_a_frame_every_object_left_fades_them_out_towards_it_and_clears_where_none_is_given() -> None:
    # As the product's bridged job does: the stretch back to the human frame with the car is
    # tracked from it (the car fading out near the empty frame); the one after has no object.
    car = np.zeros((20, 40), bool)
    car[5:12, 5:15] = True
    frames = [np.full((20, 40, 3), 100, np.uint8)] * 10
    session = Session(Clip("x", frames, [{1: car}] * 10), "copy", bridge=True)
    session.submit(0, {1: car})
    assert all(session.masks(k) for k in range(1, 10))
    changed = session.submit(6, {1: np.zeros_like(car)})
    assert changed == {1, 2, 3, 4, 5, 7, 8, 9}
    assert session.masks(1) and not session.masks(5)
    assert not any(session.masks(k) for k in (7, 8, 9)) and not any(k in session.pred for k in (7, 8, 9))
