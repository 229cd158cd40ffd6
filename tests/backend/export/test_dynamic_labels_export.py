"""Exports of a project with Label Studio's dynamic labels (a mask control, or the <Labels>
beside a plain <Brush>, with value="$labels": each task's data lists its labels). The classes
are the config's <Label>s, then every task's labels, first seen first in task id order; a
region's label must be one of its own task's."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from export_studio import disk, rect

from samvid.errors import ConfigError
from samvid.export import FORMATS, export
from samvid.export.frames import Problems
from samvid.export.reader import ProjectReader, ProjectSchema
from samvid.studio.client import Project
from samvid.studio.protocol import parse_config
from samvid.studio.results import brush_result, mask_regions

IMG = '<Image name="image" value="$image"/>'
DYNAMIC = f'<View>{IMG}<BrushLabels name="tag" toName="image" value="$labels"/></View>'
WITH_STATIC = (f'<View>{IMG}<BrushLabels name="tag" toName="image" value="$labels">'
               '<Label value="Background"/></BrushLabels></View>')
SEPARATE = f'<View>{IMG}<Brush name="brush" toName="image"/><Labels name="kind" toName="image" value="$labels"/></View>'


def brush(mask, labels: list[str], region_id: str) -> dict:
    return brush_result(mask, from_name="tag", to_name="image", labels=labels, region_id=region_id)


class DynamicProject:
    """What the reader asks of Label Studio: ``tasks`` is [(task id, clip, frame, labels
    (None: no key), result)], listed in the order given."""

    url = "http://127.0.0.1:9"
    api_key = "token"

    def __init__(self, tasks: list[tuple[int, str, int, Any, list[dict]]], config: str = DYNAMIC) -> None:
        self.tasks, self.config = tasks, config
        self.listed = 0

    def project(self, value):
        return Project(1, "dynamic labels", self.config)

    def task_rows(self, project_id, query=None):
        self.listed += 1
        return [{"id": i, "data": {"clip": c, "frame": f, "image": f"/d/{i}.png",
                                   **({} if labels is None else {"labels": labels})},
                 "total_annotations": 1, "total_predictions": 0} for i, c, f, labels, _ in self.tasks]

    def list_annotations(self, task_id):
        result = next(r for i, *_, r in self.tasks if i == task_id)
        return [SimpleNamespace(id=task_id, result=result, was_cancelled=False,
                                updated_at="2026-01-01", created_at="2026-01-01")]

    def list_predictions(self, task_id):
        return []


def exported(fmt: str, studio: DynamicProject, out: Path) -> Problems:
    problems = Problems()
    reader = ProjectReader(studio, 1, problems=problems)
    export(reader, FORMATS[fmt][0](out, reader.categories, problems))
    return problems


CLIPS = [(3, "a", 0, [{"value": "Person"}, {"value": "Car"}], [brush(rect(0, 0, 10, 10), ["Person"], "p")]),
         (1, "b", 0, [{"value": "Dog"}, {"value": "Car", "background": "red"}],
          [brush(disk(40, 30, 6), ["Car"], "c"), brush(rect(0, 0, 8, 8), ["Dog"], "d")])]


def test_the_classes_are_every_tasks_labels_first_seen_in_task_id_order(tmp_path):
    studio = DynamicProject(CLIPS)
    problems = exported("coco", studio, tmp_path)
    assert not problems
    document = json.loads((tmp_path / "annotations.json").read_text())
    assert [(c["id"], c["name"]) for c in document["categories"]] == [(1, "Dog"), (2, "Car"), (3, "Person")]
    names = {c["id"]: c["name"] for c in document["categories"]}
    assert sorted(names[a["category_id"]] for a in document["annotations"]) == ["Car", "Dog", "Person"]
    assert studio.listed == 1  # the classes come from the one listing the export walks


def test_the_configs_own_labels_are_the_first_classes(tmp_path):
    exported("coco", DynamicProject(CLIPS, WITH_STATIC), tmp_path)
    document = json.loads((tmp_path / "annotations.json").read_text())
    assert [c["name"] for c in document["categories"]] == ["Background", "Dog", "Car", "Person"]


@pytest.mark.parametrize("fmt", ["ytvis", "davis", "yolo"])
def test_every_format_numbers_the_classes_as_the_union_of_the_tasks_labels(tmp_path, fmt):
    problems = exported(fmt, DynamicProject(CLIPS), tmp_path)
    assert not problems
    labels = {f.clip: f.labels for f in FORMATS[fmt][1](tmp_path)}
    assert {clip: sorted(names) for clip, names in labels.items()} == {"a": ["Person"], "b": ["Car", "Dog"]}
    if fmt == "yolo":
        assert "0: Dog" in (tmp_path / "data.yaml").read_text().replace("'", "")


def test_a_region_labelled_with_another_tasks_label_is_an_unknown_label(tmp_path):
    tasks = [(1, "a", 0, ["Car"], [brush(rect(0, 0, 10, 10), ["Car"], "c")]),
             (2, "a", 1, ["Dog"], [brush(rect(0, 0, 10, 10), ["Car"], "c")])]
    problems = exported("coco", DynamicProject(tasks), tmp_path)
    (problem,) = problems.items
    assert (problem.kind, problem.task_id) == ("unknown_label", 2)
    assert "'Car', not one of ['Dog']" in problem.message


def test_a_task_without_its_list_of_labels_is_reported_and_its_regions_are_unknown(tmp_path):
    tasks = [(1, "a", 0, ["Car"], [brush(rect(0, 0, 10, 10), ["Car"], "c")]),
             (2, "a", 1, None, [brush(rect(0, 0, 10, 10), ["Car"], "c")])]
    problems = exported("coco", DynamicProject(tasks), tmp_path)
    assert problems.counts() == {"bad_task": 1, "unknown_label": 1}
    bad = next(p for p in problems.items if p.kind == "bad_task")
    assert bad.task_id == 2 and "task data 'labels'" in bad.message


def test_a_region_saved_without_a_label_takes_the_one_label_its_task_offers(tmp_path):
    tasks = [(1, "a", 0, ["Car"], [brush(rect(0, 0, 10, 10), [], "c")])]
    problems = exported("coco", DynamicProject(tasks), tmp_path)
    assert not problems
    (frame,) = FORMATS["coco"][1](tmp_path)
    assert frame.labels == ("Car",)


def test_a_dynamic_labels_row_beside_a_plain_brush_exports_its_labelled_masks(tmp_path):
    target = parse_config(SEPARATE).for_task({"labels": ["Car", "Person"]})
    result = mask_regions(rect(0, 0, 10, 10), target, ["Person"], region_id="p")
    problems = exported("coco", DynamicProject([(1, "a", 0, ["Car", "Person"], result)], SEPARATE), tmp_path)
    assert not problems
    (frame,) = FORMATS["coco"][1](tmp_path)
    assert frame.labels == ("Person",)


def test_a_dynamic_config_without_any_label_of_its_own_is_no_config_error():
    schema = ProjectSchema.from_config(DYNAMIC)
    assert (schema.categories, schema.labels_keys) == ([], (("tag", "labels"),))
    with pytest.raises(ConfigError, match="names no mask labels"):
        ProjectSchema.from_config(DYNAMIC.replace(' value="$labels"', ""))


def test_a_task_without_its_list_where_the_config_has_labels_of_its_own_exports_those_unreported(tmp_path):
    # Label Studio shows such a task the config's <Label>s: no data is missing.
    tasks = [(1, "a", 0, [{"value": "Car"}], [brush(rect(0, 0, 10, 10), ["Car"], "c")]),
             (2, "a", 1, None, [brush(rect(0, 0, 10, 10), ["Background"], "b")])]
    problems = exported("coco", DynamicProject(tasks, WITH_STATIC), tmp_path)
    assert problems.counts() == {}
    coco = json.loads((tmp_path / "annotations.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    assert sorted(names[a["category_id"]] for a in coco["annotations"]) == ["Background", "Car"]


def test_an_item_of_a_tasks_list_that_is_no_label_is_reported_and_its_other_labels_kept(tmp_path):
    # Label Studio passes over such an item and offers the others: the Car region was dropped.
    tasks = [(1, "a", 0, [{"value": "Car"}, {"value": ""}, {"colour": "red"}], [brush(rect(0, 0, 10, 10), ["Car"], "c")])]
    problems = exported("coco", DynamicProject(tasks), tmp_path)
    assert problems.counts() == {"bad_task": 1}
    assert "2 item(s) that are no label" in next(p for p in problems.items if p.kind == "bad_task").message
    coco = json.loads((tmp_path / "annotations.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["Car"] and len(coco["annotations"]) == 1
