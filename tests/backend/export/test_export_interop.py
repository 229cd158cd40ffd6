"""Exports as the reference tools read them: Ultralytics' data.yaml, mmtracking's CocoVID
fields, the DAVIS 2017 evaluation's first frame."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import yaml
from export_studio import H, W, disk, rect
from test_export_formats import write

from samvid.export import coco, davis, yolo
from samvid.export.frames import ExportFrame, Problems, frame_masks
from samvid.tracker import masks

JPEG = cv2.imencode(".jpg", np.zeros((H, W, 3), np.uint8))[1].tobytes()


def frame(clip: str, index: int, objects: dict[int, tuple[str, np.ndarray]]) -> ExportFrame:
    masks_ = frame_masks(index, H, W, [(o, m, 1.0) for o, (_, m) in objects.items()])
    return ExportFrame(clip, index, masks_, tuple(objects[o][0] for o in masks_.object_ids),
                       image_bytes=JPEG, image_ext=".jpg")


def shapes(frames: list[ExportFrame]) -> list[tuple[str, int, tuple[int, ...], list[int]]]:
    return [(f.clip, f.frame, f.object_ids, [int(m.sum()) for m in f.masks.masks]) for f in frames]


def test_a_yolo_export_moved_elsewhere_still_loads_as_its_data_yaml_names_no_folder(tmp_path):
    frames = [frame("a", 0, {1: ("car", disk(20, 20, 6)), 2: ("person", rect(40, 10, 60, 40))}),
              frame("b", 3, {1: ("person", disk(30, 30, 8))})]
    assert not write("yolo", tmp_path / "written", frames)
    written = shapes(list(yolo.load(tmp_path / "written")))
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(tmp_path / "written", moved)

    data = yaml.safe_load((moved / "data.yaml").read_text())
    # Without `path` Ultralytics roots train/val at the yaml's folder, wherever it is now.
    assert "path" not in data
    assert (moved / data["train"] / "a" / "000000.jpg").is_file()
    assert (moved / data["val"] / "b" / "000003.jpg").is_file()
    assert shapes(list(yolo.load(moved))) == written

    # An export written before names its old absolute place: samvid's loader ignores it.
    (moved / "data.yaml").write_text(yaml.safe_dump({"path": str(tmp_path / "written"), **data}))
    assert shapes(list(yolo.load(moved))) == written


def test_coco_numbers_each_clips_images_from_0_in_frame_order_as_frame_id(tmp_path):
    # Sparse frames, offered out of order: frame_id is the place in frame order, frame stays
    # the video's frame number.
    car = {1: ("car", disk(20, 20, 6))}
    frames = [frame("a", 12, car), frame("a", 10, car), frame("a", 15, {}),
              frame("b", 3, car), frame("b", 0, car)]
    assert not write("coco", tmp_path, frames)
    images = json.loads((tmp_path / coco.ANNOTATIONS).read_text())["images"]
    assert sorted((im["clip"], im["frame"], im["frame_id"]) for im in images) == [
        ("a", 10, 0), ("a", 12, 1), ("a", 15, 2), ("b", 0, 0), ("b", 3, 1)]


def test_coco_instance_id_is_one_per_object_of_a_clip_and_unique_over_the_file(tmp_path):
    # Both clips have an object 1, as the multi-object config numbers each clip's objects.
    frames = [frame("a", 0, {1: ("car", disk(20, 20, 6)), 2: ("person", rect(40, 10, 60, 40))}),
              frame("a", 1, {1: ("car", disk(22, 20, 6)), 2: ("person", rect(41, 10, 60, 40))}),
              frame("b", 0, {1: ("person", disk(30, 30, 8))}),
              frame("b", 1, {1: ("person", disk(31, 30, 8)), 2: ("car", rect(0, 0, 9, 9))})]
    assert not write("coco", tmp_path, frames)
    document = json.loads((tmp_path / coco.ANNOTATIONS).read_text())
    clip_of = {v["id"]: v["name"] for v in document["videos"]}
    instances: dict[tuple[str, int], set[int]] = {}
    for a in document["annotations"]:
        instances.setdefault((clip_of[a["video_id"]], a["track_id"]), set()).add(a["instance_id"])
    assert sorted(instances) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]  # track_id as it was
    assert all(len(ids) == 1 for ids in instances.values())  # the same on every frame
    assert len(set.union(*instances.values())) == 4  # and no two objects share one

    # Files written before these fields still load, and give the same frames.
    loaded = shapes(list(coco.load(tmp_path)))
    for image in document["images"]:
        del image["frame_id"]
    for a in document["annotations"]:
        del a["instance_id"]
    (tmp_path / coco.ANNOTATIONS).write_text(json.dumps(document))
    assert shapes(list(coco.load(tmp_path))) == loaded


def png_values(out: Path, clip: str, index: int) -> list[int]:
    return np.unique(masks.read_label_png(out / "Annotations" / clip / f"{index:06d}.png")).tolist()


def davis2017_drops(out: Path) -> dict[str, list[int]]:
    """The objects davis2017-evaluation leaves out of each clip, by samvid id: its sequence's
    objects number the largest value of its first PNG by sorted name; larger values are dropped."""
    manifest = json.loads((out / "samvid.json").read_text())
    drops = {}
    for clip in manifest["clips"]:
        object_of = {int(v): int(o) for v, o in clip["pixel_values"].items()}
        pngs = sorted((out / "Annotations" / clip["folder"]).glob("*.png"), key=lambda p: p.name)
        counted = int(masks.read_label_png(pngs[0]).max())
        values = {int(v) for p in pngs for v in np.unique(masks.read_label_png(p))}
        drops[clip["clip"]] = sorted(object_of[v] for v in values if v > counted)
    return drops


def late_objects(problems: Problems) -> list[tuple[str | None, int | None, str]]:
    return [(p.clip, p.frame, p.message) for p in problems.items if p.kind == "late_objects"]


def test_davis_reports_once_per_clip_the_objects_its_first_exported_frame_lacks(tmp_path):
    car, person, box = ("car", disk(15, 15, 5)), ("person", disk(45, 30, 6)), ("car", rect(0, 30, 10, 45))
    frames = [frame("late", 4, {3: car}),
              frame("late", 5, {3: car, 8: person}),
              frame("late", 6, {3: car, 5: box, 8: person}),
              frame("empty-first", 0, {}),
              frame("empty-first", 1, {1: car}),
              frame("whole", 0, {1: car, 2: person}),
              frame("whole", 1, {2: person})]
    problems = write("davis", tmp_path, frames)
    assert [(p.kind, p.clip, p.frame) for p in problems.items] == [
        ("late_objects", "late", 4), ("late_objects", "empty-first", 0)]
    assert davis2017_drops(tmp_path) == {"late": [5, 8], "empty-first": [1], "whole": []}
    late, empty_first = (p.message for p in problems.items)
    assert "objects 5 (from frame 6), 8 (from frame 5)" in late  # samvid's ids, not pixel values
    assert "object 1 (from frame 1)" in empty_first
    # What it means, in the one line: which tools leave them out.
    assert "davis2017-evaluation drops them" in late and "samvid track and eval" in late
    # Reported only: the PNGs still hold every object, numbered by first appearance.
    assert [png_values(tmp_path, "late", i) for i in (4, 5, 6)] == [[0, 1], [0, 1, 2], [0, 1, 2, 3]]
    assert [f.object_ids for f in davis.load(tmp_path) if f.clip == "late"] == [(3,), (3, 8), (3, 5, 8)]


def test_davis_reports_no_object_wholly_covered_on_the_first_frame_as_its_value_is_counted(tmp_path):
    # Object 1 lies under object 2 on frame 0: not on its PNG, but its value, 1, is below the
    # largest there, 2, so davis2017-evaluation counts it (as wholly occluded).
    frames = [frame("c", 0, {1: ("car", rect(10, 10, 20, 20)), 2: ("person", rect(5, 5, 30, 30))}),
              frame("c", 1, {1: ("car", rect(40, 10, 50, 20)), 2: ("person", rect(5, 5, 30, 30))})]
    problems = write("davis", tmp_path, frames)
    assert davis2017_drops(tmp_path) == {"c": []}
    assert late_objects(problems) == []
    assert [(p.kind, p.frame) for p in problems.items] == [("lossy", 0), ("lossy", 0)]  # overlap, covered


def test_davis_judges_frames_that_came_out_of_order_by_the_values_written(tmp_path):
    # Frame 9 comes first, so object 1 is value 1 and object 2 value 2; frame 2, the first PNG,
    # holds value 2 alone: the evaluation counts 2 objects and drops none.
    frames = [frame("c", 9, {1: ("car", disk(15, 15, 5)), 2: ("person", disk(45, 30, 6))}),
              frame("c", 2, {2: ("person", disk(45, 30, 6))})]
    problems = write("davis", tmp_path, frames)
    assert davis2017_drops(tmp_path) == {"c": []}
    assert not problems
    # The other way round, object 1 gets value 2 and is dropped: reported at the first PNG.
    problems = write("davis", tmp_path / "b", frames[::-1])
    assert davis2017_drops(tmp_path / "b") == {"c": [1]}
    assert [(c, f) for c, f, _ in late_objects(problems)] == [("c", 2)]
    assert "object 1 (from frame 9) is not on the clip's first PNG, 000002.png" in problems.items[0].message


def test_davis_judges_frames_past_999999_by_their_names_order_and_reports_that_order(tmp_path):
    # 1000000.png sorts before 999999.png: that is the evaluation's first frame.
    one, two = ("car", disk(15, 15, 5)), ("person", disk(45, 30, 6))
    frames = [frame("missed", 999999, {1: one, 2: two}),
              frame("missed", 1000000, {1: one}),
              frame("missed", 1000001, {1: one, 2: two}),
              frame("false", 999998, {1: one}),
              frame("false", 1000000, {1: one, 2: two})]
    problems = write("davis", tmp_path, frames)
    assert davis2017_drops(tmp_path) == {"missed": [2], "false": []}
    assert [(p.kind, p.clip, p.frame) for p in problems.items] == [
        ("late_objects", "missed", 1000000), ("name_order", "missed", 1000000),
        ("name_order", "false", 1000000)]
    late = problems.items[0].message
    assert "object 2 (from frame 999999) is not on the clip's first PNG, 1000000.png" in late
    # samvid's own tools sort by number and start from frame 999999, which holds object 2.
    assert "samvid track" not in late

