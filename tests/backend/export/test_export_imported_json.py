"""Results as Label Studio stores them when they were imported (hand-made predictions,
hand-edited JSON): Label Studio checks none of a region's fields, so one odd region is
reported or read as well as it can be, and never stops the export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from export_studio import CONFIG, H, StoredProject, W, disk, rect, region

from samvid.export import FORMATS, export
from samvid.export.frames import Problems, Where, report_several_labels
from samvid.export.identity import ClipRegions, parse_regions
from samvid.export.reader import ProjectReader, ProjectSchema, frame_objects
from samvid.propagation import seeds_from_result
from samvid.studio.protocol import parse_config
from samvid.studio.results import MAX_PIXELS, mask_regions

SCHEMA = ProjectSchema.from_config(CONFIG)
WHERE: Where = {"clip": "c", "frame": 0, "task_id": 1}


def car(**fields) -> dict:
    (result,) = region(disk(20, 20, 6), "car")
    return {**result, **fields}


@pytest.mark.parametrize("score", ["high", [0.9], {"value": 0.9}, "nan", "inf", None])
def test_a_region_whose_score_is_not_a_number_keeps_its_mask_with_the_default_score(score):
    problems = Problems()
    (read,) = parse_regions([car(score=score)], SCHEMA, problems, score=0.5)
    assert (read.label, read.score) == ("car", 0.5)  # the prediction's own score
    (read,) = parse_regions([car(score=score)], SCHEMA, problems)
    assert read.score == 1.0
    assert not problems


def test_a_region_score_given_as_digits_is_read():
    (read,) = parse_regions([car(score="0.25")], SCHEMA, Problems())
    assert read.score == 0.25


@pytest.mark.parametrize("value", [["car"], "car", 5, None])
def test_a_mask_region_whose_value_is_no_object_is_reported_as_without_a_label(value):
    problems = Problems()
    assert parse_regions([car(value=value), car(id="other")], SCHEMA, problems)[0].region_id == "other"
    assert problems.counts() == {"unknown_label": 1}


@pytest.mark.parametrize("labels", [5, "car", [{"car": 1}], [["car"]], [None]])
def test_a_mask_region_whose_labels_are_not_a_list_of_names_is_reported(labels):
    broken = car()
    broken["value"] = {**broken["value"], "brushlabels": labels}
    problems = Problems()
    assert parse_regions([broken], SCHEMA, problems) == []
    assert problems.counts() == {"unknown_label": 1}


def test_odd_meta_number_values_and_result_items_are_ignored_not_fatal():
    result = [car(meta="a note", id="a"), "not a region", 7,
              {"id": "a", "type": "number", "from_name": "object_id", "value": 3}]
    problems = Problems()
    (read,) = parse_regions(result, SCHEMA, problems)
    assert (read.region_id, read.explicit_id) == ("a", None)
    assert not problems


@pytest.mark.parametrize("odd", [{"to_name": ["image"]}, {"id": ["k1"]}, {"type": ["labels"]},
                                 {"to_name": {"image": 1}, "type": "labels"}, {"id": {"k": 1}, "type": "brush"}])
@pytest.mark.parametrize("separate", [False, True], ids=["labelled", "separate form"])
def test_a_result_with_a_list_or_object_for_its_id_image_or_type_never_stops_the_export(odd, separate):
    # A check hashed (id, to_name, type) of every result: a list there raised TypeError.
    from label_configs import SEPARATE

    schema = ProjectSchema.from_config(SEPARATE) if separate else SCHEMA
    masks = (mask_regions(disk(20, 20, 6), parse_config(SEPARATE), ["Car"], region_id="c") if separate
             else [car(id="c")])
    result = [*masks, {"id": "k1", "type": "keypointlabels", "from_name": "point", "to_name": "image",
                       "value": {}, **odd}]
    (read,) = parse_regions(result, schema, Problems())
    assert read.region_id == "c"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("claimed", [(8000, MAX_PIXELS // 8000 + 1), (0, 0), (-4, -6), (4, 10**30)],
                         ids=["over the limit", "zero", "negative", "past numpy"])
def test_without_images_a_frame_its_regions_size_unreadably_is_reported_and_skipped(
        fmt, claimed, tmp_path):
    height, width = claimed
    tasks = [({"clip": "c", "frame": 0, "image": "/data/0.jpg"}, region(disk(20, 20, 6), "car", 1)),
             ({"clip": "c", "frame": 1, "image": "/data/1.jpg"},
              [car(original_width=width, original_height=height)]),
             ({"clip": "c", "frame": 2, "image": "/data/2.jpg"}, region(disk(30, 20, 6), "car", 1))]
    problems = Problems()
    reader = ProjectReader(StoredProject(tasks), 1, problems=problems)  # no fetcher: --no-images
    summary = export(reader, FORMATS[fmt][0](tmp_path, reader.categories, problems))
    assert summary.frames == 2
    assert [(p.kind, p.frame) for p in problems.items] == [("missing_image", 1)]
    assert f"{width}x{height}" in problems.items[0].message
    back = list(FORMATS[fmt][1](tmp_path))
    assert [(f.frame, f.height, f.width, f.object_ids) for f in back] == [(0, H, W, (1,)), (2, H, W, (1,))]


def test_a_frame_task_without_regions_takes_its_clips_size_without_images(tmp_path):
    tasks = [({"clip": "c", "frame": 0, "image": "/data/0.jpg"}, region(disk(20, 20, 6), "car", 1)),
             ({"clip": "c", "frame": 1, "image": "/data/1.jpg"}, [])]
    problems = Problems()
    reader = ProjectReader(StoredProject(tasks), 1, problems=problems)
    export(reader, FORMATS["davis"][0](Path(tmp_path), reader.categories, problems))
    assert not problems
    assert [(f.frame, f.height, f.width) for f in FORMATS["davis"][1](tmp_path)] == [(0, H, W), (1, H, W)]


def _anonymous(mask, label, **fields):
    """A region as Label Studio stores imported JSON that gave it no id."""
    (result,) = region(mask, label)
    del result["id"]
    return {**result, **fields}


def test_regions_without_an_id_are_each_an_object_of_their_own():
    # Label Studio stores imported regions without an id as they came (no id given): nothing
    # ties two of them together, so none is merged into another or dropped as its duplicate,
    # not even the very same region saved twice on a frame.
    cars = [rect(0, 0, 10, 10), rect(20, 0, 30, 10)]
    frames = [[_anonymous(cars[0], "car"), _anonymous(cars[1], "car", id=""),
               _anonymous(rect(40, 20, 50, 30), "person"), _anonymous(cars[0], "car")],
              [_anonymous(rect(1, 0, 11, 10), "car"), _anonymous(rect(41, 20, 51, 30), "person")]]
    problems = Problems()
    parsed = [parse_regions(result, SCHEMA, problems) for result in frames]
    identities = ClipRegions(parsed)
    objects = [frame_objects(regions, identities, (H, W), problems, WHERE) for regions in parsed]
    assert not problems
    assert [[(o.object_id, o.label) for o in frame] for frame in objects] == [
        [(1, "car"), (2, "car"), (3, "person"), (4, "car")], [(5, "car"), (6, "person")]]
    assert np.array_equal(objects[0][1].mask, cars[1])


def test_a_region_without_an_id_is_one_object_with_the_frames_propagation_filled_from_it():
    # Propagation names such a region and writes that id on the frames it fills: the export
    # read the keyframe as an object of its own, and the propagated frames as another.
    key = [_anonymous(rect(0, 0, 10, 10), "car"), _anonymous(rect(40, 20, 50, 30), "person")]
    seeds = seeds_from_result(key, parse_config(CONFIG))
    filled = [region(rect(2, 0, 12, 10), s.labels[0], region_id=s.region_id)[0] for s in seeds]
    problems = Problems()
    parsed = [parse_regions(result, SCHEMA, problems) for result in (key, filled, filled)]
    identities = ClipRegions(parsed, [True, False, False])
    assert [[identities.object_id(r) for r in regions] for regions in parsed] == [[1, 2]] * 3
    assert not problems


def test_a_region_without_an_id_keeps_its_meta_object_id():
    (result,) = region(rect(0, 0, 10, 10), "car")
    del result["id"]
    result["meta"] = {"object_id": 4}
    (read,) = parse_regions([result, {"type": "number", "from_name": "object_id", "value": {"number": 9}}],
                            SCHEMA, Problems())
    assert read.explicit_id == 4


def test_problems_with_the_mask_of_a_region_without_an_id_name_it_by_its_place_on_the_frame():
    # They named it by the id it is keyed by (``r`` and a hash), found nowhere in Label Studio.
    bad_rle = _anonymous(rect(20, 0, 30, 10), "car")
    bad_rle["value"] = {**bad_rle["value"], "rle": [1, 2, 3]}
    result = [_anonymous(rect(0, 0, 10, 10), "car", meta={"object_id": 5}), bad_rle,
              _anonymous(rect(40, 0, 50, 10), "person", original_width=W // 2),
              _anonymous(rect(0, 20, 10, 30), "person", meta={"object_id": 5}),
              _anonymous(rect(20, 20, 30, 30), "car")]
    result[-1]["value"] = {**result[-1]["value"], "brushlabels": ["car", "person"]}
    problems = Problems()
    parsed = [parse_regions(result, SCHEMA, problems)]
    objects = frame_objects(parsed[0], ClipRegions(parsed), (H, W), problems, WHERE)
    report_several_labels("c", 0, 1, ((o.object_id, o.labels, o.label, o.shown_id) for o in objects), set(),
                          problems)
    assert [(p.kind, p.message.split(":")[0]) for p in problems.items] == [
        ("bad_region", "region #2 (no id)"),
        ("size_mismatch", f"region #3 (no id) is {W // 2}x{H}, the image is {W}x{H}"),
        ("duplicate_object_id", "region #4 (no id) (person) and an earlier region (car) both claim object id 5"),
        ("several_labels", "object 8 (region #5 (no id)) has the labels ['car', 'person']"),
    ]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_object_ids_past_two_to_the_53_stay_distinct_and_exact_in_every_format(fmt, tmp_path):
    # JSON integers are exact; read through a float, 2**53 + 1 would become 2**53 and its
    # object would be merged into the other one's.
    big = 2**53
    tasks = [({"clip": "c", "frame": 0, "image": "/data/0.jpg"},
              region(disk(20, 20, 6), "car", big) + region(rect(40, 30, 60, 44), "car", big + 1))]
    problems = Problems()
    reader = ProjectReader(StoredProject(tasks), 1, problems=problems)
    export(reader, FORMATS[fmt][0](tmp_path, reader.categories, problems))
    (frame,) = FORMATS[fmt][1](tmp_path)
    assert frame.object_ids == (big, big + 1)
    assert np.array_equal(frame.masks.mask_of(big + 1), rect(40, 30, 60, 44))


@pytest.mark.parametrize("written", [2**53 + 1, str(2**53 + 1), 2**70])
def test_a_large_object_id_number_or_meta_id_is_read_exactly(written):
    for result in (region(disk(20, 20, 6), "car", written),
                   [car(meta={"object_id": written})]):
        (read,) = parse_regions(result, SCHEMA, Problems())
        assert read.explicit_id == int(written)


def test_a_task_whose_image_is_null_is_reported_as_without_an_image_url(tmp_path):
    # str(None) is "None", a URL: with --no-images the frame was exported without an image,
    # and fetched it was Label Studio's 404 for "None".
    tasks = [({"clip": "c", "frame": 0, "image": "/data/0.jpg"}, region(disk(20, 20, 6), "car", 1)),
             ({"clip": "c", "frame": 1, "image": None, "video": None}, region(disk(30, 20, 6), "car", 1))]
    problems = Problems()
    reader = ProjectReader(StoredProject(tasks), 1, problems=problems)  # no fetcher: --no-images
    summary = export(reader, FORMATS["coco"][0](tmp_path, reader.categories, problems))
    assert summary.frames == 1
    assert [(p.kind, p.frame, p.message) for p in problems.items] == [
        ("missing_image", 1, "task has no image URL")]


def test_the_export_summary_counts_only_clips_with_a_frame_exported(tmp_path):
    tasks = [({"clip": "a", "frame": 0, "image": "/data/0.jpg"}, region(disk(20, 20, 6), "car", 1)),
             ({"clip": "b", "frame": 0, "image": "/data/1.jpg"}, [])]
    project = StoredProject(tasks)
    rows = project.task_rows(1)
    rows[1]["total_annotations"] = 0  # clip "b" was never annotated: nothing of it is exported
    project.task_rows = lambda project_id, query=None: rows
    problems = Problems()
    reader = ProjectReader(project, 1, problems=problems)
    summary = export(reader, FORMATS["coco"][0](tmp_path, reader.categories, problems))
    assert (summary.clips, summary.frames) == (1, 1)
