"""Exports of configs with several <Image>s, each with its own plain <Brush> and <Labels>
(Label Studio's separate-control form): each image's regions are read as propagation reads
them on that image, with that image's labels and "labels" twins only."""

from __future__ import annotations

import numpy as np
from label_configs import SEPARATE_TWO_IMAGES

from samvid.export.frames import Problems
from samvid.export.identity import parse_regions
from samvid.export.reader import ProjectSchema
from samvid.propagation import seeds_from_result
from samvid.studio.protocol import parse_config
from samvid.studio.results import mask_regions

SEPARATE = SEPARATE_TWO_IMAGES
SEVERAL = SEPARATE.replace('<Label value="Car"/>', '<Label value="Car"/><Label value="Bus"/>')


def square() -> np.ndarray:
    mask = np.zeros((12, 16), bool)
    mask[3:8, 4:11] = True
    return mask


def exported(result: list[dict], config: str) -> tuple[list, list[str]]:
    problems = Problems()
    regions = parse_regions(result, ProjectSchema.from_config(config), problems)
    return [(r.region_id, r.labels) for r in regions], [p.message for p in problems.items]


def unlabelled(config: str, image: str, region_id: str) -> dict:
    (bare,) = mask_regions(square(), parse_config(config, image), [], region_id=region_id)
    return bare


def test_the_classes_are_every_images_labels() -> None:
    assert [c.name for c in ProjectSchema.from_config(SEVERAL).categories] == ["Car", "Bus", "Person"]


def test_an_unlabelled_region_exports_as_its_own_images_one_label_as_it_is_tracked() -> None:
    left, right = unlabelled(SEPARATE, "left", "u"), unlabelled(SEPARATE, "right", "v")
    assert exported([left, right], SEPARATE) == ([("u", ("Car",)), ("v", ("Person",))], [])
    assert [s.labels for s in seeds_from_result([left, right], parse_config(SEPARATE))] == [("Car",)]


def test_an_unlabelled_region_among_its_images_several_labels_is_reported_naming_them() -> None:
    left, right = unlabelled(SEVERAL, "left", "u"), unlabelled(SEVERAL, "right", "v")
    assert exported([left, right], SEVERAL) == (
        [("v", ("Person",))], ["region u has no label: pick one of ['Bus', 'Car']"])


def test_a_labels_result_of_another_images_labels_never_labels_a_region() -> None:
    # Label Studio gives a region's "labels" twin the region's own image as to_name: a twin
    # of the right image's <Labels> is the right image's, whatever id it has. Imported JSON
    # may claim otherwise; propagation on the left image never reads it, nor may the export.
    geometry = unlabelled(SEVERAL, "left", "same")
    twin = {**geometry, "type": "labels", "from_name": "right_labels", "to_name": "right",
            "value": {**geometry["value"], "labels": ["Person"]}}
    claimed = {**twin, "to_name": "left"}
    for other in (twin, claimed):
        regions, problems = exported([geometry, other], SEVERAL)
        assert regions == [] and problems == ["region same has no label: pick one of ['Bus', 'Car']"]
        assert [s.labels for s in seeds_from_result([geometry, other], parse_config(SEVERAL))] == [()]


def test_a_region_labelled_by_several_labels_keeps_them_under_the_first_labels_in_config_order() -> None:
    # Label Studio saves a region's twins in the order their labels were applied: the key of
    # the labels attribute must not depend on it, or one object's labels move between keys.
    config = SEVERAL.replace('<Image name="right"', '<Labels name="state" toName="left">'
                             '<Label value="parked"/></Labels><Image name="right"')
    target = parse_config(config)
    for applied in (["parked", "Bus"], ["Bus", "parked"]):
        result = mask_regions(square(), target, applied, region_id="s")
        problems = Problems()
        (region,) = parse_regions(result, ProjectSchema.from_config(config), problems)
        assert (region.label, region.attributes) == ("Bus", {"left_labels": ["Bus", "parked"]}), applied
        assert not problems.items


