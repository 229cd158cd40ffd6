"""``samvid eval`` as a user types it (the scoring itself: ``tests/tracker/test_cli.py``)."""

from __future__ import annotations

from pathlib import Path

from synthetic import BENCHMARK_SET, with_frames, write_sequence

from samvid.cli import main


def test_eval_scores_a_sequence_named_twice_once_even_with_a_trailing_slash(tmp_path: Path, capsys) -> None:
    gt = tmp_path / "gt"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), gt, (96, 170))
    write_sequence(with_frames(BENCHMARK_SET["twins"], 3), gt, (96, 170))
    pred = tmp_path / "pred"
    assert main(["track", "--engine", "copy", str(gt), str(pred)]) == 0
    capsys.readouterr()
    assert main(["eval", str(pred), str(gt), "--seq", "basic", "twins"]) == 0
    once = capsys.readouterr().out.splitlines()
    # `basic/` (tab completion) and `./basic` are the sequence basic: the mean is over
    # objects, and a repeat would count basic's objects again.
    assert main(["eval", str(pred), str(gt), "--seq", "basic", "basic/", "./basic", "twins"]) == 0
    assert capsys.readouterr().out.splitlines() == once
