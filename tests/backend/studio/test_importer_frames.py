"""How an import writes a frame's image file (samvid.studio.importer._write_image), with real
files: atomic, resumable, and safe beside another import writing the same frame."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from at_once import at_once, failures

from samvid.errors import VideoError
from samvid.studio.import_plan import ImportOptions
from samvid.studio.importer import STALE_PARTIAL_SECONDS, _remove_stale_partials, _write_image

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
