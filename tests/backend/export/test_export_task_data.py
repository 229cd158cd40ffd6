"""Task data as Label Studio lists it, odd values included: each is placed in its clip or
reported, never a traceback (hand-built task JSON, no Label Studio)."""

from __future__ import annotations

import pytest
from export_studio import H, W

from samvid.export.frames import Problems
from samvid.export.identity import Region
from samvid.export.images import Image, image_extension
from samvid.export.reader import frame_size, task_ref


def place(data: dict) -> tuple[tuple | None, dict[str, int]]:
    problems = Problems()
    placed = task_ref({"id": 7, "data": {"image": "/x/000000.jpg", **data}}, problems)
    where = (placed[0], placed[2].frame, placed[2].time) if placed else None
    return where, dict(problems.counts())


@pytest.mark.parametrize("time", ["n/a", "", [1], float("nan")])
def test_a_task_with_a_non_numeric_time_is_reported_and_exported_without_one(time):
    assert place({"clip": "a", "frame": 0, "time": time}) == (("a", 0, None), {"bad_time": 1})


@pytest.mark.parametrize("frame", [12, "12", 12.0, " 12"])
def test_a_frame_given_as_digits_or_an_integral_number_is_accepted(frame):
    # A CSV import makes every value a string.
    assert place({"clip": "a", "frame": frame, "time": "0.48"}) == (("a", 12, 0.48), {})


@pytest.mark.parametrize("frame", [3.7, "3.7", "x", None, True, -0.5])
def test_a_frame_that_is_no_integer_is_reported_and_skipped(frame):
    assert place({"clip": "a", "frame": frame}) == (None, {"bad_task": 1})


@pytest.mark.parametrize("frame", [-3, -3.0, "-3"])
def test_a_negative_frame_is_reported_and_skipped(frame):
    # No video has frame -3, and "-00003.jpg" would sort out of frame order.
    assert place({"clip": "a", "frame": frame}) == (None, {"bad_task": 1})


def test_a_clip_id_of_zero_is_a_clip_and_an_empty_one_falls_back_to_the_video():
    assert place({"clip": 0, "frame": 1}) == (("0", 1, None), {})
    assert place({"clip": "", "video": "v.mp4", "frame": 1}) == (("v.mp4", 1, None), {})
    assert place({"clip": "", "frame": 1}) == (None, {"bad_task": 1})


def sized(width: int, height: int) -> Region:
    return Region("r", "car", {}, None, 1.0, width, height)


def test_no_images_takes_each_frames_size_from_its_own_regions():
    clip_size = (H, W)
    assert frame_size(None, [sized(128, 96)], clip_size) == (96, 128)
    assert frame_size(None, [], clip_size) == clip_size  # an empty frame: the clip's
    assert frame_size(Image(b"", ".png", 20, 30), [sized(128, 96)], clip_size) == (20, 30)


@pytest.mark.parametrize("url, data, ext", [
    ("/data/local-files/?d=samvid/a-1234abcd/000000.png", b"", ".png"),  # --no-images, --png import
    ("/data/upload/1/frame.jpg", b"", ".jpg"),
    ("/data/upload/1/frame.jpg", b"II*\x00rest", ".tif"),  # the bytes say TIFF: named so
    ("/data/upload/1/frame", b"MM\x00*rest", ".tif"),
    ("/data/upload/1/frame.jpg", b"GIF89a...", ".gif"),
    ("/data/upload/1/frame.tiff", b"", ".tif"),
])
def test_frame_files_are_named_after_the_images_real_format(url, data, ext):
    assert image_extension(url, data) == ext
