"""``samvid eval`` as a user types it (the scoring itself: ``tests/tracker/test_cli.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synthetic import BENCHMARK_SET, with_frames, write_sequence

from samvid.cli import main
from samvid.tracker.masks import read_label_png, write_label_png


def test_eval_scores_a_sequence_named_twice_once_even_with_a_trailing_slash(tmp_path: Path, capsys) -> None:
    gt = tmp_path / "gt"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), gt, (96, 170))
    write_sequence(with_frames(BENCHMARK_SET["twins"], 3), gt, (96, 170))
    pred = tmp_path / "pred"
    assert main(["track", "--engine", "copy", str(gt), str(pred)]) == 0
    capsys.readouterr()
    assert main(["eval", str(pred), str(gt), "--seq", "basic", "--seq", "twins"]) == 0
    once = capsys.readouterr().out.splitlines()
    # `basic/` (tab completion) and `./basic` are the sequence basic: the mean is over
    # objects, and a repeat would count basic's objects again.
    assert main(["eval", str(pred), str(gt), "--seq", "basic", "--seq", "basic/", "--seq", "./basic",
                 "--seq", "twins"]) == 0
    assert capsys.readouterr().out.splitlines() == once


def test_eval_of_a_sequence_named_by_its_absolute_path_scores_the_prediction(tmp_path: Path, capsys) -> None:
    """``--seq /data/gt/Annotations/basic`` is the sequence basic: the path itself would be
    both the ground truth and the prediction, and score 1.000 whatever was predicted."""
    gt = tmp_path / "gt"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), gt, (96, 170))
    empty = tmp_path / "empty" / "Annotations" / "basic"
    empty.mkdir(parents=True)
    for png in sorted((gt / "Annotations" / "basic").glob("*.png")):
        write_label_png(empty / png.name, np.zeros_like(read_label_png(png)))
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "empty"), str(gt), "--seq", str(gt / "Annotations" / "basic")]) == 0
    [row] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("basic")]
    assert row.split()[-3:] == ["0.000", "0.000", "0.000"]


def test_eval_of_predictions_of_another_resolution_level_says_which_file_and_what_to_do(tmp_path: Path, capsys) -> None:
    """Tracked at 1080p and scored against the default 480p: the failure names the file
    and the way out, not bare shapes."""
    for level, (h, w) in {"480p": (48, 85), "1080p": (108, 192)}.items():
        labels = np.zeros((h, w), np.uint8)
        labels[h // 4: h // 2, w // 4: w // 2] = 1
        for i in range(3):
            write_label_png(tmp_path / "DAVIS" / "Annotations" / level / "seq" / f"{i:05d}.png", labels)
            if level == "1080p":
                write_label_png(tmp_path / "pred" / "Annotations" / "seq" / f"{i:05d}.png", labels)
    assert main(["eval", str(tmp_path / "pred"), str(tmp_path / "DAVIS")]) == 1
    out = capsys.readouterr().out
    assert "00001.png is 192x108" in out and "--resolution" in out
    assert main(["eval", str(tmp_path / "pred"), str(tmp_path / "DAVIS"), "--resolution", "1080p"]) == 0


def test_eval_of_a_seq_that_names_no_sequence_says_what_seq_takes(tmp_path: Path, capsys) -> None:
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), tmp_path, (96, 170))
    for seq in (".", "..", "/"):
        assert main(["eval", str(tmp_path), str(tmp_path), "--seq", seq]) == 2
        err = capsys.readouterr().err
        assert f"--seq {seq!r} is no sequence name" in err and "(such as basic)" in err


def test_eval_scores_every_repeated_seq_and_ignores_settings_it_does_not_use(tmp_path: Path, capsys,
                                                                            monkeypatch) -> None:
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), gt, (96, 170))
    write_sequence(with_frames(BENCHMARK_SET["twins"], 3), gt, (96, 170))
    assert main(["track", "--engine", "copy", str(gt), str(pred)]) == 0
    capsys.readouterr()
    # An offline scorer run from the server's shell: its device and queue are not eval's concern.
    monkeypatch.setenv("SAMVID_DEVICE", "gpu0")
    monkeypatch.setenv("REDIS_URL", "localhost:6379")
    # `--seq basic --seq twins` scored twins alone.
    assert main(["eval", str(pred), str(gt), "--seq", "basic", "--seq", "twins"]) == 0
    scored = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line]
    assert "basic" in scored and "twins" in scored


def test_eval_against_a_root_with_the_first_masks_only_says_the_gt_holds_no_later_frame(
        tmp_path: Path, capsys) -> None:
    src, pred = tmp_path / "src", tmp_path / "pred"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), src, (96, 170))
    for png in sorted((src / "Annotations" / "basic").glob("*.png"))[1:]:
        png.unlink()  # a root to track from: the first frame's mask only
    assert main(["track", "--engine", "copy", str(src), str(pred)]) == 0
    capsys.readouterr()
    # Was "no frame to score: the score leaves out the first frame", which named no folder.
    assert main(["eval", str(pred), str(src)]) == 1
    out = capsys.readouterr().out
    assert f"{src / 'Annotations' / 'basic'} holds the first frame's mask only" in out
    assert "give as GT a folder with masks of the later frames too" in out


def test_eval_of_a_prediction_of_the_first_mask_only_against_such_a_root_does_not_say_one_frame(
        tmp_path: Path, capsys) -> None:
    # A clip of 3 frames, its GT the first mask only, its prediction too (a run that failed):
    # "basic has one frame" sent the reader away from the GT that lacked the later masks.
    src, pred = tmp_path / "src", tmp_path / "pred"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), src, (96, 170))
    first, *later = sorted((src / "Annotations" / "basic").glob("*.png"))
    for png in later:
        png.unlink()
    (pred / "Annotations" / "basic").mkdir(parents=True)
    (pred / "Annotations" / "basic" / first.name).write_bytes(first.read_bytes())
    assert main(["eval", str(pred), str(src)]) == 1
    out = capsys.readouterr().out
    assert "holds the first frame's mask only" in out and "has one frame" not in out


def test_eval_of_a_sequence_of_one_frame_says_it_has_one_frame(tmp_path: Path, capsys) -> None:
    src, pred = tmp_path / "src", tmp_path / "pred"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 1), src, (96, 170))
    assert main(["track", "--engine", "copy", str(src), str(pred)]) == 0
    capsys.readouterr()
    # Was "give as GT a folder with masks of the later frames too", of frames that do not exist.
    assert main(["eval", str(pred), str(src)]) == 1
    out = capsys.readouterr().out
    assert "no frame to score: basic has one frame" in out and "later frames" not in out


def test_eval_takes_a_seq_given_before_pred_and_gt(tmp_path: Path, capsys) -> None:
    # `--seq` took several names, so `samvid eval --seq basic PRED GT` read PRED and GT as
    # sequences and said "the following arguments are required: pred, gt".
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), gt, (96, 170))
    write_sequence(with_frames(BENCHMARK_SET["twins"], 3), gt, (96, 170))
    assert main(["track", "--engine", "copy", str(gt), str(pred)]) == 0
    capsys.readouterr()
    assert main(["eval", "--seq", "basic", str(pred), str(gt)]) == 0
    scored = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line]
    assert "basic" in scored and "twins" not in scored


def test_eval_of_a_seq_missing_from_the_ground_truth_names_the_sequences_there_and_scores_none(
        tmp_path: Path, capsys) -> None:
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), gt, (96, 170))
    assert main(["track", "--engine", "copy", str(gt), str(pred)]) == 0
    capsys.readouterr()
    # A typo failed alone ("no ground-truth PNGs in .../bsaic") under a mean of the others.
    assert main(["eval", str(pred), str(gt), "--seq", "bsaic", "--seq", "basic"]) == 2
    captured = capsys.readouterr()
    assert "--seq bsaic: no such sequence" in captured.err and "its sequences are basic" in captured.err
    assert "mean" not in captured.out


def test_eval_with_a_bare_seq_scores_nothing_and_says_a_name_is_missing(tmp_path: Path, capsys) -> None:
    # `--seq $SEQS` with SEQS unset scored every sequence, a mean over other objects than asked.
    gt = tmp_path / "gt"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), gt, (96, 170))
    with pytest.raises(SystemExit) as raised:
        main(["eval", str(gt), str(gt), "--seq"])
    assert raised.value.code == 2
    captured = capsys.readouterr()
    assert "--seq: expected one argument" in captured.err and "mean" not in captured.out


def test_eval_given_several_names_after_one_seq_says_to_repeat_seq(tmp_path: Path, capsys) -> None:
    # `--seq a b PRED GT` took b as PRED: the error named GT as the argument it did not know.
    gt = str(tmp_path / "gt")
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "--seq", "a", "b", str(tmp_path / "pred"), gt])
    assert exit_.value.code == 2
    assert f"unrecognized arguments: {gt}; --seq takes one name: repeat it (--seq a --seq b)" in capsys.readouterr().err


def test_eval_with_an_argument_too_many_and_no_seq_says_only_what_argparse_says(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["eval", str(tmp_path / "pred"), str(tmp_path / "gt"), "extra"])
    err = capsys.readouterr().err
    assert "unrecognized arguments: extra" in err and "--seq" not in err.splitlines()[-1]
