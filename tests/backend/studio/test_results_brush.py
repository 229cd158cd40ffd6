"""Brush regions of ``samvid.studio.results``: Label Studio's RLE, both ways."""

import numpy as np
import pytest

from samvid.errors import TooLarge
from samvid.studio import results


def brush(mask):
    return results.brush_result(mask, from_name="mask", to_name="image", labels=["Car"])


def test_a_brush_region_decodes_to_the_mask_it_was_made_from():
    mask = np.zeros((5, 7), bool)
    mask[1:3, 2:5] = True
    assert (results.decode_mask(brush(mask)) == mask).all()


@pytest.mark.parametrize("tail", [
    [129, 66, 4, 19, 111, 235, 87, 19, 193, 102, 177, 50, 105, 221, 99, 252, 53, 199],
    [143, 127, 137, 56, 94, 176, 148, 35, 85, 81, 130, 86, 139, 150, 232, 164, 254, 242],
])
def test_a_corrupt_brush_rle_is_a_value_error_that_callers_skip_or_report(tail):
    """Propagation skips, and export reports, regions whose decoding raises ValueError."""
    region = brush(np.ones((5, 7), bool))
    region["value"]["rle"] = region["value"]["rle"][:4] + tail  # the right length, garbage runs
    with pytest.raises(ValueError):
        results.decode_mask(region)


def test_a_brush_rle_claiming_another_size_is_refused_naming_both_sizes():
    region = brush(np.ones((5, 7), bool))
    region["value"]["rle"] = [255, 255, 255, 255] + region["value"]["rle"][4:]
    with pytest.raises(ValueError, match="1073741823 pixels, but the image is 7x5"):
        results.decode_mask(region)


def test_a_brush_region_claiming_an_image_over_the_pixel_limit_is_refused_before_decoding():
    """A 55 KB RLE can hold the runs of a 16384 x 16384 image (1 GiB to decode); the size
    a result claims is bounded as images are (SAMVID_MAX_IMAGE_PIXELS)."""
    region = brush(np.ones((5, 7), bool))
    w = h = 16384
    length = format(w * h * 4, "032b")  # the RLE's first 32 bits: its length, as claimed
    region.update(original_width=w, original_height=h)
    region["value"]["rle"] = [int(length[i : i + 8], 2) for i in range(0, 32, 8)] + region["value"]["rle"][4:]
    with pytest.raises(ValueError, match="16384x16384, over samvid's limit of 64000000"):
        results.decode_mask(region)


def test_an_infinite_brush_image_size_is_a_malformed_region():
    region = brush(np.ones((5, 7), bool))
    region["original_width"] = float("inf")
    with pytest.raises(ValueError, match="image size is not a number"):
        results.decode_mask(region)


def test_a_brush_rle_of_run_lengths_not_bytes_is_malformed_not_a_mask_of_another_size():
    # A COCO RLE's counts put in Label Studio's "rle": the SDK read each value's low 8 bits,
    # and the region was said to hold some other number of pixels.
    region = brush(np.ones((5, 7), bool))
    region["value"]["rle"] = [0, 300, 5, 30]
    with pytest.raises(ValueError, match="malformed") as raised:
        results.decode_mask(region)
    assert not isinstance(raised.value, results.BrushSizeMismatch)
    region["value"]["rle"] = region["value"]["rle"][:2]  # shorter than its 4-byte length
    with pytest.raises(ValueError, match="malformed"):
        results.decode_mask(region)


def shown_at(mask, shown, **kw):
    return results.brush_result(mask, from_name="mask", to_name="image", labels=["Car"], shown=shown, **kw)


def test_a_brush_shown_larger_gives_each_pixel_the_value_of_the_nearest_one():
    mask = np.zeros((3, 4), bool)
    mask[1, 2] = True
    region = shown_at(mask, (8, 6))
    assert (region["original_width"], region["original_height"]) == (8, 6)
    expected = np.zeros((6, 8), bool)
    expected[2:4, 4:6] = True
    np.testing.assert_array_equal(results.decode_mask(region), expected)


@pytest.mark.parametrize("shown", [(200, 150), (199, 151), (133, 100)])
def test_a_brush_shown_smaller_keeps_a_thin_or_tiny_object(shown):
    """A pixel shown is in the mask when any pixel read that it covers is: sampling one
    pixel in four lost a 2 px pole and a 3 px blob."""
    pole, blob = np.zeros((600, 800), bool), np.zeros((600, 800), bool)
    pole[100:500, 401:403] = True
    blob[5:8, 5:8] = True
    for mask in (pole, blob):
        decoded = results.decode_mask(shown_at(mask, shown))
        assert decoded.shape == (shown[1], shown[0]) and decoded.any()
        ys, xs = np.nonzero(decoded)  # where the object is, and nowhere else
        assert xs.min() >= np.nonzero(mask)[1].min() * shown[0] // 800 - 1
        assert xs.max() <= np.nonzero(mask)[1].max() * shown[0] // 800 + 1


def test_a_brush_shown_at_a_size_over_the_pixel_limit_is_refused_before_it_is_made():
    with pytest.raises(TooLarge, match="100000x100000.*SAMVID_MAX_IMAGE_PIXELS"):
        shown_at(np.ones((50, 50), bool), (100_000, 100_000))  # 10^10 px: 10 GB made
    with pytest.raises(TooLarge, match="over samvid's limit of 1000 pixels"):
        shown_at(np.ones((10, 10), bool), (40, 40), max_pixels=1000)
