"""``samvid track`` and ``samvid eval`` end to end on a tiny synthetic DAVIS folder."""

from __future__ import annotations

from synthetic import BENCHMARK_SET, with_frames, write_sequence
from synthetic import main as synthetic_main

from samvid.cli import main


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


def _official_layout(root, resolution: str = "480p") -> None:
    """Move a flat DAVIS root's sequences under a resolution level, as DAVIS ships them."""
    for part in ("JPEGImages", "Annotations"):
        level = root / part / resolution
        level.mkdir()
        for seq in [p for p in (root / part).iterdir() if p.is_dir() and p != level]:
            seq.rename(level / seq.name)


def test_track_and_eval_read_the_official_davis_layout(tmp_path, capsys) -> None:
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 4), gt, (96, 170))
    _official_layout(gt)
    assert main(["track", "--resolution", "480p", str(gt), str(pred)]) == 0
    assert len(list((pred / "Annotations" / "basic").glob("*.png"))) == 4
    assert main(["eval", "--resolution", "480p", str(pred), str(gt)]) == 0
    mean = [line for line in capsys.readouterr().out.splitlines() if line.startswith("mean")][0]
    assert float(mean.split()[-1]) > 0.8


def test_a_sequence_that_fails_is_reported_and_the_others_still_run(tmp_path, capsys) -> None:
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), gt, (96, 170))
    write_sequence(with_frames(BENCHMARK_SET["fast"], 3), gt, (96, 170))
    for png in (gt / "Annotations" / "basic").glob("*.png"):
        png.unlink()  # no first mask: nothing to start from
    assert main(["track", str(gt), str(pred)]) == 1
    out = capsys.readouterr().out
    assert "basic: FAILED" in out and "no mask for its first frame" in out
    assert len(list((pred / "Annotations" / "fast").glob("*.png"))) == 3
    (gt / "Annotations" / "basic").rmdir()
    (gt / "Annotations" / "broken").mkdir()  # a sequence with no masks at all
    assert main(["eval", str(pred), str(gt)]) == 1
    out = capsys.readouterr().out
    assert "broken: FAILED" in out and any(line.startswith("fast") for line in out.splitlines())


def test_track_runs_a_model_engine_named_with_its_model(tmp_path) -> None:
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), gt, (96, 170))
    assert main(["track", "--engine", "guided:classic", str(gt), str(pred)]) == 0
    assert len(list((pred / "Annotations" / "basic").glob("*.png"))) == 3


def test_track_with_an_unknown_engine_names_the_choices_before_any_work(tmp_path, capsys) -> None:
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), tmp_path / "gt", (96, 170))
    assert main(["track", "--engine", "raft", str(tmp_path / "gt"), str(tmp_path / "pred")]) == 2
    err = capsys.readouterr().err
    assert "unknown engine 'raft'" in err and "flow, flow-preview, rigid" in err and "sam2" in err
    assert not (tmp_path / "pred").exists()


def test_track_with_a_model_that_has_no_weights_says_so_before_any_work(tmp_path, capsys) -> None:
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), tmp_path / "gt", (96, 170))
    missing = tmp_path / "no-such-model"
    assert main(["track", "--engine", f"sam2:{missing}", str(tmp_path / "gt"), str(tmp_path / "pred")]) == 2
    assert f"{missing}: no such folder" in capsys.readouterr().err
    assert not (tmp_path / "pred").exists()


def test_track_help_lists_every_engine_it_accepts(capsys) -> None:
    import pytest

    with pytest.raises(SystemExit):
        main(["track", "--help"])
    out = capsys.readouterr().out
    assert "sam2[:MODEL]" in out and "guided[:MODEL]" in out
    assert "one of auto, flow," in " ".join(out.split())


def test_a_sequence_whose_first_mask_is_empty_or_of_another_size_fails_alone(tmp_path, capsys) -> None:
    import numpy as np

    from samvid.tracker.masks import write_label_png

    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), gt, (96, 170))
    write_sequence(with_frames(BENCHMARK_SET["fast"], 3), gt, (96, 170))
    first = gt / "Annotations" / "basic" / "00000.png"
    for bad in (np.zeros((96, 170), np.uint8), np.ones((48, 85), np.uint8)):
        write_label_png(first, bad)
        assert main(["track", "--engine", "copy", str(gt), str(pred)]) == 1
        out = capsys.readouterr().out
        assert "basic: FAILED" in out and "fast: 3 of 3 frames" in out


def test_eval_matches_frames_whatever_the_digits_of_their_names_and_refuses_a_folder_without_any(
        tmp_path, capsys) -> None:
    gt = tmp_path / "gt"
    write_sequence(with_frames(BENCHMARK_SET["twins"], 3), gt, (96, 170))
    pred = tmp_path / "pred" / "Annotations" / "twins"
    pred.mkdir(parents=True)
    for png in (gt / "Annotations" / "twins").glob("*.png"):  # 00001.png -> 000001.png
        (pred / f"{int(png.stem):06d}.png").write_bytes(png.read_bytes())
    assert main(["eval", str(tmp_path / "pred"), str(gt)]) == 0
    assert "1.000  1.000  1.000" in capsys.readouterr().out
    for png in pred.glob("*.png"):
        png.rename(pred / f"frame{png.name}")  # names that say no frame number
    assert main(["eval", str(tmp_path / "pred"), str(gt)]) == 1
    assert "twins: FAILED (no predicted mask" in capsys.readouterr().out


