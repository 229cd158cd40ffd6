"""Polygons of ``samvid.studio.results``: pixel-corner outlines, one region per part."""

import cv2
import numpy as np
import pytest

from samvid.studio import results
from samvid.studio.protocol import MaskTarget

POLYGON = MaskTarget("image", "image", False, "outline", "polygonlabels", ("Car",))
BRUSH = MaskTarget("image", "image", False, "mask", "brushlabels", ("Car",))


def area_px(region):
    """Shoelace area of a polygon region, in pixels."""
    w, h = region["original_width"], region["original_height"]
    pts = np.asarray(region["value"]["points"]) / 100 * [w, h]
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def polygon(mask):
    region = results.polygon_result(mask, from_name="outline", to_name="image", labels=["Car"])
    assert region is not None
    return region


def square(h, w, y, x, size):
    m = np.zeros((h, w), bool)
    m[y : y + size, x : x + size] = True
    return m


def band(mask):
    k = np.ones((3, 3), np.uint8)
    m = mask.astype(np.uint8)
    return cv2.dilate(m, k).astype(bool) & ~cv2.erode(m, k).astype(bool)


@pytest.mark.parametrize("size", [1, 4, 10, 40])
def test_polygon_area_is_the_mask_pixel_count(size):
    region = polygon(square(100, 100, 10, 10, size))
    assert area_px(region) == pytest.approx(size * size, abs=0.01)
    assert region["value"]["points"] == [[10, 10], [10, 10 + size], [10 + size, 10 + size],
                                         [10 + size, 10]]


def test_a_full_image_mask_is_the_whole_image_in_percent():
    region = polygon(np.ones((80, 100), bool))
    assert sorted(map(tuple, region["value"]["points"])) == [(0, 0), (0, 100), (100, 0), (100, 100)]


def l_shape():
    m = np.zeros((30, 40), bool)
    m[5:20, 5:10] = True
    m[15:20, 5:30] = True
    return m


def staircase():  # concave and convex corners, one pixel steps
    m = np.zeros((20, 20), bool)
    for i in range(6):
        m[3 + 2 * i : 5 + 2 * i, 3 : 5 + 2 * i] = True
    return m


@pytest.mark.parametrize("mask", [
    square(50, 60, 7, 9, 13), square(10, 10, 4, 6, 1), np.ones((9, 7), bool), l_shape(),
    l_shape()[::-1, ::-1].copy(), staircase(), square(10, 10, 0, 9, 1),
], ids=["rect", "pixel", "full", "L", "L-turned", "stairs", "corner-pixel"])
def test_axis_aligned_shapes_go_round_exactly(mask):
    region = polygon(mask)
    np.testing.assert_array_equal(results.decode_polygon(region), mask)
    assert area_px(region) == pytest.approx(mask.sum(), abs=0.01)  # percent has 4 decimals


@pytest.mark.parametrize("shape", ["disk", "turned-box", "triangle"])
def test_slanted_outlines_stay_on_the_mask(shape):
    m = np.zeros((60, 70), np.uint8)
    if shape == "disk":
        cv2.circle(m, (30, 25), 6, 1, -1)
    elif shape == "turned-box":
        box = cv2.boxPoints(((35.0, 30.0), (30.0, 12.0), 30.0))
        cv2.fillPoly(m, [np.round(box).astype(np.int32)], 1)
    else:
        cv2.fillPoly(m, [np.array([[10, 10], [60, 20], [20, 50]], np.int32)], 1)
    mask = m.astype(bool)
    region = polygon(mask)
    differ = results.decode_polygon(region) ^ mask
    assert not (differ & ~band(mask)).any()
    assert differ.sum() <= 0.1 * mask.sum()
    # the outline runs along the pixels' outer edges, not through their centres
    assert area_px(region) == pytest.approx(mask.sum(), rel=0.05)


def test_decode_counts_a_pixel_in_when_its_centre_is_inside():
    region = {"original_width": 100, "original_height": 50,
              "value": {"points": [[10, 20], [10, 28], [14, 28], [14, 20]]}}
    expected = np.zeros((50, 100), bool)
    expected[10:14, 10:14] = True  # x 10..14 px, y 10..14 px: pixels 10..13
    np.testing.assert_array_equal(results.decode_polygon(region), expected)


