"""Configs with several <Image>s, each with mask controls and labels of its own: a region is
read against the labels of its own image (the one its control points at), never another's,
in propagation (the ``MaskTarget`` of the image it tracks) as in the export."""

from __future__ import annotations

import time

import numpy as np
from label_configs import SEPARATE_TWO_IMAGES

from samvid.export.frames import Problems
from samvid.export.identity import parse_regions
from samvid.export.reader import ProjectSchema
from samvid.propagation import seeds_from_result
from samvid.studio.protocol import image_targets, parse_config
from samvid.studio.results import mask_regions

# Label Studio's separate-control form on two images: a plain <Brush> and a <Labels> each.
SEPARATE = SEPARATE_TWO_IMAGES.replace('<Label value="Person"/>', '<Label value="Person"/><Label value="Dog"/>')
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


def test_a_mask_control_naming_no_image_labels_the_first_image() -> None:
    # parse_config falls back to the first <Image> for its masks: its labels are that image's.
    config = ('<View><Image name="image" value="$image"/>'
              '<BrushLabels name="tag" toName="img"><Label value="Car"/></BrushLabels></View>')
    target = parse_config(config)
    assert (target.image_name, target.mask_control, target.all_labels) == ("image", "tag", ("Car",))
    assert [t.all_labels for t in image_targets(config)] == [("Car",)]


def test_a_second_mask_control_naming_no_image_is_a_mask_control_of_the_first_image() -> None:
    # Its label was one of the image's, but its regions were no object: a person drawn with it
    # was tracked as nothing (and blocked nothing, as an unreadable region), while the export
    # exported it as a person on the image.
    person = ('<BrushLabels name="people" toName="gone"><Label value="Person"/></BrushLabels>')
    car = '<BrushLabels name="cars" toName="image"><Label value="Car"/></BrushLabels>'
    for controls in (car + person, person + car):
        target = parse_config(f'<View><Image name="image" value="$image"/>{controls}</View>')
        drawn = [*mask_regions(square(), target, ["Person"], region_id="p"),
                 *mask_regions(square(), target, ["Car"], region_id="c")]
        assert {c.name for c in target.siblings} | {target.mask_control} == {"cars", "people"}, controls
        assert sorted((s.region_id, s.labels) for s in seeds_from_result(drawn, target)) == [
            ("c", ("Car",)), ("p", ("Person",))], controls


def test_a_mask_control_naming_no_image_labels_the_tracked_image_where_the_export_reads_it() -> None:
    # It was a sibling on the first <Image>, which no mask control labels here, while the export
    # read its regions on the tracked one: a person drawn with it was exported, never tracked.
    config = ('<View><Image name="a" value="$a"/><Image name="b" value="$b"/>'
              '<BrushLabels name="cars" toName="b"><Label value="Car"/></BrushLabels>'
              '<BrushLabels name="people" toName="gone"><Label value="Person"/></BrushLabels></View>')
    target = parse_config(config)
    assert (target.image_name, [c.name for c in target.siblings], target.all_labels) == (
        "b", ["people"], ("Car", "Person"))
    person = [{**r, "to_name": "gone"} for r in mask_regions(square(), target, ["Person"], region_id="p")]
    assert [(s.region_id, s.labels) for s in seeds_from_result(person, target)] == [("p", ("Person",))]
    problems = Problems()
    exported = parse_regions(person, ProjectSchema.from_config(config), problems)
    assert ([(r.region_id, r.labels) for r in exported], problems.items) == ([("p", ("Person",))], [])


def many_images(count: int, tag: str) -> str:
    return "<View>" + "".join(
        f'<Image name="i{k}" value="$i{k}"/><Brush name="b{k}" toName="i{k}"/>'
        f'<Labels name="l{k}" toName="i{k}"><Label value="{tag}{k}"/></Labels>' for k in range(count)) + "</View>"


def test_image_targets_are_each_images_parse_config() -> None:
    for config in (SEPARATE, LABELLED, many_images(5, "same")):
        targets = image_targets(config)
        assert targets == tuple(parse_config(config, t.image_name) for t in targets)
        assert targets[0] == parse_config(config)


def test_a_config_of_a_hundred_images_reads_in_well_under_a_second() -> None:
    # An export reads every image's target; one parse of the whole config per image took
    # seconds (and overflowed the parse cache, so every export paid it again).
    config = many_images(100, "fast")
    started = time.perf_counter()
    targets = image_targets(config)
    assert time.perf_counter() - started < 1.0
    assert [t.all_labels for t in targets] == [(f"fast{k}",) for k in range(100)]