# -- what a run cannot score or write is said, not scored as 0 or written over -------------------


def _labels(folder, frames) -> None:
    """``frames`` (uint8 id maps) as DAVIS palette PNGs 00000.png, 00001.png, ... in ``folder``."""
    from samvid.tracker.masks import write_label_png

    for i, ids in enumerate(frames):
        write_label_png(folder / f"{i:05d}.png", ids)


def _square(value: int = 1):
    import numpy as np

    ids = np.zeros((24, 32), np.uint8)
    ids[6:18, 8:20] = value
    return ids


def test_eval_fails_when_predicted_ids_never_match_ground_truth_ids(tmp_path, capsys) -> None:
    from PIL import Image

    _labels(tmp_path / "gt" / "Annotations" / "seq", [_square(1)] * 3)
    pred = tmp_path / "pred" / "Annotations" / "seq"
    pred.mkdir(parents=True)
    for i in range(3):  # the same masks saved as 0/255 grey: id 255 is no ground-truth id
        Image.fromarray(_square(255), mode="L").save(pred / f"{i:05d}.png")
    assert main(["eval", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 1
    assert "seq: FAILED (predictions hold ids [255], the ground truth [1]" in capsys.readouterr().out


def test_eval_with_no_sequences_is_an_error(tmp_path, capsys) -> None:
    (tmp_path / "gt" / "Annotations").mkdir(parents=True)
    (tmp_path / "pred" / "Annotations").mkdir(parents=True)
    assert main(["eval", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 2
    assert f"no sequence folders in {tmp_path / 'gt' / 'Annotations'}" in capsys.readouterr().err


def test_track_with_no_sequence_folders_is_an_error(tmp_path, capsys) -> None:
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "JPEGImages" / "00000.jpg").write_bytes(b"")  # frames straight in JPEGImages/
    assert main(["track", "--engine", "copy", str(tmp_path), str(tmp_path / "out")]) == 2
    assert f"no sequence folders in {tmp_path / 'JPEGImages'}" in capsys.readouterr().err


def test_eval_sequence_with_empty_first_frame_fails(tmp_path, capsys) -> None:
    import numpy as np

    frames = [np.zeros((24, 32), np.uint8), _square(1), _square(1)]
    _labels(tmp_path / "Annotations" / "seq", frames)
    assert main(["eval", str(tmp_path), str(tmp_path)]) == 1
    assert "seq: FAILED (the first ground-truth frame" in capsys.readouterr().out


def test_eval_reports_frames_without_prediction(tmp_path, capsys) -> None:
    _labels(tmp_path / "gt" / "Annotations" / "seq", [_square(1)] * 4)
    _labels(tmp_path / "pred" / "Annotations" / "seq", [_square(1)] * 4)
    for name in ("00002.png", "00003.png"):
        (tmp_path / "pred" / "Annotations" / "seq" / name).unlink()
    assert main(["eval", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 0
    assert "seq: 2 of 3 scored frames have no predicted mask (scored as empty)" in capsys.readouterr().out


def test_track_refuses_out_equal_to_src(tmp_path, capsys) -> None:
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), tmp_path, (96, 170))
    truth = {p: p.read_bytes() for p in (tmp_path / "Annotations" / "basic").glob("*.png")}
    assert main(["track", "--engine", "copy", str(tmp_path), str(tmp_path)]) == 2
    assert "would overwrite the ground truth" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in truth} == truth


def test_track_rerun_leaves_no_mask_from_an_earlier_run(tmp_path) -> None:
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), gt, (96, 170))
    stale = pred / "Annotations" / "basic" / "00007.png"  # an earlier run on a longer clip
    _labels(stale.parent, [_square(1)] * 8)
    assert main(["track", "--engine", "copy", str(gt), str(pred)]) == 0
    assert sorted(p.name for p in stale.parent.glob("*.png")) == ["00000.png", "00001.png", "00002.png"]


def test_track_summary_names_skipped_frames(tmp_path, capsys) -> None:
    gt = tmp_path / "gt"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 4), gt, (96, 170))
    (gt / "JPEGImages" / "basic" / "00002.jpg").write_bytes(b"not a jpeg")
    assert main(["track", "--engine", "copy", str(gt), str(tmp_path / "pred")]) == 0
    out = capsys.readouterr().out
    assert "basic: 3 of 4 frames in" in out and out.rstrip().endswith("; skipped 00002")


