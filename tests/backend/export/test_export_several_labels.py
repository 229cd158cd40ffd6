"""Regions with several labels (a ``choice="multiple"`` BrushLabels, or the <Labels> of the
separate-control form): the first label in the config's order is the class, whatever order
they were saved in (propagation takes them as a set), and none of them is lost."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from export_studio import H, W, disk, rect

from samvid.export import FORMATS, export
from samvid.export.frames import Problems
from samvid.export.identity import parse_regions
from samvid.export.reader import ProjectReader, ProjectSchema
from samvid.studio.client import Project
from samvid.studio.protocol import parse_config
from samvid.studio.results import brush_result, mask_regions

CONFIG = """<View>
  <Image name="image" value="$image"/>
  <BrushLabels name="tag" toName="image" choice="multiple">
    <Label value="car"/><Label value="person"/><Label value="red"/>
  </BrushLabels>
  <Choices name="state" toName="image" perRegion="true"><Choice value="parked"/></Choices>
</View>"""
SEPARATE = """<View>
  <Image name="image" value="$image"/>
  <Brush name="brush" toName="image"/>
  <Labels name="kind" toName="image" choice="multiple">
    <Label value="car"/><Label value="red"/>
  </Labels>
</View>"""


def brush(mask: np.ndarray, labels: list[str], region_id: str) -> dict:
    return brush_result(mask, from_name="tag", to_name="image", labels=labels, region_id=region_id)


class StoredProject:
    """What the reader asks of Label Studio, answered from one clip's annotation results."""

    url = "http://127.0.0.1:9"
    api_key = "token"

    def __init__(self, frames: list[list[dict]], config: str = CONFIG,
                 images: list[str] | None = None) -> None:
        self.frames = frames
        self.config = config
        self.images = images or [f"/data/{i}.png" for i in range(len(frames))]

    def project(self, value):
        return Project(1, "several labels", self.config)

    def task_rows(self, project_id, query=None):
        return [{"id": i + 1, "data": {"clip": "street", "frame": i, "image": self.images[i]},
                 "total_annotations": 1, "total_predictions": 0} for i in range(len(self.frames))]

    def list_annotations(self, task_id):
        return [SimpleNamespace(id=task_id, result=self.frames[task_id - 1], was_cancelled=False,
                                updated_at=f"2026-01-{task_id:02d}", created_at="2026-01-01")]

    def list_predictions(self, task_id):
        return []


def exported(fmt: str, frames: list[list[dict]], out: Path, config: str = CONFIG,
             images: list[str] | None = None) -> Problems:
    problems = Problems()
    reader = ProjectReader(StoredProject(frames, config, images), 1, problems=problems)
    export(reader, FORMATS[fmt][0](out, reader.categories, problems))
    return problems


def test_a_region_with_two_labels_keeps_both_in_the_coco_export(tmp_path):
    state = {"id": "a", "from_name": "state", "to_name": "image", "type": "choices",
             "value": {"choices": ["parked"]}}
    exported("coco", [[brush(rect(0, 0, 10, 10), ["car", "red"], "a"), state]], tmp_path)
    document = json.loads((tmp_path / "annotations.json").read_text())
    (annotation,) = document["annotations"]
    names = {c["id"]: c["name"] for c in document["categories"]}
    assert names[annotation["category_id"]] == "car"
    assert annotation["attributes"] == {"state": ["parked"], "tag": ["car", "red"]}
    (frame,) = FORMATS["coco"][1](tmp_path)
    assert frame.labels == ("car",)
    assert frame.attributes == ({"state": ["parked"], "tag": ["car", "red"]},)


def test_label_order_does_not_change_an_objects_category(tmp_path):
    # One tracked object (region "a") saved as ["red", "car"] on one frame and ["car", "red"]
    # on the next: the same set, so the same class and the same labels on both frames.
    frames = [[brush(rect(0, 0, 10, 10), ["red", "car"], "a")],
              [brush(rect(2, 0, 12, 10), ["car", "red"], "a")]]
    problems = exported("coco", frames, tmp_path)
    assert "label_changed" not in problems.counts()
    loaded = list(FORMATS["coco"][1](tmp_path))
    assert [(f.object_ids, f.labels) for f in loaded] == [((1,), ("car",)), ((1,), ("car",))]
    assert [f.attributes for f in loaded] == [({"tag": ["car", "red"]},)] * 2


