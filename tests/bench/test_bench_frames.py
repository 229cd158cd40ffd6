"""The decoder bench (``bench/bench_frames.py``): what it says when given nothing to
measure or a video that is not there (``../shared/media`` missing from a fresh clone), and
what its random-access column times."""

from __future__ import annotations

import sys
from pathlib import Path

import bench_frames
import numpy as np
import pytest


def run_main(monkeypatch: pytest.MonkeyPatch, *argv: str) -> None:
    monkeypatch.setattr(sys, "argv", ["bench_frames.py", *argv])
    bench_frames.main()


def test_a_video_that_is_not_there_is_named_and_nothing_is_measured(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix PyAV raised a traceback: av.error.FileNotFoundError.
    with pytest.raises(SystemExit) as exit_:
        run_main(monkeypatch, "../nowhere/media/*.mp4", "--repeat", "1")
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert "no such video: ../nowhere/media/*.mp4" in captured.err
    assert "| clip |" not in captured.out


def test_no_videos_and_no_vfr_is_refused_rather_than_an_empty_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix it printed the table's header alone and exited 0.
    with pytest.raises(SystemExit) as exit_:
        run_main(monkeypatch)
    assert exit_.value.code == 2
    assert "nothing to measure" in capsys.readouterr().err


class Clock:
    """A stand-in for the bench's clock: time passes only where the test says."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def test_random_access_time_is_the_access_alone_not_the_drift_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each access takes 5 ms and each comparison with the sequential frame 1000 ms on the
    # clock; before the fix the column said 1005 ms.
    clock = Clock()
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(4)]

    def sequential(*args: object) -> list[np.ndarray]:
        clock.now += 1.0
        return frames

    def access(index: int) -> np.ndarray:
        clock.now += 0.005
        return frames[index]

    def compare(a: np.ndarray, b: np.ndarray) -> bool:
        clock.now += 1.0
        return bool((a == b).all())

    class Reader:
        def __init__(self, path: Path) -> None:
            pass

        __getitem__ = staticmethod(access)

        def close(self) -> None:
            pass

    monkeypatch.setattr(bench_frames, "time", clock)
    for name in ("pyav_sequential", "opencv_sequential", "samvid_sequential", "samvid_reverse"):
        monkeypatch.setattr(bench_frames, name, sequential)
    monkeypatch.setattr(bench_frames, "VideoReader", Reader)
    monkeypatch.setattr(bench_frames, "opencv_random", lambda path: access)
    monkeypatch.setattr(bench_frames.np, "array_equal", compare)
    rows = bench_frames.bench_clip(tmp_path / "clip.mp4", samples=4, repeat=1, seed=0)
    accesses = [row for row in rows if "wrong" in row]
    assert len(accesses) == 2
    assert all("| 5 ms, 0/4 wrong |" in row for row in accesses)


def test_the_reverse_column_reads_every_frame_last_to_first_by_index_and_counts_the_differing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reverse tracking reads frames by index from the last: the column times that path.
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(5)]
    asked: list[int] = []

    class Reader:
        def __init__(self, path: Path) -> None:
            pass

        def __len__(self) -> int:
            return len(frames)

        def __getitem__(self, index: int) -> np.ndarray:
            asked.append(index)
            return frames[index] if index != 1 else frames[0]  # frame 1 read backwards is wrong

        def __enter__(self) -> Reader:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def close(self) -> None:
            pass

    for name in ("pyav_sequential", "opencv_sequential", "samvid_sequential"):
        monkeypatch.setattr(bench_frames, name, lambda *args: frames)
    monkeypatch.setattr(bench_frames, "VideoReader", Reader)
    monkeypatch.setattr(bench_frames, "opencv_random", lambda path: frames.__getitem__)
    rows = bench_frames.bench_clip(tmp_path / "clip.mp4", samples=1, repeat=1, seed=0)
    (samvid,) = [row for row in rows if "samvid VideoReader" in row]
    assert asked[-5:] == [4, 3, 2, 1, 0]
    assert samvid.endswith(", 1/5 wrong |")
    assert all(row.endswith("| - |") for row in rows if row is not samvid)