def test_wrong_resolution_names_available_levels(tmp_path, capsys) -> None:
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), tmp_path, (96, 170))
    _official_layout(tmp_path)
    assert main(["track", "--resolution", "1080p", str(tmp_path), str(tmp_path / "out")]) == 2
    assert "has no 1080p level, only 480p" in capsys.readouterr().err
    assert main(["eval", "--resolution", "1080p", str(tmp_path), str(tmp_path)]) == 2
    assert "has no 1080p level, only 480p" in capsys.readouterr().err


def test_the_full_resolution_level_of_davis_is_a_level_not_a_sequence(tmp_path, capsys) -> None:
    # DAVIS 2017's full-resolution download has JPEGImages/Full-Resolution only: read as the
    # flat layout, "Full-Resolution" FAILED as a sequence and the real ones were never run.
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), tmp_path, (96, 170))
    _official_layout(tmp_path, "Full-Resolution")
    assert main(["track", str(tmp_path), str(tmp_path / "out")]) == 2
    assert "has no 480p level, only Full-Resolution" in capsys.readouterr().err
    out = tmp_path / "out"
    assert main(["track", "--resolution", "Full-Resolution", str(tmp_path), str(out)]) == 0
    assert len(list((out / "Annotations" / "basic").glob("*.png"))) == 3


def test_a_sequence_named_twice_is_scored_and_tracked_once(tmp_path, capsys) -> None:
    import numpy as np

    moved = np.roll(_square(1), 6, axis=1)  # "bad" is predicted 6 px off after its first frame
    for seq, pred in (("good", _square(1)), ("bad", moved)):
        _labels(tmp_path / "gt" / "Annotations" / seq, [_square(1)] * 3)
        _labels(tmp_path / "pred" / "Annotations" / seq, [_square(1), pred, pred])
    assert main(["eval", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 0
    mean_of_all = [line for line in capsys.readouterr().out.splitlines() if line.startswith("mean")]
    argv = ["eval", str(tmp_path / "pred"), str(tmp_path / "gt"), "--seq", "good", "--seq", "good", "--seq", "bad"]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line.startswith("mean")] == mean_of_all
    assert [line.split()[0] for line in out if line.startswith(("good", "bad"))] == ["good", "bad"]

    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), tmp_path / "src", (96, 170))
    argv = ["track", "--engine", "copy", str(tmp_path / "src"), str(tmp_path / "out"), "--seq", "basic", "--seq", "basic"]
    assert main(argv) == 0
    assert len([line for line in capsys.readouterr().out.splitlines() if line.startswith("basic:")]) == 1


def test_a_sequence_too_short_to_score_fails_instead_of_scoring_nan(tmp_path, capsys) -> None:
    for root in ("gt", "pred"):
        _labels(tmp_path / root / "Annotations" / "one", [_square(1)])
        _labels(tmp_path / root / "Annotations" / "two", [_square(1)] * 2)
        _labels(tmp_path / root / "Annotations" / "four", [_square(1)] * 4)
    assert main(["eval", str(tmp_path / "pred"), str(tmp_path / "gt"), "--skip-last"]) == 1
    out = capsys.readouterr().out
    assert "one: FAILED (no frame to score" in out and "two: FAILED (no frame to score" in out
    assert "nan" not in out
    mean = [line for line in out.splitlines() if line.startswith("mean")][0]
    assert mean.split()[1:] == ["1", "1.000", "1.000", "1.000"]  # four's one object only


def test_when_every_sequence_fails_no_mean_is_printed(tmp_path, capsys) -> None:
    for root in ("gt", "pred"):
        _labels(tmp_path / root / "Annotations" / "one", [_square(1)])
    assert main(["eval", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 1
    out = capsys.readouterr().out
    assert "one: FAILED" in out and "1 of 1 sequences failed" in out
    assert "nan" not in out and not any(line.startswith("mean") for line in out.splitlines())


def test_a_label_png_too_large_for_pillow_fails_its_sequence_alone_unless_the_pixel_limit_is_raised(
        tmp_path, capsys, monkeypatch) -> None:
    from PIL import Image

    gt, pred = tmp_path / "gt", tmp_path / "pred"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), gt, (96, 170))
    write_sequence(with_frames(BENCHMARK_SET["fast"], 3), gt, (48, 86))
    # basic's masks (16320 px) stand for ones over Pillow's ~179 MP: twice the limit is under them.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 8000)
    monkeypatch.setenv("SAMVID_MAX_IMAGE_PIXELS", "8000")
    for command in (["track", "--engine", "copy", str(gt), str(pred)], ["eval", str(gt), str(gt)]):
        assert main(command) == 1  # not a traceback
        out = capsys.readouterr().out
        assert "basic: FAILED (" in out and "SAMVID_MAX_IMAGE_PIXELS" in out
        assert any(line.startswith("fast") and "FAILED" not in line for line in out.splitlines())
    # Raised as for the images samvid reads, the setting lets both read them.
    monkeypatch.setenv("SAMVID_MAX_IMAGE_PIXELS", "20000")
    assert main(["track", "--engine", "copy", str(gt), str(pred)]) == 0
    assert main(["eval", str(pred), str(gt)]) == 0
