"""The one home of mask helpers: IoU, bounding box, DAVIS palette PNGs."""

from __future__ import annotations

import numpy as np
import pytest

from samvid.tracker import masks


def rect(y0: int, y1: int, x0: int, x1: int, shape: tuple[int, int] = (10, 10)) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_iou_is_intersection_over_union() -> None:
    assert masks.iou(rect(0, 4, 0, 4), rect(0, 4, 2, 6)) == pytest.approx(8 / 24)


def test_two_empty_masks_agree_fully_as_davis_scores_them() -> None:
    empty = np.zeros((5, 5), bool)
    assert masks.iou(empty, empty) == 1.0


def test_an_empty_mask_against_a_non_empty_one_scores_zero() -> None:
    assert masks.iou(np.zeros((10, 10), bool), rect(1, 3, 1, 3)) == 0.0


def test_metrics_j_is_the_same_function() -> None:
    from samvid.tracker.metrics import region_iou

    assert region_iou is masks.iou


def test_bbox_has_exclusive_ends_and_none_for_an_empty_mask() -> None:
    assert masks.bbox(rect(2, 5, 3, 4)) == (3, 2, 4, 5)
    assert masks.bbox(np.zeros((4, 4), bool)) is None


def test_every_box_format_derives_from_the_one_bbox() -> None:
    from samvid.boxtrack import mask_box
    from samvid.export.frames import bbox_area

    m = rect(2, 5, 3, 7)
    assert mask_box(m) == (3.0, 2.0, 7.0, 5.0)
    assert bbox_area(m) == ([3.0, 2.0, 4.0, 3.0], 12)
    assert mask_box(np.zeros((4, 4), bool)) is None
    assert bbox_area(np.zeros((4, 4), bool)) == ([0.0, 0.0, 0.0, 0.0], 0)


def test_a_label_png_round_trips_its_ids_with_the_davis_colours(tmp_path) -> None:
    from PIL import Image

    ids = np.zeros((6, 8), np.uint8)
    ids[1:3, 1:4], ids[4:, 5:] = 1, 200
    path = tmp_path / "deep" / "00000.png"
    masks.write_label_png(path, ids)
    np.testing.assert_array_equal(masks.read_label_png(path), ids)
    with Image.open(path) as image:
        assert image.mode == "P"
        assert image.convert("RGB").getpixel((1, 1)) == (128, 0, 0)  # id 1 is DAVIS red


def test_a_grey_label_png_is_read_as_its_values(tmp_path) -> None:
    from PIL import Image

    ids = np.array([[0, 3], [3, 0]], np.uint8)
    Image.fromarray(ids, mode="L").save(tmp_path / "g.png")
    np.testing.assert_array_equal(masks.read_label_png(tmp_path / "g.png"), ids)


def test_read_label_png_reads_1bit_png_as_0_and_1(tmp_path) -> None:
    from PIL import Image

    ids = np.array([[0, 1, 1], [0, 0, 1]], np.uint8)
    Image.fromarray(ids.astype(bool)).convert("1").save(tmp_path / "b.png")
    # As numpy.array(Image.open(path)) and the DAVIS toolkit read it: id 1, not 255.
    np.testing.assert_array_equal(masks.read_label_png(tmp_path / "b.png"), ids)


def test_read_label_png_refuses_a_colour_png_rather_than_guess_ids_from_its_colours(tmp_path) -> None:
    from PIL import Image

    red = np.zeros((2, 3, 3), np.uint8)
    red[0, 0] = (128, 0, 0)  # DAVIS red, object 1: converted to grey it would read as id 38
    Image.fromarray(red).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match=r"rgb\.png: a colour label PNG.*palette or greyscale"):
        masks.read_label_png(tmp_path / "rgb.png")


def test_a_label_png_with_an_alpha_channel_is_refused_as_such_not_as_colour(tmp_path) -> None:
    from PIL import Image

    Image.fromarray(np.zeros((4, 4, 2), np.uint8), "LA").save(tmp_path / "la.png")
    with pytest.raises(ValueError, match=r"la\.png: a label PNG with an alpha channel \(mode LA\)"):
        masks.read_label_png(tmp_path / "la.png")


def test_read_label_png_reads_16bit_ids_and_rejects_ids_above_255(tmp_path) -> None:
    from PIL import Image

    Image.fromarray(np.array([[0, 1], [200, 0]], np.uint16)).save(tmp_path / "ok.png")
    np.testing.assert_array_equal(masks.read_label_png(tmp_path / "ok.png"), [[0, 1], [200, 0]])
    Image.fromarray(np.array([[0, 1], [256, 300]], np.uint16)).save(tmp_path / "deep.png")
    with pytest.raises(ValueError, match="object ids up to 300"):  # not clipped: 256 and 300 merged
        masks.read_label_png(tmp_path / "deep.png")


def test_a_label_png_cut_short_is_refused_naming_the_file(tmp_path) -> None:
    ids = np.zeros((64, 64), np.uint8)
    ids[10:40, 5:50], ids[::3] = 1, 2
    path = tmp_path / "00042.png"
    masks.write_label_png(path, ids)
    path.write_bytes(path.read_bytes()[:-40])  # as a copy interrupted part way leaves it
    # OSError, as the callers (track, eval, export) catch to report one sequence and go on.
    with pytest.raises(OSError, match="00042.png"):
        masks.read_label_png(path)


