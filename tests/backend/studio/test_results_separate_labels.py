"""Masks of a separate-control config (a plain <Brush>/<Polygon> drawing, a <Labels> naming)
as Label Studio 1.23's editor keeps them: each region is two results with one id, the
geometry (type "brush"/"polygon", no label) and a "labels" twin repeating the geometry with
the label. That is the only form its editor reads a label of such a region from on an image,
and the one it saves."""

from __future__ import annotations

import numpy as np
from label_configs import SEPARATE

from samvid.studio.protocol import parse_config
from samvid.studio.results import decode_mask, joined_labels, mask_regions, read_labels

POLYGON = SEPARATE.replace("<Brush ", "<Polygon ")


def square(h: int = 12, w: int = 16) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[3:8, 4:11] = True
    return mask


def test_a_brush_mask_is_written_as_geometry_and_labels_twin_with_one_id() -> None:
    regions = mask_regions(square(), parse_config(SEPARATE), ["Person"], region_id="r1", score=0.8)
    assert [(r["id"], r["type"], r["from_name"], r["to_name"]) for r in regions] == [
        ("r1", "brush", "brush", "image"), ("r1", "labels", "labels", "image")]
    geometry, twin = regions
    assert sorted(geometry["value"]) == ["format", "rle"]  # no label: Label Studio's "brush"
    assert twin["value"] == {**geometry["value"], "labels": ["Person"]}
    assert geometry["score"] == twin["score"] == 0.8


def test_a_written_brush_region_reads_back_as_its_mask_and_label() -> None:
    (region,) = joined_labels(mask_regions(square(), parse_config(SEPARATE), ["Person"], region_id="r1"))
    assert (region["type"], region["from_name"], region["value"]["brushlabels"]) == ("brushlabels", "brush", ["Person"])
    assert (decode_mask(region) == square()).all()


def test_every_polygon_part_gets_its_own_labels_twin() -> None:
    mask = square()
    mask[9:11, 0:3] = True  # a second part
    regions = mask_regions(mask, parse_config(POLYGON), ["Car"], region_id="r1")
    assert [(r["id"], r["type"]) for r in regions] == [
        ("r1", "polygon"), ("r1", "labels"), ("r1~2", "polygon"), ("r1~2", "labels")]
    joined = joined_labels(regions)
    assert [(r["id"], r["type"], r["value"]["polygonlabels"]) for r in joined] == [
        ("r1", "polygonlabels", ["Car"]), ("r1~2", "polygonlabels", ["Car"])]
    assert (np.logical_or(*[decode_mask(r) for r in joined]) == mask).all()


def test_a_region_as_the_editor_saves_it_reads_as_a_labelled_mask() -> None:
    # An annotation's result as Label Studio 1.23 stores a region painted with <Brush> after
    # picking "Car" in <Labels>: both results carry the geometry, the twin the label, and a
    # smart keypoint's own labels twin is no mask and stays as it was.
    rle = mask_regions(square(), parse_config(SEPARATE), ["Car"])[0]["value"]["rle"]
    size = {"original_width": 16, "original_height": 12, "image_rotation": 0, "to_name": "image"}
    keypoint_twin = {**size, "id": "kp", "from_name": "labels", "type": "labels",
                     "value": {"x": 1, "y": 1, "width": 1, "labels": ["Car"]}}
    saved = [
        {**size, "id": "Ab3", "from_name": "brush", "type": "brush", "origin": "manual",
         "value": {"format": "rle", "rle": rle}},
        {**size, "id": "Ab3", "from_name": "labels", "type": "labels", "origin": "manual",
         "value": {"format": "rle", "rle": rle, "labels": ["Car"]}},
        keypoint_twin,
    ]
    region, twin = joined_labels(saved)
    assert (region["id"], region["type"], region["value"]["brushlabels"]) == ("Ab3", "brushlabels", ["Car"])
    assert (decode_mask(region) == square()).all()
    assert twin == keypoint_twin


def test_a_plain_brush_region_without_a_twin_reads_unlabelled_or_with_its_own_labels() -> None:
    rle = mask_regions(square(), parse_config(SEPARATE), ["Car"])[0]["value"]["rle"]
    size = {"original_width": 16, "original_height": 12, "to_name": "image", "from_name": "brush", "type": "brush"}
    bare = {**size, "id": "a", "value": {"format": "rle", "rle": rle}}
    merged = {**size, "id": "b", "value": {"format": "rle", "rle": rle, "labels": ["Person"]}}
    assert [r["value"]["brushlabels"] for r in joined_labels([bare, merged])] == [[], ["Person"]]


