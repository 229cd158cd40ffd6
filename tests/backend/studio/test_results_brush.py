"""Brush regions of ``samvid.studio.results``: Label Studio's RLE, both ways."""

import numpy as np
import pytest

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