def test_a_label_png_over_pillows_size_limit_is_refused_naming_the_file_and_the_setting(
        tmp_path, monkeypatch) -> None:
    from PIL import Image

    path = tmp_path / "00000.png"
    masks.write_label_png(path, np.ones((20, 30), np.uint8))
    # 600 pixels stand for a label PNG over Pillow's ~179 MP: refused, as a bomb, over twice this.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200)
    # ValueError, as track, eval and export catch to report one sequence and go on.
    with pytest.raises(ValueError, match=r"00000\.png: a label PNG too large.*SAMVID_MAX_IMAGE_PIXELS"):
        masks.read_label_png(path)


def disk(size: int, radius: float) -> np.ndarray:
    r = np.hypot(*np.mgrid[:size, :size] - (size - 1) / 2)
    return r <= radius


def void_banded(ids: np.ndarray, width: int) -> np.ndarray:
    """``ids`` with DAVIS 2017's void (255) on a band ``width`` px each side of every boundary."""
    import cv2

    k = np.ones((2 * width + 1,) * 2, np.uint8)
    out = ids.copy()
    out[cv2.dilate(ids, k) != cv2.erode(ids, k)] = 255
    return out


def test_jpeg_data_named_png_is_refused_as_jpeg_not_read_as_ids(tmp_path) -> None:
    from PIL import Image

    path = tmp_path / "00000.png"
    Image.fromarray(np.where(disk(32, 10), 255, 0).astype(np.uint8), "L").save(path, format="JPEG")
    # Its compression noise reads as dozens of faint objects around the real one.
    with pytest.raises(ValueError, match=r"00000\.png is JPEG data named \.png: label masks must be lossless PNG"):
        masks.read_label_png(path)


def test_a_grey_0_255_mask_with_soft_edges_is_refused_naming_the_file_and_the_fix(tmp_path) -> None:
    from PIL import Image

    # A drawing saved with anti-aliasing, or a mask resized bilinearly: the edge is a ramp of
    # grey levels, each of which would be an object, and the object itself (255) void.
    hard = Image.fromarray(np.where(disk(16, 6), 255, 0).astype(np.uint8), "L")
    soft = hard.resize((64, 64), Image.BILINEAR)
    assert len(np.unique(np.array(soft))) > 3
    soft.save(tmp_path / "00000.png")
    with pytest.raises(ValueError, match=r"00000\.png: a grey mask with soft edges.*"
                                         r"without smoothing \(nearest-neighbour\) or threshold it at 128"):
        masks.read_label_png(tmp_path / "00000.png")
    # Thresholded at 128, as the message says, it is one object again.
    Image.fromarray(np.where(np.array(soft) >= 128, 255, 0).astype(np.uint8), "L").save(tmp_path / "fixed.png")
    assert np.unique(masks.read_label_png(tmp_path / "fixed.png")).tolist() == [0, 255]


def test_davis_2017_void_bands_around_objects_are_read_as_before(tmp_path) -> None:
    from PIL import Image

    ids = np.zeros((96, 96), np.uint8)
    ids[disk(96, 30)] = 1
    ids[10:40, 55:90] = 2
    ids[76:84, 8:16] = 3  # a far-off object: inside its void ring, smaller than the ring
    banded = void_banded(ids, 2)
    assert (banded == 255).sum() < (banded == 1).sum()  # void thin, objects big
    masks.write_label_png(tmp_path / "p.png", banded)
    np.testing.assert_array_equal(masks.read_label_png(tmp_path / "p.png"), banded)
    # The same ids saved grey (pixel value = id) are the same label map: the void meets the
    # background outside as much as the objects inside, so it is no object's soft edge.
    Image.fromarray(banded, "L").save(tmp_path / "g.png")
    np.testing.assert_array_equal(masks.read_label_png(tmp_path / "g.png"), banded)
    only_small = void_banded(np.where(ids == 3, 3, 0).astype(np.uint8), 2)
    assert 0 < (only_small == 3).sum() < (only_small == 255).sum()
    Image.fromarray(only_small, "L").save(tmp_path / "small.png")
    np.testing.assert_array_equal(masks.read_label_png(tmp_path / "small.png"), only_small)


def test_a_clean_0_255_disk_is_read_as_one_object(tmp_path) -> None:
    from PIL import Image

    from samvid.tracker.metrics import first_frame_objects

    hard = np.where(disk(64, 20), 255, 0).astype(np.uint8)
    Image.fromarray(hard, "L").save(tmp_path / "00000.png")
    ids = masks.read_label_png(tmp_path / "00000.png")
    np.testing.assert_array_equal(ids, hard)
    assert first_frame_objects(ids) == [255]
    # Upscaled without smoothing (nearest-neighbour), as the refusal of a soft one advises.
    Image.fromarray(hard, "L").resize((256, 256), Image.NEAREST).save(tmp_path / "big.png")
    assert first_frame_objects(masks.read_label_png(tmp_path / "big.png")) == [255]
