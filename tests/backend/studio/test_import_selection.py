"""Frame choice on import: codec key frames (``--keyframes``) and shot starts
(``--scene-change T``), through ``plan_clips`` on real H.264 clips and into the session's
real Label Studio with exact frame indices and times (the pure functions:
``test_selection.py``)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from samvid.commands.importer import _options, add_arguments
from samvid.errors import VideoError
from samvid.studio.import_plan import ImportOptions, plan_clips
from samvid.studio.importer import import_videos

SHOTS = (20, 120, 220)  # grey level of each 10-frame shot; frames inside a shot flicker


def write_shots(path: Path, keyint: int = 10, size: tuple[int, int] = (64, 48)) -> Path:
    """30 frames at 25 fps: three shots of 10 frames (a level each, +-3 flicker inside),
    a key frame every ``keyint`` frames exactly (x264's own scene cuts switched off)."""
    width, height = size
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0"}
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for i in range(30):
            grey = SHOTS[i // 10] + int(rng.integers(-3, 4))
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), grey, np.uint8))
            frame.pts, frame.time_base = i * 40, Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


# -- plan_clips on real H.264 -------------------------------------------------------------------


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return write_shots(tmp_path_factory.mktemp("shots") / "shots.mp4")


def plan(path: Path, **kw) -> list[int]:
    (p,) = plan_clips([path], ImportOptions(project="x", label_config="<View/>", **kw))
    return p.selected


def test_keyframes_selects_the_codec_key_frames(shots):
    assert plan(shots, keyframes=True) == [0, 10, 20]
    assert plan(shots, keyframes=True, start=0.5) == [20]  # frame 20 is at 0.8 s
    with pytest.raises(VideoError, match="no key frame"):
        plan(shots, keyframes=True, start=0.5, end=0.7)


def test_scene_change_selects_the_first_frame_of_each_shot(shots):
    assert plan(shots, scene_change=0.2) == [0, 10, 20]
    assert plan(shots, scene_change=0.2, start=0.2) == [5, 10, 20]  # the window's first frame
    assert plan(shots, scene_change=0.2, stride=4) == [0, 4, 8, 10, 12, 16, 20, 24, 28]


def test_keyframes_and_scene_changes_combine(tmp_path):
    video = write_shots(tmp_path / "k7.mp4", keyint=7)
    assert plan(video, keyframes=True) == [0, 7, 14, 21, 28]
    assert plan(video, keyframes=True, scene_change=0.2) == [0, 7, 10, 14, 20, 21, 28]


def test_command_line_flags():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["v.mp4", "--project", "shots", "--keyframes", "--scene-change", "0.3"])
    options = _options(args)
    assert options.keyframes and options.scene_change == 0.3
    for bad in ("0", "1.5", "-1"):
        with pytest.raises(VideoError, match="--scene-change"):
            _options(parser.parse_args(["v.mp4", "--project", "shots", "--scene-change", bad]))


# -- into Label Studio ----------------------------------------------------------------------------


@pytest.mark.studio
def test_shot_starts_imported_with_frames_and_times(studio, options, shots):
    summary = import_videos(studio, [shots], replace(options, scene_change=0.2))
    (clip,) = summary.clips
    assert (clip.frames_in_source, clip.selected, clip.created) == (30, 3, 3)
    tasks = studio.list_tasks(summary.project_id, clip.clip)
    assert [(t.data["frame"], t.data["time"]) for t in tasks] == [(0, 0.0), (10, 0.4), (20, 0.8)]
    again = import_videos(studio, [shots], replace(options, keyframes=True))
    assert again.tasks_created == 0  # the same frames: nothing added
