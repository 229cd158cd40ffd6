"""A region whose results save its id as different JSON numbers (a script wrote the brush's
id as 1 and its labels, object id and attributes as 1.0): Label Studio's editor reads both as
the number 1 and shows one region, so the export writes one object, with its class, object
id and attributes, on every frame (``results.region_key``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from export_studio import StoredProject, disk
from label_configs import SEPARATE_WITH_IDENTITY

from samvid.export import FORMATS, export
from samvid.export.frames import Problems
from samvid.export.reader import ProjectReader
from samvid.studio.protocol import parse_config
from samvid.studio.results import mask_regions

# The separate-control form (a plain <Brush> labelled with <Labels>), an object-id Number and
# a per-region attribute: every result of one region is paired by its id.
CONFIG = SEPARATE_WITH_IDENTITY


def car(mask: np.ndarray, brush_id: Any, other_id: Any, object_id: int | None = 7) -> list[dict]:
    """A car as the editor saves it (brush, labels twin, object id, attribute), the brush
    saved with id ``brush_id`` and the region's other results with ``other_id``."""
    geometry, twin = mask_regions(mask, parse_config(CONFIG), ["car"], region_id="placeholder")
    number = [{"id": other_id, "from_name": "object_id", "to_name": "image", "type": "number",
               "value": {"number": object_id}}] if object_id is not None else []
    state = {"id": other_id, "from_name": "state", "to_name": "image", "type": "choices",
             "value": {"choices": ["parked"]}}
    return [{**geometry, "id": brush_id}, {**twin, "id": other_id}, *number, state]


def exported(fmt: str, frames: list[list[dict]], out: Path) -> Problems:
    tasks = [({"clip": "street", "frame": i, "image": f"/data/{i}.png"}, result)
             for i, result in enumerate(frames)]
    problems = Problems()
    reader = ProjectReader(StoredProject(tasks, CONFIG), 1, problems=problems)  # no fetcher: --no-images
    export(reader, FORMATS[fmt][0](out, reader.categories, problems))
    return problems


@pytest.mark.parametrize("fmt", ["coco", "ytvis"])
def test_a_region_whose_results_save_its_id_as_1_and_1_0_is_one_track_with_its_class_id_and_attributes(
        fmt, tmp_path):
    frames = [car(disk(20, 20, 6), 1, 1.0), car(disk(22, 20, 6), 1.0, 1)]
    problems = exported(fmt, frames, tmp_path)
    assert not problems.items
    loaded = list(FORMATS[fmt][1](tmp_path))
    assert [(f.object_ids, f.labels, f.attributes) for f in loaded] == [
        ((7,), ("car",), ({"state": ["parked"]},))] * 2


def test_without_an_object_id_the_region_saved_as_1_and_as_1_0_is_one_object_over_the_clip(tmp_path):
    frames = [car(disk(20, 20, 6), 1, 1.0, object_id=None), car(disk(22, 20, 6), 1.0, "1", object_id=None)]
    problems = exported("coco", frames, tmp_path)
    assert not problems.items
    loaded = list(FORMATS["coco"][1](tmp_path))
    assert [(f.object_ids, f.labels, f.attributes) for f in loaded] == [
        ((1,), ("car",), ({"state": ["parked"]},))] * 2


def test_a_text_id_1_0_is_not_the_number_1_and_stays_another_region(tmp_path):
    # The editor names a region by its id as text: "1.0" (a string) is not 1, so the brush
    # has no label there and is told as one, not exported as the car.
    person = mask_regions(disk(40, 30, 6), parse_config(CONFIG), ["person"], region_id="p")
    problems = exported("coco", [[*car(disk(20, 20, 6), "1.0", 1), *person]], tmp_path)
    assert problems.counts() == {"unknown_label": 1}
    assert "region 1.0 has no label" in problems.items[0].message
    (frame,) = FORMATS["coco"][1](tmp_path)
    assert frame.labels == ("person",)
