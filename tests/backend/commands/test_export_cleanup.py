"""``samvid export``'s last steps: clearing up OUT's old contents once the new export is in
place, and the bounds of --workers."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from samvid.cli import main
from samvid.commands import export as command
from samvid.commands.export import OLD_PREFIX, partial_folder, put_in_place


def test_old_contents_that_cannot_be_removed_leave_the_new_export_in_place_with_a_warning(
        tmp_path: Path, monkeypatch, caplog) -> None:
    out = tmp_path / "out"
    new = partial_folder(out)
    (out / "old.txt").write_text("old")
    (new / "annotations.json").write_text("{}")
    remove = shutil.rmtree

    def refuse_the_old_folder(path, *args, **kwargs):
        if Path(path).name.startswith(OLD_PREFIX):
            raise PermissionError(13, "Permission denied", str(path))
        return remove(path, *args, **kwargs)

    monkeypatch.setattr(command.shutil, "rmtree", refuse_the_old_folder)
    with caplog.at_level(logging.WARNING, logger="samvid.commands.export"):
        put_in_place(new, out)  # no error: the command exits 0
    (old,) = [p for p in out.iterdir() if p.name.startswith(OLD_PREFIX)]
    assert (out / "annotations.json").read_text() == "{}" and not (out / "old.txt").exists()
    assert (old / "old.txt").exists()
    assert old.name in caplog.text and "can be removed" in caplog.text
    assert "nothing was changed" not in caplog.text


@pytest.mark.parametrize("workers", ["65", "100000"])
def test_export_refuses_more_workers_than_it_allows_naming_the_limit(workers, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(tmp_path / "out"), "--project", "1", "--format", "coco", "--workers", workers,
              "--url", "http://127.0.0.1:9", "--api-key", "k"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--workers" in err and "at most 64" in err
    assert not (tmp_path / "out").exists()


def test_export_takes_the_most_workers_it_allows(tmp_path: Path) -> None:
    # Parsed, then refused for the file in the way: the count itself was taken.
    out = tmp_path / "out"
    out.write_text("")
    assert main(["export", str(out), "--project", "1", "--format", "coco", "--workers", "64",
                 "--url", "http://127.0.0.1:9", "--api-key", "k"]) == 2