def test_labelled_configs_are_written_as_before() -> None:
    config = SEPARATE.replace('<Brush name="brush" toName="image" smart="true"/>',
                              '<BrushLabels name="mask" toName="image"><Label value="Car"/></BrushLabels>')
    regions = mask_regions(square(), parse_config(config), ["Car"], region_id="r1")
    assert [(r["type"], r["from_name"]) for r in regions] == [("brushlabels", "mask")]
    assert joined_labels(regions) == regions


BRUSH_AND_POLYGON = SEPARATE.replace("<KeyPoint", '<Polygon name="outline" toName="image"/><KeyPoint')
TWO_ROWS = SEPARATE.replace("<KeyPoint", '<Labels name="state" toName="image"><Label value="moving"/>'
                                         '<Label value="parked"/></Labels><KeyPoint')


def test_a_mask_of_a_second_plain_control_is_written_in_it_with_its_twin() -> None:
    regions = mask_regions(square(), parse_config(BRUSH_AND_POLYGON), ["Car"], region_id="r1",
                           control=("outline", "polygonlabels"))
    assert [(r["id"], r["type"], r["from_name"]) for r in regions] == [
        ("r1", "polygon", "outline"), ("r1", "labels", "labels")]
    assert regions[1]["value"]["labels"] == ["Car"]


def test_labels_of_two_rows_get_a_twin_each_in_the_order_they_were_applied() -> None:
    regions = mask_regions(square(), parse_config(TWO_ROWS), ["parked", "Car", "moving"], region_id="r1")
    assert [(r["type"], r["from_name"], r["value"].get("labels")) for r in regions] == [
        ("brush", "brush", None), ("labels", "state", ["parked", "moving"]), ("labels", "labels", ["Car"])]
    (region,) = joined_labels(regions, ["brush"], ["labels", "state"])
    assert region["value"]["brushlabels"] == ["parked", "moving", "Car"]


def test_a_region_without_labels_is_written_as_its_geometry_alone() -> None:
    regions = mask_regions(square(), parse_config(TWO_ROWS), [], region_id="r1")
    assert [(r["type"], r["from_name"]) for r in regions] == [("brush", "brush")]
    (region,) = joined_labels(regions, ["brush"], ["labels", "state"])
    assert region["value"]["brushlabels"] == []


def test_a_region_reads_the_labels_of_all_its_twins_in_saved_order_each_once() -> None:
    geometry, twin = mask_regions(square(), parse_config(TWO_ROWS), ["Car"], region_id="r1")
    state = {**twin, "from_name": "state", "value": {**twin["value"], "labels": ["parked", "Car"]}}
    for names in ((["brush"], ["labels", "state"]), (None, None)):
        (region,) = joined_labels([geometry, state, twin], *names)
        assert region["value"]["brushlabels"] == ["parked", "Car"]


def test_only_twins_of_the_images_labels_rows_label_a_region() -> None:
    geometry, twin = mask_regions(square(), parse_config(TWO_ROWS), ["Car"], region_id="r1")
    other = {**twin, "from_name": "notes", "value": {**twin["value"], "labels": ["x"]}}
    region, kept = joined_labels([geometry, other, twin], ["brush"], ["labels", "state"])
    assert region["value"]["brushlabels"] == ["Car"] and kept == other


def test_a_plain_brush_beside_brushlabels_is_no_mask_region() -> None:
    # An eraser-like <Brush> in a <BrushLabels> config: nothing tracks its strokes, so
    # nothing reads them as masks (the shipped smart row's twin of it stays a twin).
    geometry, twin = mask_regions(square(), parse_config(SEPARATE), ["Car"], region_id="e1")
    stray = [{**geometry, "from_name": "eraser"}, {**twin, "from_name": "smart"}]
    assert joined_labels(stray, (), ()) == stray


def test_a_region_saved_without_labels_reads_as_the_only_mask_label_else_as_none() -> None:
    assert read_labels([], ("Car",)) == ("Car",)
    assert read_labels(None, ("Car",)) == ("Car",)
    assert read_labels([], ("Car", "Person")) == ()
    assert read_labels(["Person", 3], ("Car", "Person")) == ("Person",)  # text only
