"""Which frames ``samvid import`` takes (``samvid.studio.selection``): pure functions, no Label Studio."""

from __future__ import annotations

import numpy as np
import pytest

from samvid.studio.selection import (
    grey_histogram,
    histogram_difference,
    keyframe_indices,
    scene_starts,
    select_frames,
)

TIMES = [0.0, 0.1, 0.2, 0.3, 0.4]


def test_select_frames_by_stride_fps_and_time_window() -> None:
    assert select_frames(TIMES) == [0, 1, 2, 3, 4]
    assert select_frames(TIMES, stride=2) == [0, 2, 4]
    assert select_frames(TIMES, fps=4) == [0, 3]
    assert select_frames(TIMES, start=0.1, end=0.3) == [1, 2]
    assert select_frames(TIMES, start=0.1, stride=2) == [1, 3]
    assert select_frames(TIMES, start=9) == []


def test_a_gap_in_a_variable_frame_rate_swallows_the_ticks_inside_it() -> None:
    assert select_frames([0.0, 0.05, 1.0, 1.05, 1.5], fps=2) == [0, 2, 4]


@pytest.mark.parametrize("kwargs", [{"stride": 0}, {"stride": -1}, {"fps": 0}, {"fps": -2.0}])
def test_a_stride_or_rate_that_selects_nothing_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        select_frames(TIMES, **kwargs)


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5])
def test_a_scene_change_threshold_outside_0_to_1_is_refused(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        scene_starts([0.0, 0.5], threshold)


def test_keyframe_indices_inside_the_window() -> None:
    assert keyframe_indices([True, False, True, False], [1, 2, 3]) == [2]
    assert keyframe_indices([True, True], []) == []


def test_scene_starts_are_the_first_frame_and_every_big_change() -> None:
    assert scene_starts([0, 0.05, 0.6, 0.1, 0.9], 0.5) == [0, 2, 4]
    assert scene_starts([0.0], 0.3) == [0]
    assert scene_starts([], 0.3) == []


def test_histogram_difference_ignores_motion_and_sees_cuts() -> None:
    rng = np.random.default_rng(1)
    scene = rng.integers(0, 128, (72, 128, 3), dtype=np.uint8)
    panned = np.roll(scene, 16, axis=1)  # the camera moves: same content, other pixels
    other = rng.integers(128, 256, (72, 128, 3), dtype=np.uint8)  # a cut to a brighter shot
    assert histogram_difference(grey_histogram(scene), grey_histogram(panned)) < 0.01
    assert histogram_difference(grey_histogram(scene), grey_histogram(other)) > 0.4
    flat = np.full((72, 128, 3), 100, np.uint8)  # flicker by 3 levels is no cut
    assert histogram_difference(grey_histogram(flat), grey_histogram(flat + 3)) < 0.02
    black, white = np.zeros_like(flat), np.full_like(flat, 255)
    assert histogram_difference(grey_histogram(black), grey_histogram(white)) == pytest.approx(255 / 256)


@pytest.mark.parametrize("fps", [1e3, 1e9, 1e20])
def test_a_rate_far_above_the_videos_takes_every_frame_at_once(fps: float) -> None:
    times = [i / 25 for i in range(250)]  # 10 s at 25 frames/s
    assert select_frames(times, fps=fps) == list(range(250))


def test_a_rate_on_millisecond_timestamps_takes_evenly_spaced_frames() -> None:
    # Matroska and WebM store whole milliseconds: 30 frames/s reads 0, 0.033, 0.067, 0.1, ...
    times = [round(i / 30, 3) for i in range(30)]
    assert select_frames(times, fps=15) == list(range(0, 30, 2))
    ntsc = [round(i * 1001 / 30000, 3) for i in range(60)]  # 29.97 frames/s
    assert select_frames(ntsc, fps=30000 / 1001 / 2) == list(range(0, 60, 2))


@pytest.mark.parametrize("source_fps", [1000, 2000])
def test_a_rate_on_a_clip_of_a_thousand_frames_a_second_takes_no_frame_before_its_tick(source_fps) -> None:
    # The millisecond slack is at most a quarter of a frame: else the frame before each tick counts.
    times = [i / source_fps for i in range(12 * source_fps // 1000)]
    step = source_fps // 500
    assert select_frames(times, fps=500) == list(range(0, len(times), step))
