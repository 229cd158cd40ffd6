"""``samvid track`` and ``samvid eval`` end to end on a tiny synthetic DAVIS folder."""

from __future__ import annotations

from samvid.cli import main
from samvid.tracker.synthetic import BENCHMARK_SET, with_frames, write_sequence
from samvid.tracker.synthetic import main as synthetic_main


def test_track_then_eval_scores_a_synthetic_sequence(tmp_path, capsys) -> None:
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 5), gt, (96, 170))
    assert main(["track", "--engine", "flow", str(gt), str(pred)]) == 0
    assert len(list((pred / "Annotations" / "basic").glob("*.png"))) == 5
    assert main(["eval", str(pred), str(gt)]) == 0
    out = capsys.readouterr().out
    mean = [line for line in out.splitlines() if line.startswith("mean")][0]
    assert float(mean.split()[-1]) > 0.8


def test_eval_of_ground_truth_against_itself_is_perfect(tmp_path, capsys) -> None:
    write_sequence(with_frames(BENCHMARK_SET["twins"], 3), tmp_path, (96, 170))
    assert main(["eval", str(tmp_path), str(tmp_path)]) == 0
    assert "1.000  1.000  1.000" in capsys.readouterr().out


def test_track_on_a_folder_without_frames_is_a_clear_error(tmp_path, capsys) -> None:
    assert main(["track", str(tmp_path), str(tmp_path / "out")]) == 2
    assert "JPEGImages" in capsys.readouterr().err


def test_generator_command_writes_the_chosen_sequences(tmp_path) -> None:
    assert synthetic_main([str(tmp_path), "--size", "48x86", "--seq", "fast"]) == 0
    assert len(list((tmp_path / "JPEGImages" / "fast").glob("*.jpg"))) == BENCHMARK_SET["fast"].n_frames