def test_a_region_whose_first_label_is_unknown_is_exported_with_its_known_label(tmp_path):
    # "rusty" is not a label of the config (renamed since, or a hand-made prediction's).
    problems = exported("coco", [[brush(disk(40, 30, 6), ["rusty", "person"], "b")]], tmp_path)
    assert "unknown_label" not in problems.counts()
    (frame,) = FORMATS["coco"][1](tmp_path)
    assert frame.labels == ("person",)
    assert frame.attributes == ({"tag": ["person", "rusty"]},)


def test_a_region_with_no_known_label_among_several_is_reported_and_skipped():
    problems = Problems()
    assert parse_regions([brush(rect(0, 0, 10, 10), ["rusty", "old"], "a")],
                         ProjectSchema.from_config(CONFIG), problems) == []
    (problem,) = problems.items
    assert problem.kind == "unknown_label" and "'rusty', 'old'" in problem.message


def test_youtube_vis_keeps_every_label_of_each_frame_and_loads_them_back(tmp_path):
    frames = [[brush(rect(0, 0, 10, 10), ["car"], "a")],
              [brush(rect(2, 0, 12, 10), ["red", "car"], "a")]]
    exported("ytvis", frames, tmp_path)
    (annotation,) = json.loads((tmp_path / "annotations.json").read_text())["annotations"]
    assert annotation["attributes"] == [{}, {"tag": ["car", "red"]}]
    assert [f.attributes for f in FORMATS["ytvis"][1](tmp_path)] == [({},), ({"tag": ["car", "red"]},)]


def test_davis_and_yolo_report_each_object_whose_labels_they_cannot_hold(tmp_path):
    frames = [[brush(rect(0, 0, 10, 10), ["car", "red"], "a"), brush(disk(40, 30, 6), ["person"], "b")]
              for _ in range(3)]
    for fmt in ("davis", "yolo"):
        problems = exported(fmt, frames, tmp_path / fmt)
        assert problems.counts() == {"several_labels": 1}  # once per object of a clip
        (problem,) = problems.items
        assert "object 1" in problem.message and "['car', 'red']" in problem.message
        assert [f.labels for f in FORMATS[fmt][1](tmp_path / fmt)] == [("car", "person")] * 3


def test_a_region_with_one_label_gets_no_labels_attribute(tmp_path):
    problems = exported("coco", [[brush(rect(0, 0, 10, 10), ["red"], "a")]], tmp_path)
    assert not problems
    (annotation,) = json.loads((tmp_path / "annotations.json").read_text())["annotations"]
    assert annotation["attributes"] == {}


def test_the_separate_control_form_keeps_the_labels_under_the_labels_controls_name():
    mask = np.zeros((H, W), bool)
    mask[4:12, 6:20] = True
    result = mask_regions(mask, parse_config(SEPARATE), ["red", "car"], region_id="q")
    problems = Problems()
    (region,) = parse_regions(result, ProjectSchema.from_config(SEPARATE), problems)
    assert (region.label, region.attributes) == ("car", {"kind": ["car", "red"]})
    assert not problems


NUMBERED = CONFIG.replace("</View>", '<Number name="object_id" toName="image" perRegion="true"/></View>')


def object_id(region_id: str, number: int) -> dict:
    return {"id": region_id, "from_name": "object_id", "to_name": "image", "type": "number",
            "value": {"number": number}}


def test_several_labels_is_not_reported_for_a_frame_left_out(tmp_path):
    # Frame 0 has no image URL: its region, the only one with two labels, is not exported.
    frames = [[brush(rect(0, 0, 10, 10), ["car", "red"], "a")],
              [brush(rect(2, 0, 12, 10), ["car"], "a")]]
    problems = exported("coco", frames, tmp_path, images=["", "/data/1.png"])
    assert problems.counts() == {"missing_image": 1}


def test_several_labels_is_not_reported_for_a_region_left_out(tmp_path):
    big = np.zeros((2 * H, 2 * W), bool)
    big[0:10, 0:10] = True
    duplicate = [brush(rect(0, 0, 10, 10), ["person"], "a"), object_id("a", 1),
                 brush(rect(30, 30, 40, 40), ["car", "red"], "b"), object_id("b", 1)]
    problems = exported("coco", [duplicate], tmp_path / "duplicate", NUMBERED)
    assert problems.counts() == {"duplicate_object_id": 1}
    other_size = [brush(rect(0, 0, 10, 10), ["person"], "a"), brush(big, ["car", "red"], "b")]
    problems = exported("coco", [other_size], tmp_path / "size", NUMBERED)
    assert problems.counts() == {"size_mismatch": 1}


