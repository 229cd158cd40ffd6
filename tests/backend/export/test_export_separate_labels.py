"""Exports of a separate-control project (a plain <Brush>/<Polygon> plus a <Labels>): a region
is its geometry and a "labels" twin with the same id (Label Studio 1.23's form); the export
reads it as one labelled mask, with its per-region attributes, as propagation tracks it."""

from __future__ import annotations

import numpy as np
import pytest

from samvid.errors import ConfigError
from samvid.export.frames import Problems, Where
from samvid.export.identity import ClipRegions, parse_regions
from samvid.export.reader import ProjectSchema, frame_objects
from samvid.propagation import seeds_from_result
from samvid.studio.protocol import parse_config
from samvid.studio.results import mask_regions

H, W = 24, 32
CONFIG = """<View>
  <Image name="image" value="$image"/>
  <Polygon name="outline" toName="image"/>
  <Labels name="labels" toName="image"><Label value="car"/><Label value="person"/></Labels>
  <Number name="object_id" toName="image" perRegion="true"/>
  <Choices name="state" toName="image" perRegion="true"><Choice value="parked"/></Choices>
</View>"""
WHERE: Where = {"clip": "c", "frame": 0, "task_id": 1}


def test_a_polygon_with_its_labels_twin_exports_as_one_labelled_object_with_its_attributes() -> None:
    mask = np.zeros((H, W), bool)
    mask[4:12, 6:20] = True
    target = parse_config(CONFIG)
    result = [r for r in mask_regions(mask, target, ["person"], region_id="q")] + [
        {"id": "q", "from_name": "object_id", "to_name": "image", "type": "number", "value": {"number": 4}},
        {"id": "q", "from_name": "state", "to_name": "image", "type": "choices", "value": {"choices": ["parked"]}},
    ]
    schema = ProjectSchema.from_config(CONFIG)
    assert [c.name for c in schema.categories] == ["car", "person"]
    problems = Problems()
    regions = parse_regions(result, schema, problems)
    assert [(r.region_id, r.label, r.explicit_id, r.attributes) for r in regions] == [
        ("q", "person", 4, {"state": ["parked"]})]
    (obj,) = frame_objects(regions, ClipRegions([regions]), (H, W), problems, WHERE)
    assert (obj.object_id, obj.label) == (4, "person")
    assert np.array_equal(obj.mask, mask)
    assert not problems
    (seed,) = seeds_from_result(result, target)
    assert (seed.key, seed.labels) == ("4", ("person",))
    assert [e["from_name"] for e in seed.extras] == ["object_id", "state"]  # no geometry copied as extra
    assert np.array_equal(seed.mask, obj.mask)


def test_a_separate_control_project_without_a_label_is_refused_saying_where_to_add_one() -> None:
    config = CONFIG.replace('<Label value="car"/><Label value="person"/>', "")
    with pytest.raises(ConfigError, match=r"names no mask labels: add a <Label> .*Labels beside its Brush or Polygon"):
        ProjectSchema.from_config(config)
