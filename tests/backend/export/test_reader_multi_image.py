"""Exports of configs with several <Image>s, each with its own plain <Brush> and <Labels>
(Label Studio's separate-control form): each image's regions are read as propagation reads
them on that image, with that image's labels and "labels" twins only."""

from __future__ import annotations

import numpy as np

from samvid.export.frames import Problems
from samvid.export.identity import parse_regions
from samvid.export.reader import ProjectSchema
from samvid.propagation import seeds_from_result
from samvid.studio.protocol import parse_config
from samvid.studio.results import mask_regions

SEPARATE = """<View>
  <Image name="left" value="$left"/>
  <Brush name="left_brush" toName="left"/>
  <Labels name="left_labels" toName="left"><Label value="Car"/></Labels>
  <Image name="right" value="$right"/>
  <Brush name="right_brush" toName="right"/>
  <Labels name="right_labels" toName="right"><Label value="Person"/></Labels>
</View>"""
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
