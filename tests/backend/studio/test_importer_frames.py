"""How an import writes a frame's image file (samvid.studio.importer._write_image), with real
files: atomic, resumable, and safe beside another import writing the same frame; and how
`import --upload` keeps its temp frames (one at a time, none left by a killed run)."""

from __future__ import annotations

import errno
import os
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from at_once import at_once, failures
from clipgen import write_clip

from samvid.errors import VideoError
from samvid.studio.client import Project
from samvid.studio.import_plan import ImportOptions, plan_clips
from samvid.studio.importer import (
    STALE_PARTIAL_SECONDS,
    _import_clip,
    _remove_stale_partials,
    _remove_stale_uploads,
    _write_image,
)

OPTIONS = ImportOptions("frames", "<View/>")
IMAGE = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)


def fill_the_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """A temp frame's write stops part way, as on a full disk: its first bytes are on the
    disk. (Not a real `ulimit -f`: in the test process it also cut the .pyc files of modules
    first imported meanwhile.)"""
    def part_then_full(path: Path, data: bytes) -> int:
        with path.open("wb") as fh:
            fh.write(data[:100])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(Path, "write_bytes", part_then_full)


def test_two_imports_writing_the_same_frame_at_once_both_succeed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Imports sharing a frames folder from two machines are not serialised by the clip lock
    # (one per machine): both wrote one temp file and the second rename found it gone,
    # reported as "cannot write ...: free space" though the disk was fine.
    write_bytes = Path.write_bytes
    both_written = threading.Barrier(2, timeout=10)

    def write_then_wait(path: Path, data: bytes) -> int:  # both writers mid-write at once
        written = write_bytes(path, data)
        both_written.wait()
        return written

    monkeypatch.setattr(Path, "write_bytes", write_then_wait)
    frame = tmp_path / "000000.jpg"
    assert failures(at_once(lambda: _write_image(frame, IMAGE, OPTIONS))) == []
    assert cv2.imread(str(frame)).shape == IMAGE.shape
    assert [p.name for p in tmp_path.iterdir()] == ["000000.jpg"]


@pytest.mark.parametrize("empty", [True, False])
def test_a_folder_where_a_frame_should_be_is_named_in_the_error(tmp_path: Path, empty: bool) -> None:
    frame = tmp_path / "000000.jpg"
    frame.mkdir()  # its size is not 0: it was taken for a written frame, and given to Label Studio
    if not empty:
        (frame / "something.jpg").write_bytes(b"x")
    with pytest.raises(VideoError, match=r"cannot write .*000000\.jpg: a folder is in its place; "
                                         r"remove it, then run the same import again to resume"):
        _write_image(frame, IMAGE, OPTIONS)


def test_a_frame_that_cannot_be_written_leaves_no_partial_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = tmp_path / "000000.png"
    fill_the_disk(monkeypatch)
    with pytest.raises(VideoError) as raised:
        _write_image(frame, IMAGE, ImportOptions("frames", "<View/>", image_format="png"))
    assert "cannot write" in str(raised.value) and "000000.png" in str(raised.value)
    assert "run the same import again to resume" in str(raised.value)
    assert list(tmp_path.iterdir()) == []  # a temp file per failed try would pile up


def test_a_written_frame_is_kept_when_the_import_resumes(tmp_path: Path) -> None:
    frame = tmp_path / "000000.jpg"
    _write_image(frame, IMAGE, OPTIONS)
    written = frame.read_bytes()
    _write_image(frame, np.zeros_like(IMAGE), OPTIONS)
    assert frame.read_bytes() == written
    assert [p.name for p in tmp_path.iterdir()] == ["000000.jpg"]


def test_an_empty_frame_file_is_written_again(tmp_path: Path) -> None:
    frame = tmp_path / "000000.jpg"
    frame.touch()  # what a crash before the data reached the disk can leave
    _write_image(frame, IMAGE, OPTIONS)
    assert cv2.imread(str(frame)).shape == IMAGE.shape


