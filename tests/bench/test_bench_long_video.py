"""The long-video memory bench (``bench/bench_long_video.py``): it measures the video its
``--minutes`` and ``--fps`` describe, and says so when a reused file is another one."""

from __future__ import annotations

import sys
from pathlib import Path

import bench_long_video
import pytest


def test_a_reused_video_of_another_length_is_named_not_an_assertion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Written at 30 fps, asked for at 10: before the fix a bare "AssertionError: (6, 2)".
    video = tmp_path / "long.mp4"
    bench_long_video.write_video(video, bench_long_video.WanderingObject((1080, 1920), 6), 30)
    monkeypatch.setattr(sys, "argv", ["bench_long_video.py", "--video", str(video), "--minutes", "0.004",
                                      "--fps", "10", "--engine", "copy"])
    with pytest.raises(SystemExit) as exit_:
        bench_long_video.main()
    assert exit_.value.code == 2
    assert f"{video} has 6 frames, not the 2 of --minutes 0.004 at --fps 10" in capsys.readouterr().err
