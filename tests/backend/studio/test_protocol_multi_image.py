"""Configs with several <Image>s, each with mask controls and labels of its own: a region is
read against the labels of its own image (the one its control points at), never another's,
in propagation (the ``MaskTarget`` of the image it tracks) as in the export."""

from __future__ import annotations

import numpy as np

from samvid.propagation import seeds_from_result
from samvid.studio.protocol import image_targets, parse_config
from samvid.studio.results import mask_regions

# Label Studio's separate-control form on two images: a plain <Brush> and a <Labels> each.
SEPARATE = """<View>
  <Image name="left" value="$left"/>
  <Brush name="left_brush" toName="left"/>
  <Labels name="left_labels" toName="left"><Label value="Car"/></Labels>
  <Image name="right" value="$right"/>
  <Brush name="right_brush" toName="right"/>
  <Labels name="right_labels" toName="right"><Label value="Person"/><Label value="Dog"/></Labels>
</View>"""
LABELLED = """<View>
  <Image name="left" value="$left"/>
  <BrushLabels name="left_brush" toName="left"><Label value="Car"/></BrushLabels>
  <Image name="right" value="$right"/>
  <BrushLabels name="right_brush" toName="right"><Label value="Person"/></BrushLabels>
</View>"""


def square() -> np.ndarray:
    mask = np.zeros((12, 16), bool)
    mask[3:8, 4:11] = True
    return mask


def test_an_images_mask_labels_are_its_own_and_the_project_keeps_every_images() -> None:
    left, right = parse_config(SEPARATE, "left"), parse_config(SEPARATE, "right")
    assert (left.all_labels, right.all_labels) == (("Car",), ("Person", "Dog"))
    assert left.project_labels == right.project_labels == ("Car", "Person", "Dog")  # the export's classes
    assert parse_config(LABELLED, "left").all_labels == ("Car",)
    assert parse_config(LABELLED).project_labels == ("Car", "Person")


def test_an_unlabelled_region_is_tracked_as_its_images_one_label() -> None:
    for config in (SEPARATE, LABELLED):
        target = parse_config(config)  # the image propagation tracks: the first
        (bare,) = mask_regions(square(), target, [], region_id="u")
        assert [s.labels for s in seeds_from_result([bare], target)] == [("Car",)], config


def test_an_unlabelled_region_of_an_image_with_several_labels_is_tracked_unlabelled() -> None:
    target = parse_config(SEPARATE, "right")
    (bare,) = mask_regions(square(), target, [], region_id="u")
    assert [(s.labels, s.control) for s in seeds_from_result([bare], target)] == [((), ("right_brush", "brushlabels"))]


def test_every_image_with_mask_controls_is_a_target_of_its_own() -> None:
    assert [(t.image_name, t.mask_control, t.label_rows) for t in image_targets(SEPARATE)] == [
        ("left", "left_brush", (("left_labels", ("Car",)),)),
        ("right", "right_brush", (("right_labels", ("Person", "Dog")),))]
    assert [(t.image_name, t.separate_controls, t.all_labels) for t in image_targets(LABELLED)] == [
        ("left", (), ("Car",)), ("right", (), ("Person",))]