def test_temp_frames_left_by_a_killed_import_are_removed_when_the_clip_is_imported_again(tmp_path: Path) -> None:
    # Each writer's temp file has a name of its own: a resumed import no longer wrote over
    # the one a killed import left, and every kill left one more.
    old = tmp_path / ".000000.jpg.4b14e0b77d9c.part"
    live = tmp_path / ".000001.jpg.8cc2216cbd4b.part"  # another machine writing it now
    for path in (old, live):
        path.write_bytes(b"half a frame")
    hour_ago = time.time() - STALE_PARTIAL_SECONDS - 60
    os.utime(old, (hour_ago, hour_ago))
    (tmp_path / "000002.jpg").write_bytes(b"a frame")
    _remove_stale_partials(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "000002.jpg"]


class UploadingStudio:
    """Label Studio as `import --upload` reaches it: each upload notes the frame files then
    in its folder."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []
        self.tasks = 0

    def upload_file(self, project_id: int, path: Path) -> str:
        self.seen.append(sorted(p.name for p in path.parent.iterdir()))
        return f"/data/upload/{project_id}/{path.name}"

    def create_tasks(self, project_id: int, data: list[dict]) -> list[int]:
        self.tasks += len(data)
        return list(range(self.tasks - len(data), self.tasks))


def test_an_upload_keeps_one_frame_on_the_disk_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every frame stayed in the temp folder until its clip was done (about 1 GiB per
    # 1200-frame clip), and all of them were left behind when the import was killed.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    options = ImportOptions("frames", "<View/>", upload=True, batch=2)
    plan, = plan_clips([write_clip(tmp_path / "c.mp4", [i / 10 for i in range(5)])], options)
    studio = UploadingStudio()
    summary = _import_clip(studio, Project(1, "frames", "<View/>"), plan, options,  # type: ignore[arg-type]
                           None, [], None)
    assert summary.created == 5
    assert studio.seen == [[f"{i:06d}.jpg"] for i in range(5)]
    assert list((tmp_path / "tmp").iterdir()) == []


def upload_folder(root: Path, name: str, *, age: float, clip_age: float | None = None) -> Path:
    """A temp folder as `import --upload` makes it, holding a clip folder with one frame."""
    folder = root / name
    (folder / "clip").mkdir(parents=True)
    (folder / "clip" / "000000.jpg").write_bytes(b"a frame")
    now = time.time()
    for path, seconds in ((folder / "clip" / "000000.jpg", age), (folder / "clip", clip_age or age), (folder, age)):
        os.utime(path, (now - seconds, now - seconds))
    return folder


def test_upload_folders_left_by_killed_imports_are_removed_by_the_next_upload(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A killed `import --upload` left its temp folder for good: a rerun made a new one and
    # never removed the old.
    stale = STALE_PARTIAL_SECONDS + 60
    killed = upload_folder(tmp_path, "samvid-upload-killed", age=stale)
    live = upload_folder(tmp_path, "samvid-upload-live", age=stale, clip_age=5)  # a long import, writing now
    young = upload_folder(tmp_path, "samvid-upload-young", age=5)
    others = upload_folder(tmp_path, "other-upload-x", age=stale)  # not samvid's
    linked = tmp_path / "samvid-upload-link"
    linked.symlink_to(others)
    os.utime(linked, (time.time() - stale,) * 2, follow_symlinks=False)
    _remove_stale_uploads(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (live, young, others, linked))
    assert (others / "clip" / "000000.jpg").exists()
    # Another user's folder (a shared /tmp) is theirs to remove.
    theirs = upload_folder(tmp_path, "samvid-upload-theirs", age=stale)
    monkeypatch.setattr(os, "getuid", lambda: theirs.stat().st_uid + 1)
    _remove_stale_uploads(tmp_path)
    assert theirs.exists()
    assert not killed.exists()