# One plain <Brush> (or one <BrushLabels>) drawing on two images, each with labels of its own.
SHARED_BRUSH = """<View>
  <Image name="a" value="$a"/>
  <Image name="b" value="$b"/>
  <Brush name="paint" toName="a,b"/>
  <Labels name="cars" toName="a"><Label value="Car"/></Labels>
  <Labels name="people" toName="b"><Label value="Person"/></Labels>
</View>"""
SHARED_BRUSHLABELS = """<View>
  <Image name="a" value="$a"/>
  <Image name="b" value="$b"/>
  <BrushLabels name="paint" toName="a,b"><Label value="Car"/></BrushLabels>
  <BrushLabels name="p2" toName="b"><Label value="Person"/></BrushLabels>
</View>"""


def test_a_region_of_a_brush_on_two_images_is_labelled_by_its_own_images_labels() -> None:
    target = parse_config(SHARED_BRUSH, "b")
    result = mask_regions(square(), target, ["Person"], region_id="r1")
    assert exported(result, SHARED_BRUSH) == ([("r1", ("Person",))], [])
    assert [s.labels for s in seeds_from_result(result, target)] == [("Person",)]  # as tracked on b


def test_an_unlabelled_region_of_a_mask_control_on_two_images_reads_its_own_images_labels() -> None:
    # On b, "paint" and "p2" offer Car and Person: nothing says which (as propagation reads it).
    target = parse_config(SHARED_BRUSHLABELS, "b")
    (bare,) = mask_regions(square(), target, [], region_id="u")
    assert exported([bare], SHARED_BRUSHLABELS) == ([], ["region u has no label: pick one of ['Car', 'Person']"])
    assert [s.labels for s in seeds_from_result([bare], target)] == [()]
    (on_a,) = mask_regions(square(), parse_config(SHARED_BRUSHLABELS, "a"), [], region_id="v")
    assert exported([on_a], SHARED_BRUSHLABELS) == ([("v", ("Car",))], [])  # a offers Car only


def test_a_region_saved_without_an_image_is_read_on_the_image_propagation_tracks() -> None:
    # Imported JSON may lack to_name: propagation reads such a region on its image, "a",
    # where "paint" offers Car only (on b it would be unlabelled).
    default = parse_config(SHARED_BRUSHLABELS)
    (bare,) = mask_regions(square(), parse_config(SHARED_BRUSHLABELS, "b"), [], region_id="u")
    del bare["to_name"]
    assert default.image_name == "a" and [s.labels for s in seeds_from_result([bare], default)] == [("Car",)]
    assert exported([bare], SHARED_BRUSHLABELS) == ([("u", ("Car",))], [])


def test_several_labels_are_kept_under_the_first_labels_in_the_config_whatever_images_it_labels() -> None:
    config = """<View>
      <Image name="a" value="$a"/>
      <Image name="b" value="$b"/>
      <Brush name="pa" toName="a"/>
      <Brush name="pb" toName="b"/>
      <Labels name="x" toName="b"><Label value="Car"/></Labels>
      <Labels name="y" toName="a,b"><Label value="parked"/></Labels>
    </View>"""
    assert ProjectSchema.from_config(config).label_rows == ("x", "y")
    for applied in (["Car", "parked"], ["parked", "Car"]):
        result = mask_regions(square(), parse_config(config, "b"), applied, region_id="s")
        problems = Problems()
        (region,) = parse_regions(result, ProjectSchema.from_config(config), problems)
        assert (region.control, set(region.attributes)) == ("x", {"x"}), applied
        assert not problems.items


def test_a_mask_control_naming_no_image_exports_its_label_on_the_image_it_draws_on() -> None:
    # parse_config puts its masks on the first <Image>: its labels are that image's.
    config = ('<View><Image name="image" value="$image"/>'
              '<BrushLabels name="tag" toName="img"><Label value="Car"/></BrushLabels></View>')
    target = parse_config(config)
    (bare,) = mask_regions(square(), target, [], region_id="u")
    assert exported([bare], config) == ([("u", ("Car",))], [])
    assert [s.labels for s in seeds_from_result([bare], target)] == [("Car",)]


