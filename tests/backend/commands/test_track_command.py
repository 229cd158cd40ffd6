"""``samvid track`` refuses an OUT that would write into its own input, before any work
(the tracking itself: ``tests/tracker/test_cli.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from synthetic import BENCHMARK_SET, with_frames, write_sequence

from samvid.cli import main


@pytest.mark.parametrize("out", ["JPEGImages", "JPEGImages/basic"])
def test_track_refuses_an_out_folder_among_the_frames_it_reads(out: str, tmp_path: Path, capsys) -> None:
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), tmp_path, (96, 170))
    assert main(["track", "--engine", "copy", str(tmp_path), str(tmp_path / out)]) == 2
    assert "would be written among the frames" in capsys.readouterr().err
    # Nothing was written there: a later run still finds only the real sequence.
    assert sorted(p.name for p in (tmp_path / "JPEGImages").iterdir()) == ["basic"]
    assert not (tmp_path / "JPEGImages" / "basic" / "Annotations").exists()


def test_track_of_a_root_without_masks_says_where_the_masks_belong(tmp_path: Path, capsys) -> None:
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), tmp_path, (96, 170))
    shutil.rmtree(tmp_path / "Annotations")
    # OUT inside SRC, as for `samvid track data data/results`: no ground truth is there to overwrite.
    assert main(["track", "--engine", "copy", str(tmp_path), str(tmp_path / "results")]) != 0
    err = capsys.readouterr().err
    assert "has no Annotations/ folder" in err
    assert "overwrite the ground truth" not in err


def test_track_writes_a_sequence_named_with_a_trailing_slash_once(tmp_path: Path, capsys) -> None:
    src = tmp_path / "src"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), src, (96, 170))
    # `--seq basic/` is what tab completion gives; `basic` and `basic/` are still one sequence.
    assert main(["track", "--engine", "copy", str(src), str(tmp_path / "out"), "--seq", "basic", "--seq", "basic/"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("basic")]
    assert len(lines) == 1 and lines[0].startswith("basic: 3 of 3 frames")


def test_track_of_a_sequence_named_by_its_absolute_path_tracks_that_sequence(tmp_path: Path, capsys) -> None:
    src = tmp_path / "src"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), src, (96, 170))
    # As a shell gives it after `ls $PWD/src/Annotations/basic`: the sequence, not a path onto OUT.
    seq = str(src / "Annotations" / "basic")
    assert main(["track", "--engine", "copy", str(src), str(tmp_path / "out"), "--seq", seq]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("basic: 3 of 3 frames")
    assert len(list((tmp_path / "out" / "Annotations" / "basic").glob("*.png"))) == 3


@pytest.mark.parametrize("seq", [".", "..", "/", ""])
def test_track_of_a_seq_that_names_no_sequence_says_what_seq_takes_and_touches_nothing(
        seq: str, tmp_path: Path, capsys) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), src, (96, 170))
    shutil.copy(next((src / "JPEGImages" / "basic").iterdir()), src / "preview.jpg")
    (out / "Annotations").mkdir(parents=True)  # an earlier run's
    (out / "figure.png").write_bytes(b"the user's own picture")
    assert main(["track", "--engine", "copy", str(src), str(out), "--seq", seq]) == 2
    err = capsys.readouterr().err
    assert f"--seq {seq!r} is no sequence name" in err and "basic" in err
    # `--seq ..` read OUT/Annotations/.. (OUT itself) as the sequence's output and cleared it.
    assert (out / "figure.png").exists()


def test_track_takes_every_repeated_seq(tmp_path: Path, capsys) -> None:
    src = tmp_path / "src"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), src, (96, 170))
    write_sequence(with_frames(BENCHMARK_SET["twins"], 3), src, (96, 170))
    assert main(["track", "--engine", "copy", str(src), str(tmp_path / "out"), "--seq", "basic", "--seq", "twins"]) == 0
    assert sorted(p.name for p in (tmp_path / "out" / "Annotations").iterdir()) == ["basic", "twins"]


def test_track_takes_a_seq_given_before_src_and_out(tmp_path: Path, capsys) -> None:
    # `--seq` took several names, so `samvid track --seq basic SRC OUT` read SRC and OUT as
    # sequences and said "the following arguments are required: src, out".
    src = tmp_path / "src"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), src, (96, 170))
    write_sequence(with_frames(BENCHMARK_SET["twins"], 3), src, (96, 170))
    assert main(["track", "--engine", "copy", "--seq", "basic", str(src), str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out" / "Annotations").iterdir()) == ["basic"]


@pytest.mark.parametrize("blocker", ["out", "out/Annotations"])
def test_track_to_an_out_where_a_file_is_in_the_way_is_refused_before_any_work_and_keeps_the_file(
        blocker: str, tmp_path: Path, capsys) -> None:
    src = tmp_path / "src"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), src, (96, 170))
    (tmp_path / blocker).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / blocker).write_text("the user's notes\n")
    # Was exit 1 with "basic: FAILED ([Errno 20] Not a directory: ...)" for every sequence.
    assert main(["track", "--engine", "copy", str(src), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / blocker} is a file, not a folder: give an OUT folder" in err
    assert (tmp_path / blocker).read_text() == "the user's notes\n"


def test_track_of_a_seq_with_no_frames_folder_names_the_sequences_there_and_tracks_none(
        tmp_path: Path, capsys) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), src, (96, 170))
    write_sequence(with_frames(BENCHMARK_SET["twins"], 3), src, (96, 170))
    # A typo failed alone with a bare "No such file or directory" while the others ran.
    assert main(["track", "--engine", "copy", str(src), str(out), "--seq", "bsaic", "--seq", "twins"]) == 2
    err = capsys.readouterr().err
    assert "--seq bsaic: no such sequence" in err and "its sequences are basic, twins" in err
    assert not out.exists()


def test_track_of_a_video_file_says_to_split_it_into_frames(tmp_path: Path, capsys) -> None:
    clip = tmp_path / "dog.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    assert main(["track", "--engine", "copy", str(clip), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{clip} is a video file" in err and "JPEGImages/dog/%05d.jpg" in err
    assert not (tmp_path / "out").exists()


def test_track_of_a_src_that_is_not_there_says_so(tmp_path: Path, capsys) -> None:
    assert main(["track", "--engine", "copy", str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 2
    assert f"{tmp_path / 'nowhere'} does not exist: give a DAVIS-layout root" in capsys.readouterr().err


def test_track_into_another_davis_root_is_refused_and_its_ground_truth_kept(tmp_path: Path, capsys) -> None:
    src, full = tmp_path / "subset", tmp_path / "full"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), src, (96, 170))
    write_sequence(with_frames(BENCHMARK_SET["basic"], 5), full, (96, 170))
    truth = {p.name: p.read_bytes() for p in (full / "Annotations" / "basic").iterdir()}
    # The full set beside a subset of it (or a `samvid export`): its human masks of basic
    # were deleted and replaced by the tracked ones.
    assert main(["track", "--engine", "copy", str(src), str(full)]) == 2
    err = capsys.readouterr().err
    assert f"{full} is a DAVIS root or a samvid export (it has JPEGImages/)" in err
    assert f"would delete and replace the masks of basic in {full / 'Annotations'}" in err
    assert {p.name: p.read_bytes() for p in (full / "Annotations" / "basic").iterdir()} == truth


def test_track_into_a_davis_export_without_images_is_refused_and_its_masks_kept(tmp_path: Path, capsys) -> None:
    src, export = tmp_path / "src", tmp_path / "export"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), src, (96, 170))
    # What `samvid export --format davis --no-images` leaves: no JPEGImages/, and its masks
    # were deleted and replaced (exit 0).
    write_sequence(with_frames(BENCHMARK_SET["basic"], 5), export, (96, 170))
    shutil.rmtree(export / "JPEGImages")
    (export / "ImageSets").mkdir()
    (export / "ImageSets" / "all.txt").write_text("basic\n")
    (export / "samvid.json").write_text('{"format": "davis", "categories": [], "clips": []}')
    masks = {p.name: p.read_bytes() for p in (export / "Annotations" / "basic").iterdir()}
    assert main(["track", "--engine", "copy", str(src), str(export)]) == 2
    assert f"{export} is a DAVIS root or a samvid export (it has samvid.json, ImageSets/)" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in (export / "Annotations" / "basic").iterdir()} == masks


@pytest.mark.parametrize("annotations", [None, "Annotations/480p/basic"])
def test_track_into_a_davis_root_it_would_not_overwrite_is_refused_without_saying_it_would(
        annotations: str | None, tmp_path: Path, capsys) -> None:
    src, other = tmp_path / "src", tmp_path / "other"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), src, (96, 170))
    (other / "JPEGImages").mkdir(parents=True)
    if annotations:  # the official layout: track writes Annotations/basic, beside 480p/
        (other / annotations).mkdir(parents=True)
    assert main(["track", "--engine", "copy", str(src), str(other)]) == 2
    err = capsys.readouterr().err
    assert f"{other} is a DAVIS root or a samvid export (it has JPEGImages/)" in err
    assert "overwrite" not in err and "replace" not in err


def test_track_into_its_own_earlier_out_tracks_again(tmp_path: Path, capsys) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), src, (96, 170))
    assert main(["track", "--engine", "copy", str(src), str(out)]) == 0
    assert main(["track", "--engine", "copy", str(src), str(out)]) == 0
    assert len(list((out / "Annotations" / "basic").glob("*.png"))) == 3


def test_track_with_a_bare_seq_tracks_nothing_and_says_a_name_is_missing(tmp_path: Path, capsys) -> None:
    # `--seq $SEQS` with SEQS unset: it tracked every sequence, replacing each one's masks in OUT.
    src = tmp_path / "src"
    for name in ("basic", "twins"):
        write_sequence(with_frames(BENCHMARK_SET[name], 3), src, (96, 170))
    with pytest.raises(SystemExit) as raised:
        main(["track", "--engine", "copy", str(src), str(tmp_path / "out"), "--seq"])
    assert raised.value.code == 2
    assert "--seq: expected one argument" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("var", ["REDIS_URL", "LABEL_STUDIO_URL", "SAMVID_AUTH_USER"])
def test_track_run_from_the_servers_shell_ignores_settings_it_never_uses(
        var: str, tmp_path: Path, capsys, monkeypatch) -> None:
    src = tmp_path / "src"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), src, (96, 170))
    # Was exit 2 with that variable's error: an offline tracker has no queue, no Label Studio, no login.
    monkeypatch.setenv(var, "notaurl" if var != "SAMVID_AUTH_USER" else " ")
    assert main(["track", "--engine", "copy", str(src), str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("basic: 3 of 3 frames")


def test_track_still_refuses_a_setting_it_uses(tmp_path: Path, capsys, monkeypatch) -> None:
    src = tmp_path / "src"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), src, (96, 170))
    monkeypatch.setenv("SAMVID_PRECISION", "fp64")
    assert main(["track", "--engine", "copy", str(src), str(tmp_path / "out")]) == 2
    assert "SAMVID_PRECISION='fp64' is not a precision" in capsys.readouterr().err
    assert not (tmp_path / "out" / "Annotations" / "basic").exists()


def test_track_to_an_out_where_a_file_has_a_sequences_name_is_refused_before_any_work_and_keeps_it(
        tmp_path: Path, capsys) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    write_sequence(with_frames(BENCHMARK_SET["basic"], 3), src, (96, 170))
    write_sequence(with_frames(BENCHMARK_SET["twins"], 3), src, (96, 170))
    (out / "Annotations").mkdir(parents=True)
    (out / "Annotations" / "twins").write_text("the user's notes\n")
    # Was exit 1 with "twins: FAILED ([Errno 17] File exists: ...)" after the others had run.
    assert main(["track", "--engine", "copy", str(src), str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out / 'Annotations' / 'twins'} is a file, not a folder" in err and "give another OUT folder" in err
    assert (out / "Annotations" / "twins").read_text() == "the user's notes\n"
    assert not (out / "Annotations" / "basic").exists()


def test_track_given_several_names_after_one_seq_says_to_repeat_seq(tmp_path: Path, capsys) -> None:
    # An old script's `--seq a b`: argparse's "unrecognized arguments: b" did not say why.
    with pytest.raises(SystemExit) as exit_:
        main(["track", str(tmp_path / "src"), str(tmp_path / "out"), "--seq", "a", "b"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: b; --seq takes one name: repeat it (--seq a --seq b)" in capsys.readouterr().err


def test_an_unknown_option_beside_seq_is_not_blamed_on_seq(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["track", str(tmp_path), str(tmp_path / "out"), "--seq", "a", "--resoltion", "480p"])
    err = capsys.readouterr().err
    assert "unrecognized arguments: --resoltion 480p" in err and "--seq takes one name" not in err
