"""The decoder bench (``bench/bench_frames.py``): what it says when given nothing to
measure or a video that is not there (``../shared/media`` missing from a fresh clone)."""

from __future__ import annotations

import sys

import bench_frames
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