def test_several_labels_names_the_class_the_object_is_exported_as(tmp_path):
    # Its latest frame says "person", one of its labels on frame 0 too: no change of class.
    frames = [[brush(rect(0, 0, 10, 10), ["car", "person"], "a")],
              [brush(rect(2, 0, 12, 10), ["person"], "a")]]
    problems = exported("davis", frames, tmp_path)
    assert problems.counts() == {"several_labels": 1}
    (problem,) = problems.items
    assert "exported as 'person'" in problem.message and "'car'," in problem.message
    assert [f.labels for f in FORMATS["davis"][1](tmp_path)] == [("person",)] * 2


def test_a_class_among_the_regions_labels_is_no_label_change_but_another_class_is(tmp_path):
    frames = [[brush(rect(0, 0, 10, 10), ["car", "person"], "a"), brush(disk(40, 30, 6), ["car", "red"], "b")],
              [brush(rect(2, 0, 12, 10), ["person"], "a"), brush(disk(41, 30, 6), ["person"], "b")]]
    problems = exported("coco", frames, tmp_path)
    (changed,) = [p for p in problems.items if p.kind == "label_changed"]
    assert (changed.frame, "object 2" in changed.message) == (0, True)
    assert [f.attributes for f in FORMATS["coco"][1](tmp_path)][0] == (
        {"tag": ["car", "person"]}, {"tag": ["car", "red"]})


def test_polygon_parts_of_one_object_keep_the_labels_of_every_part(tmp_path):
    frame = [brush(rect(0, 0, 10, 10), ["car"], "a"), brush(rect(30, 30, 40, 40), ["car", "red"], "a~2")]
    problems = exported("coco", [frame], tmp_path)
    (loaded,) = FORMATS["coco"][1](tmp_path)
    assert (loaded.object_ids, loaded.attributes) == ((1,), ({"tag": ["car", "red"]},))
    assert problems.counts() == {"several_labels": 1}


def test_parts_with_one_object_id_keep_the_labels_of_every_part_in_config_order(tmp_path):
    state = {"id": "a", "from_name": "state", "to_name": "image", "type": "choices",
             "value": {"choices": ["parked"]}}
    frame = [brush(rect(0, 0, 10, 10), ["red", "car"], "a"), object_id("a", 1), state,
             brush(rect(30, 30, 40, 40), ["car", "person"], "b"), object_id("b", 1)]
    problems = exported("ytvis", [frame], tmp_path, NUMBERED)
    (annotation,) = json.loads((tmp_path / "annotations.json").read_text())["annotations"]
    assert annotation["attributes"] == [{"state": ["parked"], "tag": ["car", "person", "red"]}]
    (problem,) = problems.items
    assert problem.kind == "several_labels" and "['car', 'person', 'red']" in problem.message


def odd_sized(labels: list[str], region_id: str) -> dict:
    """A region drawn on a 40x30 image, where the clip's others are W x H."""
    mask = np.zeros((30, 40), bool)
    mask[0:5, 0:5] = True
    return brush(mask, labels, region_id)


def test_several_labels_is_not_reported_for_a_frame_youtube_vis_leaves_out_for_its_size(tmp_path):
    frames = [[brush(rect(0, 0, 10, 10), ["car"], "a")], [brush(rect(2, 0, 12, 10), ["car"], "a")],
              [odd_sized(["car", "red"], "a")]]
    problems = exported("ytvis", frames, tmp_path)
    assert problems.counts() == {"size_mismatch": 1}


def test_several_labels_is_reported_at_the_first_frame_youtube_vis_keeps_with_them(tmp_path):
    frames = [[odd_sized(["car", "red"], "a")], [brush(rect(2, 0, 12, 10), ["car"], "a")],
              [brush(rect(4, 0, 14, 10), ["car", "red"], "a")]]
    problems = exported("ytvis", frames, tmp_path)
    assert sorted((p.kind, p.frame) for p in problems.items) == [("several_labels", 2), ("size_mismatch", 0)]


def test_several_labels_is_not_reported_by_davis_for_an_object_its_png_does_not_hold(tmp_path):
    # Object 1 lies wholly under object 2 (the larger id keeps the pixels): DAVIS writes no
    # object 1 on the frame, COCO does.
    frame = [brush(rect(0, 0, 10, 10), ["car", "red"], "a"), brush(rect(0, 0, 20, 20), ["person"], "b")]
    davis = exported("davis", [frame], tmp_path / "davis")
    assert davis.counts() == {"lossy": 2}  # the overlap, and object 1 not on the PNG
    coco = exported("coco", [frame], tmp_path / "coco")
    assert coco.counts() == {"several_labels": 1}

