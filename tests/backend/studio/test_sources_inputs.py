"""Which paths ``samvid import`` takes as clips: images given one by one are refused with
what to give instead, and the files a folder's import passes over are named."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import PIL.Image
import pytest
from clipgen import write_clip

from samvid.errors import VideoError
from samvid.studio.sources import find_sources


def test_images_given_as_videos_are_refused_saying_to_give_their_folder(tmp_path: Path) -> None:
    # `samvid import frames/*.jpg` made every frame a clip of one frame.
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:05d}.jpg"), np.zeros((6, 8, 3), np.uint8))
    with pytest.raises(VideoError, match=r"00000\.jpg: an image, not a video; .* give the folder") as raised:
        find_sources(sorted(frames.iterdir()))
    assert str(frames) in raised.value.message
    assert find_sources([frames]) == [frames]  # the folder is one clip of its frames


def test_an_animated_png_given_as_a_video_is_a_clip_not_a_refused_image(tmp_path: Path) -> None:
    # An APNG is a video by content (PyAV decodes its frames): refused as an image, where
    # only a one-frame image given by itself is a mistake.
    frames = [PIL.Image.new("RGB", (16, 8), (level, 0, 0)) for level in (0, 255)]
    animated = tmp_path / "anim.png"
    frames[0].save(animated, save_all=True, append_images=frames[1:], duration=100)
    still = tmp_path / "still.png"
    frames[0].save(still)
    assert find_sources([animated]) == [animated]
    with pytest.raises(VideoError, match=r"still\.png: an image, not a video"):
        find_sources([still])


def test_a_folder_of_videos_names_the_files_it_passes_over_for_their_suffix(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A camera's A002.MXF beside A001.mp4 was left out in silence.
    card = tmp_path / "card"
    card.mkdir()
    write_clip(card / "A001.mp4", [0.0, 0.1])
    (card / "A002.MXF").write_bytes(b"\0" * 10)
    (card / "A003.vob").write_bytes(b"\0" * 10)
    (card / ".A004.mp4").write_bytes(b"")  # hidden: no clip, and not worth a word
    with caplog.at_level(logging.WARNING, logger="samvid.studio.sources"):
        assert find_sources([card]) == [card / "A001.mp4"]
    [warning] = [r.getMessage() for r in caplog.records]
    assert "skipped 2 files" in warning and "A002.MXF, A003.vob" in warning
    assert "give the file itself" in warning


def test_a_folder_with_nothing_skipped_says_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_clip(tmp_path / "a.mp4", [0.0, 0.1])
    with caplog.at_level(logging.WARNING, logger="samvid.studio.sources"):
        find_sources([tmp_path])
    assert caplog.records == []


def test_a_multi_page_tiff_given_as_a_video_is_refused_as_an_image(tmp_path: Path) -> None:
    # Pillow counts a TIFF's pages as frames: `samvid import shots/*.tif` made one-frame clips.
    from PIL import Image

    path = tmp_path / "0002.tif"
    Image.new("RGB", (8, 8)).save(path, save_all=True, append_images=[Image.new("RGB", (8, 8), "red")])
    with pytest.raises(VideoError, match="an image, not a video"):
        find_sources([path])
