"""``samvid export`` as a command: where it writes, what replaces what, what it says."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import yaml

from samvid.cli import main
from samvid.commands.export import partial_folder, put_in_place, summary_lines, write_error
from samvid.errors import SamvidError
from samvid.export import FORMATS, Summary, davis


def files(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_finished_export_replaces_the_old_contents_whole(tmp_path):
    out = tmp_path / "out"
    new = partial_folder(out)
    (out / "labels" / "gone").mkdir(parents=True)
    (out / "labels" / "gone" / "000000.txt").write_text("0 0.1 0.1 0.2 0.2 0.3 0.1\n")
    (new / "labels" / "a").mkdir(parents=True)
    (new / "labels" / "a" / "000000.txt").write_text("")
    put_in_place(new, out)
    assert sorted(p.name for p in out.iterdir()) == ["labels"]  # nothing aside is left
    assert list(files(out)) == ["labels/a/000000.txt"]


def test_the_partial_folder_is_inside_out_so_out_itself_is_never_renamed(tmp_path):
    # OUT may be a mount point (a Docker volume), "." or under a read-only parent.
    partial = partial_folder(tmp_path / "out")
    assert partial.parent == tmp_path / "out" and partial.name.startswith(".samvid-partial-")
    assert partial.is_dir() and not any(partial.iterdir())


def test_folders_left_by_a_killed_export_with_this_process_id_do_not_block_the_next(tmp_path):
    # A container gives its command the same pid on every run; an export killed (OOM,
    # SIGKILL) while it wrote or swapped leaves its hidden folders in OUT.
    out = tmp_path / "out"
    for left in (f".samvid-partial-{os.getpid()}", f".samvid-old-{os.getpid()}"):
        (out / left / "labels").mkdir(parents=True)
        (out / left / "labels" / "000000.txt").write_text("0 0.1 0.1 0.2 0.2 0.3 0.1\n")
    (out / "annotations.json").write_text("{}")
    new = partial_folder(out)
    assert not any(new.iterdir())  # nothing of the killed export's files comes in
    (new / "data.yaml").write_text("nc: 1\n")
    put_in_place(new, out)
    assert list(files(out)) == ["data.yaml"]
    assert sorted(p.name for p in out.iterdir()) == ["data.yaml"]


def test_a_failed_swap_leaves_every_older_entry_of_out_in_place(tmp_path, monkeypatch):
    # rename(2) refuses a mount point inside OUT (EXDEV/EBUSY) and, for a user, a folder
    # they may not write (EACCES): the swap fails and OUT must stay as it was.
    out = tmp_path / "out"
    (out / "mounted").mkdir(parents=True)
    (out / "mounted" / "precious.txt").write_text("on another file system")
    (out / "a.txt").write_text("a")
    (out / "z.txt").write_text("z")
    before = files(out)
    new = partial_folder(out)
    new.mkdir(exist_ok=True)
    (new / "annotations.json").write_text("{}")
    rename = Path.rename

    def refuse_the_mount_point(self, target):
        if self.name == "mounted":
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(self))
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", refuse_the_mount_point)
    with pytest.raises(OSError):
        put_in_place(new, out)
    monkeypatch.undo()
    assert {k: v for k, v in files(out).items() if not k.startswith(".samvid")} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".samvid-old-")]


def test_a_ctrl_c_while_the_export_takes_its_place_puts_the_previous_one_back(tmp_path, monkeypatch):
    # Only an OSError rolled back: the old export stayed hidden, the new one half in place.
    out = tmp_path / "out"
    (out / "images").mkdir(parents=True)
    (out / "annotations.json").write_text("old")
    before = files(out)
    new = partial_folder(out)
    (new / "images").mkdir()
    (new / "annotations.json").write_text("new")
    rename = Path.rename

    def interrupted(self, target):
        if self.parent == new and self.name == "annotations.json":
            raise KeyboardInterrupt
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        put_in_place(new, out)
    monkeypatch.undo()
    assert {k: v for k, v in files(out).items() if not k.startswith(".samvid")} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".samvid-old-")]


@pytest.mark.parametrize("code, advice", [
    (errno.ENOSPC, "free some space or export elsewhere"),
    (errno.EACCES, "choose an OUT folder you can write to"),
    (errno.ENAMETOOLONG, "choose a shorter OUT path"),
])
def test_a_file_system_error_is_one_line_naming_the_path_and_what_to_do(code, advice, tmp_path):
    error = write_error(OSError(code, os.strerror(code), str(tmp_path / "x" / "a.png")), tmp_path)
    assert isinstance(error, SamvidError)
    assert error.message == (f"cannot write {tmp_path / 'x' / 'a.png'}: {os.strerror(code)}: {advice} "
                             f"(nothing was changed in {tmp_path})")


def test_an_export_of_predictions_only_says_to_pass_fill():
    summary = Summary(clips=1, frames=0, prediction_only=5)
    assert summary_lines(summary, fill=False) == [
        "5 frames have only predictions: pass --fill to export samvid's "
        "(--include-predictions: any model's)"]
    assert summary_lines(Summary(clips=1, frames=3, prediction_only=5), fill=False) == []


def run_export(project, fmt, out, *extra) -> int:
    return main(["export", "--project", str(project.id), "--format", fmt, str(out),
                 "--url", project.url, "--api-key", project.token, *extra])


@pytest.mark.studio
def test_overwrite_removes_files_of_frames_and_clips_no_longer_exported(studio_project, tmp_path):
    out = tmp_path / "out"
    assert run_export(studio_project, "yolo", out) == 0
    first = files(out)
    stale = ["images/gone/000000.png", "labels/gone/000000.txt", "labels/walk/000003.txt"]
    for name in stale:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("0 0.1 0.1 0.2 0.2 0.3 0.1\n")
    assert run_export(studio_project, "yolo", out, "--overwrite") == 0
    assert files(out) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.studio
def test_overwrite_succeeds_over_folders_a_killed_export_with_this_process_id_left(
        studio_project, tmp_path):
    out = tmp_path / "out"
    assert run_export(studio_project, "coco", out, "--no-images") == 0
    first = files(out)
    for left in (f".samvid-partial-{os.getpid()}", f".samvid-old-{os.getpid()}"):
        (out / left).mkdir()
        (out / left / "stale.txt").write_text("")
    assert run_export(studio_project, "coco", out, "--no-images", "--overwrite") == 0
    assert files(out) == first
    assert sorted(p.name for p in out.iterdir()) == ["annotations.json"]


@pytest.mark.studio
def test_an_out_holding_only_a_killed_exports_partial_folder_takes_a_new_export(studio_project, tmp_path):
    out = tmp_path / "out"
    (out / ".samvid-partial-x1y2z3" / "labels").mkdir(parents=True)  # killed while it wrote
    assert run_export(studio_project, "coco", out, "--no-images") == 0
    assert sorted(p.name for p in out.iterdir()) == ["annotations.json"]


@pytest.mark.studio
def test_a_failed_export_leaves_the_previous_export_untouched(studio_project, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert run_export(studio_project, "davis", out) == 0
    before = files(out)

    class Failing(davis.DavisWriter):
        def close(self):
            raise SamvidError("Label Studio went away")

    monkeypatch.setitem(FORMATS, "davis", (Failing, davis.load))
    assert run_export(studio_project, "davis", out, "--overwrite", "--fill") == 2
    assert "Label Studio went away" in capsys.readouterr().err
    assert files(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".samvid")]  # the partial folder is gone


@pytest.mark.studio
def test_overwrite_of_the_current_folder_replaces_its_contents(studio_project, tmp_path, monkeypatch):
    out = tmp_path / "out"
    (out / "old").mkdir(parents=True)
    (out / "old" / "stale.txt").write_text("")
    monkeypatch.chdir(out)
    assert run_export(studio_project, "coco", ".", "--overwrite", "--no-images") == 0
    assert sorted(p.name for p in out.iterdir()) == ["annotations.json"]


@pytest.mark.studio
def test_export_into_a_folder_under_a_file_fails_in_one_line(studio_project, tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    assert run_export(studio_project, "coco", tmp_path / "afile" / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "samvid export: error: cannot write" in err
    assert "choose an OUT folder you can write to" in err


@pytest.mark.studio
def test_no_images_names_frames_with_the_tasks_own_extension(studio_project, tmp_path):
    assert run_export(studio_project, "coco", tmp_path, "--no-images") == 0
    names = {im["file_name"] for im in json.loads((tmp_path / "annotations.json").read_text())["images"]}
    assert "walk/000000.png" in names and not any(n.endswith(".jpg") for n in names)


@pytest.mark.studio
def test_yolo_data_yaml_names_no_folder_not_even_the_one_the_export_was_written_in(studio_project, tmp_path):
    # The export is written into a partial folder inside OUT and moved into place; with no
    # `path`, Ultralytics roots train/val at the yaml's folder, OUT or wherever it is moved.
    out = tmp_path / "out"
    assert run_export(studio_project, "yolo", out, "--no-images") == 0
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert "path" not in data and (data["train"], data["val"]) == ("images", "images")
