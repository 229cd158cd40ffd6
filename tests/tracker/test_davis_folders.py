"""The DAVIS frames folder (``samvid track``'s input): which files are frames, in what order."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from samvid.tracker.davis import JpegFolder


def image(path, value: int) -> None:
    cv2.imwrite(str(path), np.full((8, 10, 3), value, np.uint8))


def test_a_davis_folder_reads_png_and_jpeg_frames_in_one_order(tmp_path):
    names = ["000000.png", "000001.jpeg", "000002.JPG", "099999.png", "100000.jpg", "1000000.png"]
    for value, name in enumerate(names):
        image(tmp_path / name, 40 * value)
    (tmp_path / "notes.txt").write_text("not a frame")
    source = JpegFolder.of(tmp_path)
    assert [p.name for p in source.files] == names
    assert [int(frame[0, 0, 0]) for frame in source] == [40 * v for v in range(len(names))]


def test_a_frame_with_two_images_is_refused(tmp_path):
    image(tmp_path / "00000.jpg", 0)
    image(tmp_path / "00000.png", 0)
    with pytest.raises(ValueError, match="more than one image for frame 00000"):
        JpegFolder.of(tmp_path)


def test_a_folder_without_frames_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("not a frame")
    with pytest.raises(FileNotFoundError, match="no image frames"):
        JpegFolder.of(tmp_path)


def test_a_root_without_an_annotations_folder_is_told_where_the_first_mask_belongs(tmp_path):
    from samvid.tracker.baselines import CopyFirstEngine
    from samvid.tracker.davis import track_one

    root = tmp_path / "root"
    (root / "JPEGImages" / "bear").mkdir(parents=True)
    image(root / "JPEGImages" / "bear" / "00000.jpg", 100)
    (root / "annotations" / "bear").mkdir(parents=True)  # misnamed: DAVIS spells it Annotations
    with pytest.raises(FileNotFoundError) as refused:
        track_one(CopyFirstEngine(), root, "bear", tmp_path / "out")
    assert "no Annotations/ folder" in str(refused.value)
    assert str(root / "Annotations" / "bear") in str(refused.value)


def test_a_first_mask_numbered_one_frame_off_is_named_with_the_name_it_needs(tmp_path):
    # ffmpeg numbers frames from 1: a mask saved as 00001.png beside frames from 00000.jpg.
    from samvid.tracker.baselines import CopyFirstEngine
    from samvid.tracker.davis import track_one
    from samvid.tracker.masks import write_label_png

    root = tmp_path / "root"
    (root / "JPEGImages" / "bear").mkdir(parents=True)
    for i in range(3):
        image(root / "JPEGImages" / "bear" / f"{i:05d}.jpg", 100)
    first = np.zeros((8, 10), np.uint8)
    first[2:5, 3:7] = 1
    write_label_png(root / "Annotations" / "bear" / "00001.png", first)
    with pytest.raises(FileNotFoundError) as refused:
        track_one(CopyFirstEngine(), root, "bear", tmp_path / "out")
    said = str(refused.value)
    assert "holds 00001.png" in said
    assert "the first frame is 00000.jpg, so its mask must be 00000.png" in said


def test_a_first_mask_named_in_upper_case_seeds_the_tracker(tmp_path):
    from samvid.tracker.baselines import CopyFirstEngine
    from samvid.tracker.davis import track_one
    from samvid.tracker.masks import read_label_png, write_label_png

    root = tmp_path / "root"
    (root / "JPEGImages" / "bear").mkdir(parents=True)
    for i in range(3):
        image(root / "JPEGImages" / "bear" / f"{i:05d}.JPG", 100)
    first = np.zeros((8, 10), np.uint8)
    first[2:5, 3:7] = 2
    write_label_png(root / "Annotations" / "bear" / "00000.PNG", first)
    (root / "Annotations" / "bear" / "._00000.PNG").write_bytes(b"macOS metadata, no PNG")
    tracked = track_one(CopyFirstEngine(), root, "bear", tmp_path / "out")
    assert (tracked.written, tracked.total) == (3, 3)
    out = tmp_path / "out" / "Annotations" / "bear"
    assert sorted(p.name for p in out.iterdir()) == ["00000.png", "00001.png", "00002.png"]
    assert (read_label_png(out / "00002.png") == first).all()


def test_tracking_again_removes_an_earlier_runs_upper_case_masks(tmp_path):
    from samvid.tracker.baselines import CopyFirstEngine
    from samvid.tracker.davis import track_one
    from samvid.tracker.masks import write_label_png

    root = tmp_path / "root"
    (root / "JPEGImages" / "bear").mkdir(parents=True)
    image(root / "JPEGImages" / "bear" / "00000.jpg", 100)
    first = np.zeros((8, 10), np.uint8)
    first[2:5, 3:7] = 1
    write_label_png(root / "Annotations" / "bear" / "00000.png", first)
    stale = tmp_path / "out" / "Annotations" / "bear" / "00007.PNG"
    write_label_png(stale, first)
    track_one(CopyFirstEngine(), root, "bear", tmp_path / "out")
    assert not stale.exists()


def test_a_void_border_around_the_first_mask_is_not_tracked_as_an_object(tmp_path):
    """DAVIS's void (255) beside the objects is no object: tracked, its ring would be
    written as one and scored as a lost object."""
    from samvid.tracker.baselines import CopyFirstEngine
    from samvid.tracker.davis import track_one
    from samvid.tracker.masks import read_label_png, write_label_png

    root = tmp_path / "root"
    (root / "JPEGImages" / "bear").mkdir(parents=True)
    for i in range(2):
        image(root / "JPEGImages" / "bear" / f"0000{i}.jpg", 100)
    first = np.full((8, 10), 255, np.uint8)
    first[2:6, 2:6] = 1
    first[0, :] = 0
    write_label_png(root / "Annotations" / "bear" / "00000.png", first)
    track_one(CopyFirstEngine(), root, "bear", tmp_path / "out")
    written = read_label_png(tmp_path / "out" / "Annotations" / "bear" / "00001.png")
    assert set(np.unique(written)) == {0, 1}
