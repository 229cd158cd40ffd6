"""Which object of the video a region is, and its class, from hand-built task JSON:
the export must see the objects propagation tracks."""

from __future__ import annotations

import numpy as np
from export_studio import CONFIG, H, W, disk, rect, region

from samvid.export.frames import Problems, Where
from samvid.export.identity import ClipRegions, Region, parse_regions
from samvid.export.reader import FrameObject, ProjectSchema, frame_objects
from samvid.propagation import seeds_from_result
from samvid.studio.protocol import parse_config
from samvid.studio.results import brush_result, polygon_results

SCHEMA = ProjectSchema.from_config(CONFIG)
WHERE: Where = {"clip": "c", "frame": 0, "task_id": 1}


def objects_of(results: list[list[dict]], human: list[bool] | None = None
               ) -> tuple[list[list[FrameObject]], Problems]:
    """Each frame's objects of a clip whose frames hold ``results``."""
    problems = Problems()
    frames = [parse_regions(r, SCHEMA, problems) for r in results]
    identities = ClipRegions(frames, human)
    return [frame_objects(regions, identities, (H, W), problems, WHERE) for regions in frames], problems


def test_regions_sharing_an_object_id_and_label_are_one_object_as_propagation_tracks_them():
    left, right = rect(0, 0, 20, 20), rect(40, 0, 60, 20)  # a person cut in two by a pole
    result = region(left, "person", 1, "a") + region(right, "person", 1, "b")
    ([person],), problems = objects_of([result])
    assert (person.object_id, person.label) == (1, "person")
    assert np.array_equal(person.mask, left | right)
    assert not problems
    (seed,) = seeds_from_result(result, parse_config(CONFIG))
    assert np.array_equal(seed.mask, person.mask)


def test_regions_sharing_an_object_id_with_another_label_are_reported():
    car, person = disk(20, 20, 6), rect(40, 30, 60, 44)
    ([kept],), problems = objects_of([region(car, "car", 1, "a") + region(person, "person", 1, "b")])
    assert (kept.label, np.array_equal(kept.mask, car)) == ("car", True)
    assert problems.counts() == {"duplicate_object_id": 1}


def plain(label: str, region_id: str) -> Region:
    return Region(region_id, label, {}, None, 1.0, W, H)


def test_a_relabelled_propagated_region_stays_one_object_with_its_latest_annotated_class():
    # Frame 0 annotated car, 1 propagated, 2 corrected to person by the annotator, 3 a
    # prediction that still says car: the annotator's latest word is the class.
    frames = [[plain("car", "r1")], [plain("car", "r1")], [plain("person", "r1")], [plain("car", "r1")]]
    ids = ClipRegions(frames, human=[True, False, True, False])
    assert [ids.object_id(r) for (r,) in frames] == [1, 1, 1, 1]
    assert ids.label(1) == "person"
    assert ClipRegions(frames).label(1) == "car"  # no prediction among them: the latest frame


def test_frames_where_an_object_has_another_class_are_reported_as_label_changed():
    mask = disk(20, 20, 6)
    results = [region(mask, "car", region_id="r1"), region(mask, "person", region_id="r1"),
               region(mask, "person", region_id="r1")]
    frames, problems = objects_of(results, human=[True, True, False])
    assert [[(o.object_id, o.label) for o in objects] for objects in frames] == [[(1, "person")]] * 3
    assert problems.counts() == {"label_changed": 1}
    assert "is 'car' here but 'person'" in problems.items[0].message


def test_the_polygon_parts_of_a_propagated_object_are_one_object_on_every_frame():
    # Propagation writes a polygon per part, "w", "w~2", and the object id only on "w";
    # the annotator deleted the largest part on frame 2, keeping "w~2".
    left, right = rect(0, 0, 20, 20), rect(40, 0, 50, 20)  # a person cut in two by a pole

    def parts(mask: np.ndarray, object_id: int | None = None) -> list[dict]:
        polygons = polygon_results(mask, from_name="outline", to_name="image", labels=["person"],
                                   region_id="w")
        number = [{"id": "w", "from_name": "object_id", "to_name": "image", "type": "number",
                   "value": {"number": object_id}}] if object_id else []
        return polygons + number

    # Frame 0 numbered 3; frames 1-2 without a number: one object of its own (id 4).
    frames, problems = objects_of([parts(left | right, 3), parts(left | right), parts(left | right)[1:]])
    assert not problems
    assert [[(o.object_id, o.label) for o in objects] for objects in frames] == [
        [(3, "person")], [(4, "person")], [(4, "person")]]
    masks = [o.mask for (o,) in frames]
    assert [np.array_equal(m, want) for m, want in zip(masks, (left | right, left | right, right))] == [True] * 3


def test_a_brush_whose_rle_is_of_another_image_size_is_reported_as_a_size_mismatch():
    other = brush_result(np.ones((10, 10), bool), from_name="mask", to_name="image", labels=["car"])
    other["original_width"], other["original_height"] = W, H  # declared as this frame's size
    (objects,), problems = objects_of([[other]])
    assert objects == []
    assert [p.kind for p in problems.items] == ["size_mismatch"]


def test_a_malformed_region_whose_error_mentions_pixels_is_a_bad_region_not_a_size_mismatch():
    # The kind follows what went wrong, not the wording of the error.
    (poly,) = polygon_results(rect(0, 0, 20, 20), from_name="outline", to_name="image",
                              labels=["person"])
    poly["value"]["points"][0] = ["10 pixels", 5]
    (objects,), problems = objects_of([[poly]])
    assert objects == []
    assert [p.kind for p in problems.items] == ["bad_region"]


def test_a_brush_holding_run_lengths_instead_of_bytes_is_a_bad_region_not_a_size_mismatch():
    # A COCO RLE's counts pasted into Label Studio's "rle": its image sizes are right.
    counts = region(rect(10, 10, 30, 30), "car")
    counts[0]["value"]["rle"] = [490, 20, 28, 20, 28, 20, 2500]
    (objects,), problems = objects_of([counts])
    assert objects == []
    assert [p.kind for p in problems.items] == ["bad_region"]