def test_decode_fills_a_concave_polygon_by_pixel_centres():
    # an L in pixel units: corners (0,0) (2,0) (2,1) (1,1) (1,3) (0,3), on a 4x4 image
    points = [[0, 0], [50, 0], [50, 25], [25, 25], [25, 75], [0, 75]]
    region = {"original_width": 4, "original_height": 4, "value": {"points": points}}
    expected = np.zeros((4, 4), bool)
    expected[0, 0:2] = True
    expected[1:3, 0] = True
    np.testing.assert_array_equal(results.decode_polygon(region), expected)


def two_parts():
    m = np.zeros((80, 100), bool)
    cv2.circle(m.view(np.uint8), (20, 20), 10, 1, -1)
    m[50:70, 60:95] = True  # the larger part
    m[5, 90] = True  # a one-pixel speck: under 1% of the largest part
    return m


def test_a_polygon_project_gets_one_region_per_part_of_the_mask():
    mask = two_parts()
    regions = results.mask_regions(mask, POLYGON, ["Car"], region_id="r1", item_index=2, score=0.9)
    assert len(regions) == 2  # the speck is dropped
    assert [r["id"] for r in regions] == ["r1", "r1~2"]  # the largest part first
    assert all(r["type"] == "polygonlabels" and r["from_name"] == "outline" for r in regions)
    assert all(r["value"]["polygonlabels"] == ["Car"] for r in regions)
    assert all(r["item_index"] == 2 and r["score"] == 0.9 for r in regions)
    decoded = [results.decode_polygon(r) for r in regions]
    np.testing.assert_array_equal(decoded[0], square(80, 100, 50, 60, 20) | decoded[0])
    assert decoded[0].sum() == 20 * 35 and decoded[1][20, 20] and not decoded[1][50:, 60:].any()
    assert {results.object_region_id(r["id"]) for r in regions} == {"r1"}


def test_small_parts_are_kept_down_to_one_percent_of_the_largest():
    mask = square(100, 100, 0, 0, 30)  # 900 px
    mask[50:53, 50:53] = True  # 9 px: 1% of the largest, kept
    mask[90, 90] = True  # 1 px: a speck
    regions = results.mask_regions(mask, POLYGON, ["Car"])
    assert [round(area_px(r)) for r in regions] == [900, 9]
    assert len({r["id"] for r in regions}) == 2


def test_the_largest_part_is_kept_however_small():
    regions = results.mask_regions(square(10, 10, 2, 2, 1), POLYGON, ["Car"], region_id="x")
    assert [r["id"] for r in regions] == ["x"]
    np.testing.assert_array_equal(results.decode_polygon(regions[0]), square(10, 10, 2, 2, 1))


def test_a_brush_project_keeps_one_region_and_an_empty_mask_none():
    regions = results.mask_regions(two_parts(), BRUSH, ["Car"], region_id="b")
    assert [(r["id"], r["type"]) for r in regions] == [("b", "brushlabels")]
    np.testing.assert_array_equal(results.decode_brush(regions[0]), two_parts())
    assert results.mask_regions(np.zeros((5, 5), bool), POLYGON, ["Car"]) == []


@pytest.mark.parametrize("region_id", ["abc", "a~b", "~3", "Xy_9-z"])
def test_object_region_id_undoes_part_region_id(region_id):
    for part in range(3):
        assert results.object_region_id(results.part_region_id(region_id, part)) == region_id


@pytest.mark.parametrize("region_id", ["a~1", "a~02", "a~x", "~2", "a~", "a~²", "a~2\n", "a~-2", "a~2.0"])
def test_an_id_that_only_looks_like_a_part_is_never_read_as_one(region_id):
    # Only the exact "<id>~<n>" that part_region_id writes (n from 2, no leading zero) folds:
    # an id made elsewhere (imported, typed) with a "~" in it stays the region it names.
    assert results.object_region_id(region_id) == region_id
    assert results.object_region_id("a~2") == results.object_region_id("a~10") == "a"