def test_an_unlabelled_region_of_an_image_without_mask_labels_is_told_the_configs_labels() -> None:
    config = ('<View><Image name="a" value="$a"/><Image name="b" value="$b"/>'
              '<BrushLabels name="m1" toName="a"/>'
              '<BrushLabels name="m2" toName="b"><Label value="Car"/><Label value="Bus"/></BrushLabels></View>')
    (bare,) = mask_regions(square(), parse_config(config, "a"), [], region_id="u")
    assert exported([bare], config) == ([], ["region u has no label: pick one of ['Bus', 'Car']"])


# A plain <Brush> on two images with a <Labels> on the first only: the second is a scribble pad
# (``image_targets``), and a <BrushLabels> beside an <Image> no mask control points at.
PAD = ('<View><Image name="a" value="$a"/><Image name="b" value="$b"/>'
       '<Brush name="m" toName="a,b"/><Labels name="l" toName="a"><Label value="Car"/></Labels></View>')
NO_MASKS = ('<View><Image name="image" value="$image"/><Image name="other" value="$other"/>'
            '<BrushLabels name="tag" toName="image"><Label value="Car"/></BrushLabels></View>')


def test_a_region_drawn_on_an_image_that_takes_no_masks_is_exported_as_nothing_as_it_is_tracked() -> None:
    # Read on the tracked image, a scribble on the pad was exported as a car propagation never tracked.
    # A scribble (no label) goes without a word; a labelled mask there is reported (see below).
    for config, labels, pad, told in ((PAD, [], "b", 0), (NO_MASKS, ["Car"], "other", 1)):
        target = parse_config(config)
        drawn = [{**r, "to_name": pad} for r in mask_regions(square(), target, labels, region_id="s")]
        assert seeds_from_result(drawn, target) == [], config
        regions, problems = exported(drawn, config)
        assert (regions, len(problems)) == ([], told), config
        # One naming no image at all is still read on the tracked image.
        renamed = [{**r, "to_name": "renamed"} for r in drawn]
        assert exported(renamed, config) == ([("s", ("Car",))], []), config


def skipped(result: list[dict], config: str) -> tuple[list, list[tuple[str, str]]]:
    problems = Problems()
    regions = parse_regions(result, ProjectSchema.from_config(config), problems)
    return [r.region_id for r in regions], [(p.kind, p.message) for p in problems.items]


def test_a_mask_drawn_before_its_control_moved_to_another_image_is_reported_saying_what_to_do() -> None:
    # Frames annotated before the control's toName moved from a to b: skipped, as propagation
    # skips them, but the export dropped them without a word.
    before = ('<View><Image name="a" value="$a"/><Image name="b" value="$b"/>'
              '<BrushLabels name="tag" toName="a"><Label value="Car"/></BrushLabels></View>')
    after = before.replace('toName="a"', 'toName="b"')
    drawn = mask_regions(square(), parse_config(before), ["Car"], region_id="x")
    unnamed = [{k: v for k, v in r.items() if k != "id"} for r in drawn]
    regions, problems = skipped([*drawn, *unnamed], after)
    assert regions == []
    assert [kind for kind, _ in problems] == ["no_mask_control"] * 2
    assert problems[0][1].startswith("region x is drawn on image 'a', which no mask control labels")
    assert "point a mask control at 'a'" in problems[0][1] and "redraw it on 'b'" in problems[0][1]
    assert problems[1][1].startswith("region #2 (no id) is drawn on image 'a'")


def test_a_labelled_brush_region_drawn_before_its_brush_moved_to_another_image_is_reported() -> None:
    # The separate form: a plain <Brush> region with its "labels" twin is a mask (one without
    # is a scribble on a pad, left without a word).
    before = ('<View><Image name="a" value="$a"/><Image name="b" value="$b"/>'
              '<Brush name="m" toName="a"/><Labels name="l" toName="a"><Label value="Car"/></Labels></View>')
    drawn = mask_regions(square(), parse_config(before), ["Car"], region_id="x")
    regions, problems = skipped(drawn, before.replace('toName="a"', 'toName="b"'))
    assert (regions, [kind for kind, _ in problems]) == ([], ["no_mask_control"])
    assert problems[0][1].startswith("region x is drawn on image 'a'")
