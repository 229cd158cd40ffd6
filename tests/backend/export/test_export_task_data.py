"""Task data as Label Studio lists it, odd values included: each is placed in its clip or
reported, never a traceback (hand-built task JSON, no Label Studio)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from export_studio import H, W
from PIL import Image as PILImage

from samvid.export.frames import Problems
from samvid.export.identity import ClipRegions, Region
from samvid.export.images import Image, ImageFetcher, ImageUnavailable, image_extension
from samvid.export.reader import frame_objects, frame_size, task_ref


def place(data: dict) -> tuple[tuple | None, dict[str, int]]:
    problems = Problems()
    placed = task_ref({"id": 7, "data": {"image": "/x/000000.jpg", **data}}, problems)
    where = (placed[0], placed[2].frame, placed[2].time) if placed else None
    return where, dict(problems.counts())


@pytest.mark.parametrize("time", ["n/a", "", [1], float("nan"), 10**400],
                         ids=["text", "empty", "list", "nan", "past a float"])
def test_a_task_with_a_non_numeric_time_is_reported_and_exported_without_one(time):
    assert place({"clip": "a", "frame": 0, "time": time}) == (("a", 0, None), {"bad_time": 1})


@pytest.mark.parametrize("frame", [12, "12", 12.0, " 12"])
def test_a_frame_given_as_digits_or_an_integral_number_is_accepted(frame):
    # A CSV import makes every value a string.
    assert place({"clip": "a", "frame": frame, "time": "0.48"}) == (("a", 12, 0.48), {})


@pytest.mark.parametrize("frame", [3.7, "3.7", "x", None, True, -0.5])
def test_a_frame_that_is_no_integer_is_reported_and_skipped(frame):
    assert place({"clip": "a", "frame": frame}) == (None, {"bad_task": 1})


@pytest.mark.parametrize("frame", ["\u00b2", "1\u00b2"])
def test_a_frame_written_with_a_superscript_is_reported_not_a_crash(frame):
    # "²" is a digit to str.isdigit, but no number int() reads.
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


class _Served:
    """Stands in for Label Studio: every image URL serves ``data``."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def fetch(self, url: str, task_id: int | None = None) -> bytes:
        return self.data


def test_a_photo_turned_by_its_exif_orientation_is_sized_as_label_studio_shows_it():
    # Stored 60 wide and 40 high, turned a quarter by EXIF: the browser, and so the regions
    # drawn in Label Studio, see it 40 wide and 60 high. Sized as stored, every region of
    # the frame was skipped as size_mismatch.
    stored = PILImage.fromarray(np.zeros((40, 60, 3), np.uint8))
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to show
    data = io.BytesIO()
    stored.save(data, "JPEG", exif=exif.tobytes())
    fetcher = ImageFetcher("http://127.0.0.1:9", "token")
    fetcher.source = _Served(data.getvalue())
    image = fetcher.fetch("/data/upload/1/photo.jpg", 7)
    assert (image.height, image.width) == (60, 40)
    drawn = {"id": "r", "type": "polygonlabels", "original_width": 40, "original_height": 60,
             "value": {"points": [[10, 10], [90, 10], [90, 90]], "polygonlabels": ["car"]}}
    regions = [Region("r", "car", drawn, None, 1.0, 40, 60)]
    problems = Problems()
    where = {"clip": "a", "frame": 0, "task_id": 7}
    objects = frame_objects(regions, ClipRegions([regions]), frame_size(image, regions, None), problems, where)
    assert (len(objects), len(problems)) == (1, 0)



def test_an_empty_image_file_is_a_missing_image_not_a_crash():
    # A 0-byte upload, or a local file Label Studio serves while it is being written:
    # OpenCV's decoder raised on it, and the whole export stopped.
    fetcher = ImageFetcher("http://127.0.0.1:9", "token")
    fetcher.source = _Served(b"")
    with pytest.raises(ImageUnavailable, match="is an empty file"):
        fetcher.fetch("/data/upload/1/frame.jpg", 7)