def test_a_polygon_claiming_an_image_over_the_pixel_limit_is_refused_before_decoding():
    """A hostile result's size would otherwise be allocated (here a terabyte)."""
    region = {"type": "polygonlabels", "original_width": 10**6, "original_height": 10**6,
              "value": {"points": [[0, 0], [100, 0], [100, 100]], "polygonlabels": ["Car"]}}
    for decode in (results.decode_polygon, results.decode_mask):
        with pytest.raises(ValueError, match="1000000x1000000, over samvid's limit of 64000000"):
            decode(region)
    small = dict(region, original_width=20, original_height=10)
    with pytest.raises(ValueError, match="20x10, over samvid's limit of 199"):
        results.decode_mask(small, max_pixels=199)  # SAMVID_MAX_IMAGE_PIXELS, where set
    assert results.decode_mask(small, max_pixels=200).shape == (10, 20)


@pytest.mark.parametrize("points", [
    [[0, 0], [float("nan"), 50], [50, 50]],
    [[0, 0], [50, float("-inf")], [50, 50]],
    [[0, 0], [float("inf"), 50], [50, 50]],
    [[1e307, 0.5], [-1e307, 50], [0, 100]],  # finite, but their differences overflow
])
def test_a_polygon_with_a_point_that_is_not_a_number_is_a_malformed_region(points):
    region = {"type": "polygonlabels", "original_width": 1000, "original_height": 100,
              "value": {"points": points, "polygonlabels": ["Car"]}}
    with pytest.raises(ValueError, match="the polygon has a point that is not a number"):
        results.decode_mask(region)


def test_a_polygon_reaching_far_outside_the_image_is_clipped_to_it():
    region = {"type": "polygonlabels", "original_width": 10, "original_height": 10,
              "value": {"points": [[-1000, -1000], [1000, -1000], [1000, 1000], [-1000, 1000]]}}
    assert results.decode_mask(region).all()


def test_an_infinite_image_size_is_a_malformed_region():
    region = {"type": "polygonlabels", "original_width": float("inf"), "original_height": 10,
              "value": {"points": [[0, 0], [50, 0], [50, 50]], "polygonlabels": ["Car"]}}
    with pytest.raises(ValueError, match="image size is not a number"):
        results.decode_mask(region)


def test_a_polygon_of_many_points_is_filled_in_memory_bounded_by_the_image():
    """A square outlined 5000 times over crosses 10 million rows of a 1000 px image:
    filled all at once its crossings would take gigabytes, though the mask takes 1 MB."""
    import tracemalloc

    points = [[0, 0], [100, 0], [100, 100], [0, 100]] * 5_000
    region = {"type": "polygonlabels", "original_width": 1000, "original_height": 1000,
              "value": {"points": points, "polygonlabels": ["Car"]}}
    tracemalloc.start()
    try:
        mask = results.decode_mask(region)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert mask.shape == (1000, 1000) and mask.all()
    assert peak < 400 * 1024**2


@pytest.mark.parametrize("width, height", [(-5, 10), (-5, -5), (0, 10), (10, 0)])
def test_a_region_claiming_an_image_of_no_size_is_a_malformed_region(width, height):
    polygon_region = {"type": "polygonlabels", "original_width": width, "original_height": height,
                      "value": {"points": [[0, 0], [50, 0], [50, 50]], "polygonlabels": ["Car"]}}
    brush_region = results.brush_result(np.ones((5, 5), bool), from_name="mask", to_name="image",
                                        labels=["Car"])
    brush_region.update(original_width=width, original_height=height)
    for region in (polygon_region, brush_region):
        with pytest.raises(ValueError, match=f"image is {width}x{height}: original_width and original_height"):
            results.decode_mask(region)


def test_a_polygon_for_an_image_shown_at_another_size_is_the_polygon_of_the_mask():
    """Polygon points are percentages: the size Label Studio shows changes nothing, and a
    mask enlarged to it only added staircase vertices."""
    mask = np.zeros((90, 120), np.uint8)
    cv2.ellipse(mask, (60, 45), (40, 20), 20, 0, 360, 1, -1)
    plain = results.mask_regions(mask.astype(bool), POLYGON, ["Car"], region_id="p")
    for shown in ((480, 360), (60, 45)):
        assert results.mask_regions(mask.astype(bool), POLYGON, ["Car"], region_id="p", shown=shown) == plain
