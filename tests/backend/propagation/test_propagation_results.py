"""What a propagated frame writes to Label Studio: one region per visible object, named as
the human named it."""

from __future__ import annotations

import numpy as np
import pytest

from samvid.propagation import ObjectSeed, frame_results, match_redrawn, seeds_from_result
from samvid.studio.protocol import MaskTarget
from samvid.studio.results import decode_brush, decode_mask, mask_region, mask_regions
from samvid.tracker.masks import FrameMasks

TARGET = MaskTarget("image", "image", False, "tag", "brushlabels", ("Car", "Person", "Dog"))


def square(x: int) -> np.ndarray:
    m = np.zeros((20, 40), bool)
    m[5:15, x : x + 10] = True
    return m


def test_each_region_carries_its_own_objects_label_when_a_stretch_tracks_only_some_objects():
    # The job knows objects 1..3; this stretch's human frames hold only 1 and 3.
    seeds = {1: ObjectSeed("1", "car", ("Car",), square(0)), 2: ObjectSeed("2", "walker", ("Person",), square(10)),
             3: ObjectSeed("3", "dog", ("Dog",), square(25))}
    fm = FrameMasks(7, (1, 3), np.stack([square(2), square(27)]), np.array([0.9, 0.7], np.float32),
                    np.array([True, True]))
    result, score = frame_results(fm, seeds, TARGET)
    by_id = {r["id"]: r for r in result}
    assert set(by_id) == {"car", "dog"}
    assert by_id["dog"]["value"]["brushlabels"] == ["Dog"]
    assert np.array_equal(decode_brush(by_id["dog"]), square(27))
    assert abs(score - 0.8) < 1e-6


def test_an_object_out_of_view_gets_no_region():
    seeds = {1: ObjectSeed("1", "car", ("Car",), square(0))}
    fm = FrameMasks(3, (1,), np.zeros((1, 20, 40), bool), np.zeros(1, np.float32), np.array([False]))
    assert frame_results(fm, seeds, TARGET) == ([], 0.0)


def test_a_regions_labels_twin_is_not_carried_onto_the_propagated_frames():
    """Label Studio saves a region drawn under the shipped configs' shared smart row twice:
    as ``brushlabels`` and as a ``labels`` twin with the same id and the same RLE. The
    twin's geometry is frame 0's, so only the per-region attributes travel."""
    region = mask_region(square(0), TARGET, ["Car"], region_id="r1")
    twin = {**region, "from_name": "smart", "type": "labels",
            "value": {**region["value"], "labels": ["Car"]}}
    twin["value"].pop("brushlabels")
    note = {"id": "r1", "from_name": "note", "to_name": "image", "type": "textarea",
            "value": {"text": ["behind the tree"]}}
    (seed,) = seeds_from_result([region, twin, note], TARGET)
    fm = FrameMasks(1, (1,), square(3)[None], np.array([0.9], np.float32), np.array([True]))
    result, _ = frame_results(fm, {1: seed}, TARGET)
    assert [(r["type"], r["from_name"]) for r in result] == [("brushlabels", "tag"), ("textarea", "note")]
    assert np.array_equal(decode_brush(result[0]), square(3))


def test_objects_of_a_mask_control_per_class_are_tracked_and_written_back_to_their_controls():
    from samvid.studio.protocol import parse_config

    target = parse_config(
        '<View><Image name="image" value="$image"/>'
        '<BrushLabels name="cars" toName="image"><Label value="Car"/></BrushLabels>'
        '<PolygonLabels name="people" toName="image"><Label value="Person"/></PolygonLabels></View>')
    car = mask_region(square(0), target, ["Car"], region_id="c1")
    (person,) = mask_regions(square(25), target, ["Person"], region_id="p1")
    assert (car["from_name"], person["from_name"], person["type"]) == ("cars", "people", "polygonlabels")
    seeds = seeds_from_result([car, person], target)
    assert [(s.key, s.labels) for s in seeds] == [("c1", ("Car",)), ("p1", ("Person",))]
    fm = FrameMasks(1, (1, 2), np.stack([square(2), square(27)]), np.array([0.9, 0.8], np.float32),
                    np.array([True, True]))
    result, _ = frame_results(fm, dict(enumerate(seeds, start=1)), target)
    assert [(r["id"], r["from_name"], r["type"]) for r in result] == [
        ("c1", "cars", "brushlabels"), ("p1", "people", "polygonlabels")]
    assert result[1]["value"]["polygonlabels"] == ["Person"]


def test_an_object_keeps_the_mask_control_it_was_drawn_with_when_two_controls_share_its_label():
    from samvid.studio.protocol import parse_config

    target = parse_config(
        '<View><Image name="image" value="$image"/>'
        '<BrushLabels name="brush" toName="image"><Label value="Car"/></BrushLabels>'
        '<PolygonLabels name="outline" toName="image"><Label value="Car"/></PolygonLabels></View>')
    (drawn,) = mask_regions(square(0), target, ["Car"], region_id="c1", control=("outline", "polygonlabels"))
    (seed,) = seeds_from_result([drawn], target)
    fm = FrameMasks(1, (1,), square(2)[None], np.array([0.9], np.float32), np.array([True]))
    result, _ = frame_results(fm, {1: seed}, target)
    assert [(r["from_name"], r["type"]) for r in result] == [("outline", "polygonlabels")]


# -- which object at one end of a bridged stretch is which at the other ----------------------


def seed(key: str, *labels: str, numbered: bool = False) -> ObjectSeed:
    return ObjectSeed(key, key, labels, square(0), numbered=numbered)


def keys(seeds: list[ObjectSeed]) -> list[str]:
    return [s.key for s in seeds]


def test_an_object_drawn_again_from_scratch_is_the_same_object_at_both_ends():
    # The annotator deleted a poor prediction and drew the car again: a new region id.
    corrected = [seed("car-redrawn", "Car"), seed("dog", "Dog")]
    before = [seed("car", "Car"), seed("dog", "Dog")]
    assert keys(match_redrawn(corrected, before)) == ["car-redrawn", "dog"]


def test_objects_of_a_label_drawn_more_than_once_stay_apart():
    corrected = [seed("a2", "Person"), seed("b2", "Person")]
    before = [seed("a", "Person"), seed("b", "Person")]
    assert keys(match_redrawn(corrected, before)) == ["a", "b"]  # nothing says which is which


def test_objects_of_another_label_or_with_object_id_numbers_are_never_matched():
    assert keys(match_redrawn([seed("c", "Car")], [seed("d", "Dog")])) == ["d"]
    numbered = [seed("3", "Car", numbered=True)]
    assert keys(match_redrawn(numbered, [seed("4", "Car", numbered=True)])) == ["4"]
    assert keys(match_redrawn([seed("car", "Car")], [seed("4", "Car", numbered=True)])) == ["4"]


def test_an_object_redrawn_with_its_labels_in_another_order_is_the_same_object():
    # Matched by its first label, a car labelled Car + Red was no Red + Car.
    assert keys(match_redrawn([seed("car2", "Red", "Car")], [seed("car", "Car", "Red")])) == ["car2"]


def test_an_object_redrawn_with_a_label_added_or_taken_off_is_the_same_object():
    assert keys(match_redrawn([seed("car2", "Occluded", "Car")], [seed("car", "Car")])) == ["car2"]
    assert keys(match_redrawn([seed("car2", "Car")], [seed("car", "Occluded", "Car")])) == ["car2"]


def test_an_object_redrawn_is_matched_to_the_one_with_its_labels_not_to_one_sharing_its_first_label():
    # Car + Red at one end; Car + Blue and Red + Car at the other: the red car is the same
    # object, the blue one another (matched by the first label, the red car became the blue).
    assert keys(match_redrawn([seed("car", "Car", "Red")], [seed("blue", "Car", "Blue"), seed("red", "Red", "Car")])) \
        == ["blue", "car"]
    assert keys(match_redrawn([seed("car", "Car", "Red")], [seed("blue", "Car", "Blue")])) == ["blue"]


def test_objects_that_each_have_a_label_the_other_lacks_are_never_matched():
    # A car that left and a person that came, both occluded: one shared label is no identity.
    assert keys(match_redrawn([seed("car", "Occluded", "Car")], [seed("person", "Occluded", "Person")])) == ["person"]


def test_two_redrawn_objects_whose_labels_agree_with_one_stay_apart():
    # Car, and Car + Red, against one Car + Red + Parked: either may be it.
    redrawn = [seed("c", "Car", "Red", "Parked")]
    assert keys(match_redrawn([seed("a", "Car"), seed("b", "Car", "Red")], redrawn)) == ["c"]
    # The very same labels are the surer pair.
    assert keys(match_redrawn([seed("a", "Car"), seed("b", "Car", "Red")], [seed("c", "Red", "Car")])) == ["b"]


# -- a polygon project: an object in several parts -------------------------------------------

POLYGONS = MaskTarget("image", "image", False, "tag", "polygonlabels", ("Car",), object_id_control="object_id")


def split_by_a_pole() -> np.ndarray:
    """A car seen in two parts: the columns 18-21 are behind a pole."""
    m = np.zeros((20, 40), bool)
    m[5:15, 4:18] = True
    m[5:15, 22:30] = True
    return m


def union(regions: list[dict]) -> np.ndarray:
    return np.any([decode_mask(r) for r in regions], axis=0)


def test_a_polygon_project_writes_every_part_of_an_object():
    number = {"id": "car", "from_name": "object_id", "to_name": "image", "type": "number",
              "value": {"number": 7}}
    seeds = {1: ObjectSeed("7", "car", ("Car",), split_by_a_pole(), [number], numbered=True)}
    fm = FrameMasks(4, (1,), split_by_a_pole()[None], np.array([0.9], np.float32), np.array([True]))
    result, _ = frame_results(fm, seeds, POLYGONS)
    polygons = [r for r in result if r["type"] == "polygonlabels"]
    assert [r["id"] for r in polygons] == ["car", "car~2"]  # the largest part keeps the id
    assert np.array_equal(union(polygons), split_by_a_pole())
    assert [r for r in result if r["type"] == "number"] == [{**number, "origin": "prediction"}]


def test_the_parts_of_an_accepted_propagated_frame_are_one_object():
    seeds = {1: ObjectSeed("car", "car", ("Car",), split_by_a_pole())}
    fm = FrameMasks(4, (1,), split_by_a_pole()[None], np.array([0.9], np.float32), np.array([True]))
    accepted, _ = frame_results(fm, seeds, POLYGONS)  # the annotator accepts the frame as it is
    (seed,) = seeds_from_result(accepted, POLYGONS)
    assert (seed.key, seed.region_id) == ("car", "car")
    assert np.array_equal(seed.mask, split_by_a_pole())


def test_a_region_over_the_backends_pixel_limit_is_skipped_and_a_raised_limit_reads_it():
    # The limit is SAMVID_MAX_IMAGE_PIXELS (the propagator passes its image source's): a
    # region claiming a larger image is not decoded, as such an image would not be; a user
    # who raised the limit for large images gets their masks tracked.
    region = mask_region(square(0), TARGET, ["Car"], region_id="r1")  # a 40x20 image
    assert seeds_from_result([region], TARGET, max_pixels=799) == []
    (seed,) = seeds_from_result([region], TARGET, max_pixels=800)
    assert np.array_equal(seed.mask, square(0))


def test_a_frame_task_without_the_configs_image_key_is_named_not_a_bare_key_error():
    # A config whose image reads $image over tasks imported with "img" (or a hand-made
    # frame task): the job failed with the error "'image'", logged as a bug of samvid's.
    import pytest

    from samvid.errors import ImageError
    from samvid.images import ImageSource
    from samvid.propagation import TaskFrames
    from samvid.settings import Settings
    from samvid.studio.client import Studio, Task
    from samvid.tracker.engines import make_engine

    settings = Settings.from_env({"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "x"})
    tasks = [Task(7, {"clip": "c", "frame": 0, "img": "/f0.png"}), Task(8, {"clip": "c", "frame": 1, "img": "/f1.png"})]
    frames = TaskFrames(tasks, ImageSource.from_settings(settings), "image", Studio(settings.label_studio_url, "x"))
    with pytest.raises(ImageError, match=r"task 7 has no 'image' in its data"):
        make_engine("flow").init_state(frames)


def test_a_frame_opened_whose_image_cannot_be_read_gets_no_copy_of_the_human_frames_masks(tmp_path):
    # The walk ends on the human frame then: its masks were written on the opened frame,
    # score 1, as if tracked.
    from PIL import Image

    from samvid.images import ImageSource
    from samvid.propagation import Propagator
    from samvid.settings import Settings
    from samvid.studio.client import Studio

    Image.fromarray(np.full((20, 40, 3), 128, np.uint8)).save(tmp_path / "f0.png")
    (tmp_path / "f1.png").write_bytes(b"not a png")
    settings = Settings.from_env({"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "x"},
                                 local_roots=(tmp_path,))
    rows = [{"id": 1, "data": {"clip": "c", "frame": 0, "image": str(tmp_path / "f0.png")}, "total_annotations": 1},
            {"id": 2, "data": {"clip": "c", "frame": 1, "image": str(tmp_path / "f1.png")}, "total_annotations": 0}]
    propagator = Propagator(Studio(settings.label_studio_url, "x"), ImageSource.from_settings(settings))
    propagator.clip_tasks = lambda project, clip, waited_for=False: rows
    propagator.latest_annotation = lambda task_id: [mask_region(square(5), TARGET, ["Car"], region_id="r1")]
    propagator.locks.ensure_reachable = lambda: None
    assert propagator.on_demand(1, rows[1], TARGET, "flow") is None
    # The same pair with the opened frame readable is tracked.
    Image.fromarray(np.full((20, 40, 3), 128, np.uint8)).save(tmp_path / "f1.png")
    found = propagator.on_demand(1, rows[1], TARGET, "flow")
    assert found is not None and found[0]


def _dot(i: int) -> dict:
    """Object ``i`` as a one-pixel region of its own."""
    m = np.zeros((20, 40), bool)
    m[i % 20, i // 20] = True
    return mask_region(m, TARGET, ["Car"], region_id=f"o{i}")


ONE_LABEL = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
             '<Label value="Car"/></BrushLabels></View>')


def _clip_with_objects(human: dict[int, list[dict]], frames: int, config: str = ONE_LABEL):
    """A Propagator over a clip of ``frames`` frames in memory whose human frames hold the
    given regions (task id = frame + 1), its project's label config ``config``."""
    from samvid.images import ImageSource
    from samvid.propagation import Propagator
    from samvid.settings import Settings
    from samvid.studio.client import Studio

    settings = Settings.from_env({"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "x"})
    studio = Studio(settings.label_studio_url, "x")
    studio.request = lambda method, path, what, **kwargs: {"label_config": config}
    propagator = Propagator(studio, ImageSource.from_settings(settings))
    propagator.clip_tasks = lambda project, clip, waited_for=False: [
        {"id": 1 + f, "data": {"clip": "c", "frame": f, "image": f"/f{f}.png"}, "total_annotations": int(f in human)}
        for f in range(frames)]
    propagator.latest_annotation = lambda task_id: human[task_id - 1]
    return propagator


def test_a_job_refuses_more_objects_than_its_limit_counting_those_of_the_human_frame_it_bridges_to():
    # Counted on the job's own frame only, 60 objects there and 60 others on the next human
    # frame made a bridged job of 120 objects, past the limit meant to bound its memory.
    import pytest

    from samvid.errors import BadRequest
    from samvid.propagation import MAX_OBJECTS, PropagationRequest

    half = MAX_OBJECTS * 3 // 5
    propagator = _clip_with_objects({0: [_dot(i) for i in range(half)], 3: [_dot(i) for i in range(half, 2 * half)]}, 4)
    with pytest.raises(BadRequest, match=f"at most {MAX_OBJECTS}"):
        propagator.run(PropagationRequest(1, "c", 0, bridge=True), None)


def test_a_bridged_job_takes_as_many_objects_as_each_of_its_stretches_tracks_within_the_limit(monkeypatch):
    # Human frames 0, 3 and 6 with 40 objects each: each stretch tracks 80, under the limit.
    # Counted over the whole job, the submit of frame 3 was refused for 120.
    import samvid.propagation.propagator as propagation
    from samvid.propagation import PropagationRequest

    propagator = _clip_with_objects({f: [_dot(i) for i in range(40 * k, 40 * k + 40)]
                                     for k, f in enumerate((0, 3, 6))}, 7)
    tracked = []
    monkeypatch.setattr(propagation, "track_stretch",
                        lambda new, frames, first, last, **kwargs: tracked.append(len({*first, *last})) or iter(()))
    monkeypatch.setattr(propagator, "_span", lambda walk, target, all_frames: ([0] * len(walk), {}))

    class Context:
        def progress(self, *args): pass
        def note(self, *args): pass
        def cancelled(self): return False

    propagator.run(PropagationRequest(1, "c", 3, bridge=True), Context())
    assert sorted(tracked) == [80, 80]


def test_a_frame_every_object_left_next_to_more_objects_than_a_job_tracks_clears_the_frames_after_it():
    # Bridged, its job was refused with advice to name 'objects', which a frame with no
    # object refuses: nothing could clear the stale masks after it.
    from samvid.propagation import MAX_OBJECTS, PropagationRequest

    notes: list[str] = []
    result, written, _ = _propagated_in_memory({0: [_dot(i) for i in range(MAX_OBJECTS + 1)], 5: []}, 8,
                                               PropagationRequest(1, "c", 5, engine="copy", bridge=True), notes=notes)
    assert result == {"frames_written": 0, "frames_empty": 2}
    assert sorted(written) == [6, 7]  # as without bridging: the frames before it are left
    assert f"over the {MAX_OBJECTS} objects" in notes[-1]


def test_a_frame_every_object_left_before_more_objects_than_a_job_tracks_is_done_as_without_bridging():
    # The crowded human frame after it: the frames between are cleared, as a forward job
    # without bridging clears them; with direction both, the frames before it too.
    from samvid.propagation import MAX_OBJECTS, PropagationRequest

    human = {5: [], 9: [_dot(i) for i in range(MAX_OBJECTS + 1)]}
    for direction, cleared in (("forward", [6, 7, 8]), ("both", [0, 1, 2, 3, 4, 6, 7, 8])):
        notes: list[str] = []
        result, written, _ = _propagated_in_memory(human, 10, PropagationRequest(
            1, "c", 5, direction, engine="copy", bridge=True), notes=notes)
        assert sorted(written) == cleared and result == {"frames_written": 0, "frames_empty": len(cleared)}
        assert "not tracked from human frame(s) 9" in notes[-1]


def test_a_frame_every_object_left_says_which_frames_towards_a_crowded_human_frame_it_left_as_they_were():
    # Done as without bridging, the frames towards the crowded frame that the direction does
    # not take keep samvid's earlier masks: the note read the same as where they were cleared.
    from samvid.propagation import MAX_OBJECTS, PropagationRequest

    many = [_dot(i) for i in range(MAX_OBJECTS + 1)]
    for human, frames, direction, left in (({0: many, 5: []}, 8, "forward", "the 4 frame(s) between this frame "
                                             "and human frame(s) 0 are left as they were (a forward job"),
                                            ({5: [], 9: many}, 10, "backward", "the 3 frame(s) between this frame "
                                             "and human frame(s) 9 are left as they were (a backward job")):
        notes: list[str] = []
        _propagated_in_memory(human, frames, PropagationRequest(1, "c", 5, direction, engine="copy", bridge=True),
                              notes=notes)
        assert left in notes[-1]
        notes.clear()
        _propagated_in_memory(human, frames, PropagationRequest(1, "c", 5, "both", engine="copy", bridge=True),
                              notes=notes)
        assert "left as they were" not in notes[-1], "cleared with direction both"


def _car() -> np.ndarray:
    m = np.zeros((20, 40), bool)
    m[5:12, 5:15] = True
    return m


def _propagated_in_memory(human: dict[int, list[dict]], frames: int, req, unreadable: int | None = None,
                          notes: list[str] | None = None,
                          config: str = ONE_LABEL) -> tuple[dict, dict[int, list[dict]], list]:
    """``req`` run on a clip of ``frames`` flat frames in memory (human frames and
    ``config`` as in ``_clip_with_objects``; the image of frame ``unreadable`` one the
    tracker cannot read): the job's result, the prediction written on each frame, and the
    progress reports. The job's notes go to ``notes``."""
    propagator = _clip_with_objects(human, frames, config)
    images = [np.zeros((5, 5, 3), np.uint8) if k == unreadable else np.full((20, 40, 3), 100, np.uint8)
              for k in range(frames)]
    propagator._span = lambda walk, target, all_frames: (images[: len(walk)], {i: t["id"] for i, t in enumerate(walk)})
    propagator.annotated_now = lambda task_id: task_id - 1 in human
    written: dict[int, list[dict]] = {}
    propagator.studio.replace_predictions = lambda task_id, prefix, result, *args, **kwargs: written.update(
        {task_id - 1: result})
    propagator.studio.own_predictions = lambda task_id, prefix: []  # a job for some objects keeps the others'
    reports: list[tuple[int, int]] = []

    class Context:
        def progress(self, done, total, fps): reports.append((done, total))
        def note(self, text): (notes if notes is not None else []).append(text)
        def cancelled(self): return False

    return propagator.run(req, Context()), written, reports


def test_a_bridged_job_towards_a_human_frame_every_object_left_draws_no_object_next_to_that_frame():
    # Read as an open end, the empty human frame was tracked to: the car was drawn at full
    # score right up to the frame where the annotator said it had left the view.
    from samvid.propagation import PropagationRequest

    car = [mask_region(_car(), TARGET, ["Car"], region_id="car")]
    for human, frame in (({0: car, 6: []}, 0), ({0: [], 6: car}, 6)):
        result, written, reports = _propagated_in_memory(human, 7, PropagationRequest(1, "c", frame, engine="copy",
                                                                                      bridge=True))
        next_to_car, next_to_empty = (1, 5) if frame == 0 else (5, 1)
        assert written[next_to_empty] == [], "the frame next to the one every object left"
        assert written[next_to_car] != [], "the frame next to the one with the car"
        assert sorted(written) == [1, 2, 3, 4, 5]
        assert result["frames_written"] + result["frames_empty"] == 5 and result["frames_empty"] >= 1
        steps, (_, total) = reports[:-1], reports[-1]
        assert len(steps) == total == 7, "one walk, from the end with the car"


def test_a_bridged_job_towards_a_human_frame_whose_regions_are_no_readable_mask_tracks_right_up_to_it():
    # A smart click whose mask never came back is no "every object left": nothing is known there.
    from samvid.propagation import PropagationRequest

    click = {"id": "k1", "from_name": "kp", "to_name": "image", "type": "keypointlabels",
             "original_width": 40, "original_height": 20,
             "value": {"x": 50.0, "y": 50.0, "width": 1.0, "keypointlabels": ["Car"]}}
    car = [mask_region(_car(), TARGET, ["Car"], region_id="car")]
    result, written, _ = _propagated_in_memory({0: car, 6: [click]}, 7,
                                               PropagationRequest(1, "c", 0, engine="copy", bridge=True))
    assert result["frames_written"] == 5 and all(written[k] != [] for k in range(1, 6))


def _van() -> np.ndarray:
    m = np.zeros((20, 40), bool)
    m[14:19, 30:38] = True
    return m


def _click(region_id: str) -> dict:
    """A smart click whose mask never came back: a region samvid cannot read."""
    return {"id": region_id, "from_name": "kp", "to_name": "image", "type": "keypointlabels",
            "original_width": 40, "original_height": 20,
            "value": {"x": 25.0, "y": 40.0, "width": 1.0, "keypointlabels": ["Car"]}}


def _has(result: list[dict], region_id: str) -> bool:
    return any(r.get("id") == region_id for r in result)


def test_a_bridged_job_for_some_objects_matches_an_object_redrawn_on_the_other_human_frame():
    # Chosen before it was matched, the car redrawn there (a new region id) was no object
    # the request named: the far end read as "the car left", the car faded out towards it.
    from samvid.propagation import PropagationRequest

    human = {0: [mask_region(_car(), TARGET, ["Car"], region_id="car")],
             6: [mask_region(_car(), TARGET, ["Car"], region_id="car2")]}
    result, written, _ = _propagated_in_memory(human, 7, PropagationRequest(1, "c", 0, engine="copy", bridge=True,
                                                                            objects=("car",)))
    assert result == {"frames_written": 5, "frames_empty": 0}
    assert all(_has(written[k], "car") for k in range(1, 6))


def test_a_bridged_job_for_some_objects_tracks_right_up_to_a_human_frame_where_they_are_unreadable():
    # Frame 6 holds the van and the car as a smart click: nothing says the car left. Nor is
    # the van, new there, the car redrawn: the click may be.
    from samvid.propagation import PropagationRequest
    from samvid.studio.results import decode_mask

    car = mask_region(_car(), TARGET, ["Car"], region_id="car")
    van = mask_region(_van(), TARGET, ["Car"], region_id="van")
    for human in ({0: [car, van], 6: [van, _click("k9")]}, {0: [car], 6: [van, _click("k9")]}):
        result, written, _ = _propagated_in_memory(human, 7, PropagationRequest(
            1, "c", 0, engine="copy", bridge=True, objects=("car",)))
        assert result == {"frames_written": 5, "frames_empty": 0}
        masks = [decode_mask(next(r for r in written[k] if r["id"] == "car" and "brushlabels" in r["value"]))
                 for k in range(1, 6)]
        assert all(np.array_equal(m, _car()) for m in masks), "the car where it was drawn, not the van"



def test_a_bridged_job_tracks_an_object_right_up_to_a_human_frame_where_a_region_of_its_label_is_unreadable():
    # Frame 6 holds the van and the car as a smart click. Submitted with no 'objects' (as a
    # webhook does), frame 6 read as "the car left": it faded out halfway, while a job naming
    # the car tracked it up to frame 6. A click of another label says nothing of the car.
    from samvid.propagation import PropagationRequest

    car = mask_region(_car(), TARGET, ["Car"], region_id="car")
    van = mask_region(_van(), TARGET, ["Car"], region_id="van")
    person = {**_click("k9"), "value": {**_click("k9")["value"], "keypointlabels": ["Person"]}}
    for click, car_on in ((_click("k9"), [1, 2, 3, 4, 5]), (person, [1, 2, 3])):
        for objects in ((), ("car",)):
            _, written, _ = _propagated_in_memory({0: [car, van], 6: [van, click]}, 7, PropagationRequest(
                1, "c", 0, engine="copy", bridge=True, objects=objects))
            assert [k for k in sorted(written) if _has(written[k], "car")] == car_on, (click, objects)


def test_an_object_deleted_on_the_submitted_frame_beside_a_broken_click_has_left_there():
    # The submitted frame is the annotator's latest word: a click whose mask never came back
    # beside it made the deleted car "unknown" there, tracked right up to it from frame 6.
    from samvid.propagation import PropagationRequest

    car = mask_region(_car(), TARGET, ["Car"], region_id="car")
    van = mask_region(_van(), TARGET, ["Car"], region_id="van")
    _, written, _ = _propagated_in_memory({0: [van, _click("k9")], 6: [car, van]}, 7, PropagationRequest(
        1, "c", 0, engine="copy", bridge=True))
    assert [k for k in sorted(written) if _has(written[k], "car")] == [4, 5]


def test_a_bridged_job_from_a_frame_every_object_left_writes_each_object_as_the_human_frame_it_is_tracked_from():
    # The car on frames 0 and 9 (one object id) with other notes: the frames before frame 5,
    # tracked from frame 0, got frame 9's note.
    from samvid.propagation import PropagationRequest

    def noted(text: str) -> list[dict]:
        return [mask_region(_car(), TARGET, ["Car"], region_id="car"),
                {"id": "car", "from_name": "state", "to_name": "image", "type": "textarea", "value": {"text": [text]}}]

    _, written, _ = _propagated_in_memory({0: noted("parked"), 5: [], 9: noted("driving")}, 11,
                                          PropagationRequest(1, "c", 5, engine="copy", bridge=True))
    notes = {k: [r["value"]["text"] for r in result if r["type"] == "textarea"] for k, result in written.items()}
    assert notes[1] == [["parked"]] and notes[8] == [["driving"]]
    assert all(notes[k] in ([], [["parked"]]) for k in range(1, 5))
    assert all(notes[k] in ([], [["driving"]]) for k in range(6, 9))


def test_an_object_is_not_matched_to_one_redrawn_where_a_region_of_its_label_is_unreadable():
    def seed(key: str, label: str) -> ObjectSeed:
        return ObjectSeed(key, key, (label,), np.ones((2, 2), bool))

    redrawn = [seed("van", "Car"), seed("dog2", "Dog")]
    assert [s.key for s in match_redrawn([seed("car", "Car"), seed("dog", "Dog")], redrawn, [{"Car"}])] == ["van", "dog"]
    assert [s.key for s in match_redrawn([seed("car", "Car")], redrawn, [set()])] == ["van", "dog2"]


def test_a_bridged_job_from_a_frame_every_object_left_tracks_the_stretches_to_human_frames_with_objects():
    # The usual order: the car propagated from frame 0, then frame 6 submitted empty (the car
    # left). Its job planned nothing before it: the car stayed at full score up to frame 6.
    from samvid.propagation import PropagationRequest

    car = [mask_region(_car(), TARGET, ["Car"], region_id="car")]
    for human, frame, next_to_car, next_to_empty in (({0: car, 6: []}, 6, 1, 5), ({0: [], 6: car}, 0, 5, 1)):
        notes: list[str] = []
        result, written, reports = _propagated_in_memory(
            human, 7, PropagationRequest(1, "c", frame, engine="copy", bridge=True), notes=notes)
        assert sorted(written) == [1, 2, 3, 4, 5]
        assert _has(written[next_to_car], "car") and written[next_to_empty] == []
        assert result["frames_written"] + result["frames_empty"] == 5 and result["frames_empty"] >= 1
        assert notes == [f"frame {frame} has no objects (every one left the view): 5 frame(s) tracked again from "
                         "the human frame(s) beyond them, the objects fading out towards this one"]
        assert reports[-1] == (7, 7), "one walk, from the end with the car"


def test_a_bridged_job_from_a_frame_every_object_left_clears_a_stretch_with_no_object_and_tracks_the_other():
    from samvid.propagation import PropagationRequest

    car = [mask_region(_car(), TARGET, ["Car"], region_id="car")]
    notes: list[str] = []
    result, written, _ = _propagated_in_memory(
        {0: car, 4: [], 8: []}, 9, PropagationRequest(1, "c", 4, engine="copy", bridge=True), notes=notes)
    assert sorted(written) == [1, 2, 3, 5, 6, 7] and all(written[k] == [] for k in (3, 5, 6, 7))
    assert _has(written[1], "car")
    assert notes == ["frame 4 has no objects (every one left the view): samvid's masks removed from the 3 "
                     "frame(s) it bounds; 3 frame(s) tracked again from the human frame(s) beyond them, the "
                     "objects fading out towards this one"]
    assert result["frames_written"] + result["frames_empty"] == 6


def test_a_job_from_a_frame_every_object_left_without_bridging_clears_up_to_the_next_human_frame_only():
    from samvid.propagation import PropagationRequest

    car = [mask_region(_car(), TARGET, ["Car"], region_id="car")]
    notes: list[str] = []
    result, written, _ = _propagated_in_memory({0: car, 4: [], 8: car}, 9,
                                               PropagationRequest(1, "c", 4, engine="copy"), notes=notes)
    assert result == {"frames_written": 0, "frames_empty": 3} and sorted(written) == [5, 6, 7]
    assert notes == ["frame 4 has no objects (every one left the view): samvid's masks removed from the 3 "
                     "frame(s) it bounds"]


def test_a_bridged_job_towards_a_human_frame_samvid_cannot_read_counts_the_frames_it_passed_over():
    # Reached, that human frame read as one annotated meanwhile (a cut): the frame passed over
    # before it went unsaid; and its own unreadable image was counted as one passed over.
    from samvid.propagation import PropagationRequest

    human = {0: [mask_region(_car(), TARGET, ["Car"], region_id="car")], 6: [_click("k1")]}
    req = PropagationRequest(1, "c", 0, engine="copy", bridge=True)
    assert _propagated_in_memory(human, 7, req, unreadable=3)[0] == {"frames_written": 4, "frames_empty": 0,
                                                                     "frames_skipped": 1}
    result, written, _ = _propagated_in_memory(human, 7, req, unreadable=6)
    assert result == {"frames_written": 5, "frames_empty": 0} and 6 not in written


def test_a_region_with_several_labels_is_written_with_all_of_them_on_the_tracked_frames():
    from samvid.propagation import PropagationRequest

    car = [mask_region(_car(), TARGET, ["Car", "Red"], region_id="car")]
    _, written, _ = _propagated_in_memory({0: car}, 4, PropagationRequest(1, "c", 0, engine="copy"))
    assert [r["value"]["brushlabels"] for k in (1, 2, 3) for r in written[k]] == [["Car", "Red"]] * 3


def test_a_bridged_stretch_to_an_object_redrawn_with_its_labels_in_another_order_keeps_it_on_every_frame():
    # Matched by the first label, the two were different objects, each fading out towards
    # the other's frame: the car's name and labels changed halfway.
    from samvid.propagation import PropagationRequest

    human = {0: [mask_region(_car(), TARGET, ["Car", "Red"], region_id="car")],
             6: [mask_region(_car(), TARGET, ["Red", "Car"], region_id="car2")]}
    _, written, _ = _propagated_in_memory(human, 7, PropagationRequest(1, "c", 6, engine="copy", bridge=True))
    assert [[(r["id"], r["value"]["brushlabels"]) for r in written[k]] for k in range(1, 6)] == \
        [[("car2", ["Red", "Car"])]] * 5


def test_an_unreadable_click_with_one_of_an_objects_labels_may_be_it_so_the_object_is_tracked_up_to_it():
    # The click is labelled Red: it may be the car (Car + Red), which was read as having left
    # there, Red not being the car's first label.
    from samvid.propagation import PropagationRequest

    car = mask_region(_car(), TARGET, ["Car", "Red"], region_id="car")
    van = mask_region(_van(), TARGET, ["Person"], region_id="van")
    click = {**_click("k9"), "value": {**_click("k9")["value"], "keypointlabels": ["Red"]}}
    _, written, _ = _propagated_in_memory({0: [car, van], 6: [van, click]}, 7, PropagationRequest(
        1, "c", 0, engine="copy", bridge=True))
    assert [k for k in sorted(written) if _has(written[k], "car")] == [1, 2, 3, 4, 5]


# -- object-id numbers (a Number, else meta.object_id) and region ids, as the export reads them --

NUMBERED = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
            '<Label value="Car"/><Label value="Person"/></BrushLabels>'
            '<Number name="object_id" toName="image" perRegion="true" min="1"/></View>')


def _numbered(mask: np.ndarray, label: str, region_id: str, number: int | None = None,
              meta: dict | None = None) -> list[dict]:
    """A brush region of ``NUMBERED``, with its object-id Number and its ``meta`` when given."""
    region = {**mask_region(mask, TARGET, [label], region_id=region_id), **({"meta": meta} if meta else {})}
    return [region] + ([{"id": region_id, "from_name": "object_id", "to_name": "image", "type": "number",
                         "value": {"number": number}}] if number is not None else [])


def _ids(result: list[dict]) -> set[str]:
    return {r["id"] for r in result}


def test_a_bridged_job_keeps_object_3_apart_from_a_region_whose_id_is_3_at_the_other_end():
    # Read as one object (both "3"), the region at frame 6 was written as object 3, its Number
    # and region id, on the frames before it.
    from samvid.propagation import PropagationRequest

    human = {0: _numbered(square(0), "Car", "a", number=3), 6: _numbered(square(25), "Car", "3")}
    _, written, _ = _propagated_in_memory(human, 7, PropagationRequest(1, "c", 0, engine="copy", bridge=True),
                                          config=NUMBERED)
    assert (_ids(written[1]), _ids(written[5])) == ({"a"}, {"3"})
    assert [r["type"] for r in written[5]] == ["brushlabels"]  # no object-id Number


def test_a_job_for_object_3_or_for_region_3_propagates_that_one_alone():
    from samvid.propagation import PropagationRequest

    frame = _numbered(square(0), "Car", "a", number=3) + _numbered(square(25), "Person", "3")
    for objects, region_id in (((3,), "a"), (("3",), "3")):
        _, written, _ = _propagated_in_memory({0: frame}, 3, PropagationRequest(1, "c", 0, engine="copy",
                                                                                objects=objects), config=NUMBERED)
        assert [_ids(written[k]) for k in (1, 2)] == [{region_id}] * 2, objects


def test_a_queued_job_naming_object_3_as_the_string_3_still_propagates_it_where_no_region_is_3():
    # Jobs queued before numbers and region ids were kept apart name object 3 "3".
    from samvid.propagation import PropagationRequest

    frame = _numbered(square(0), "Car", "a", number=3) + _numbered(square(25), "Person", "b", number=4)
    queued = PropagationRequest(1, "c", 0, engine="copy", objects=("3",)).to_payload()
    _, written, _ = _propagated_in_memory({0: frame}, 3, PropagationRequest.from_payload(queued), config=NUMBERED)
    assert [_ids(written[k]) for k in (1, 2)] == [{"a"}] * 2


def test_a_bridged_job_takes_regions_of_one_meta_object_id_at_both_ends_as_one_object():
    # An imported clip: each frame's region has an id of its own, meta.object_id says which
    # object it is. Read by region id, object 5 faded out towards frame 6 while "z" faded in.
    from samvid.propagation import PropagationRequest

    human = {0: _numbered(square(0), "Car", "a", meta={"object_id": 5}) + _numbered(square(25), "Person", "p"),
             6: _numbered(square(2), "Car", "z", meta={"object_id": 5}) + _numbered(square(20), "Car", "q")}
    _, written, _ = _propagated_in_memory(human, 7, PropagationRequest(1, "c", 0, engine="copy", bridge=True),
                                          config=NUMBERED)
    for k in range(1, 6):
        (car,) = [r for r in written[k] if r["value"]["brushlabels"] == ["Car"] and r["id"] != "q"]
        assert (car["id"], car["meta"]) == ("a", {"object_id": 5}), k


def _unnamed(mask: np.ndarray, label: str) -> dict:
    """A region of ``NUMBERED`` saved without an id, as imported JSON may give it."""
    (region,) = _numbered(mask, label, "x")
    return {k: v for k, v in region.items() if k != "id"}


def test_regions_saved_without_ids_at_the_two_ends_of_a_stretch_are_not_paired_by_their_place():
    # Both ends' first unnamed region was "r0", one object: the person's mask went out as the car.
    from samvid.propagation import PropagationRequest

    human = {0: [_unnamed(square(0), "Car"), _unnamed(square(25), "Person")],
             6: [_unnamed(square(26), "Person"), _unnamed(square(1), "Car")]}
    _, written, _ = _propagated_in_memory(human, 7, PropagationRequest(1, "c", 0, engine="copy", bridge=True),
                                          config=NUMBERED)
    for k in range(1, 6):
        for r in written[k]:
            left = int(np.argwhere(decode_mask(r, 10**7))[:, 1].min())
            assert r["value"]["brushlabels"] == (["Car"] if left < 10 else ["Person"]), (k, left)


@pytest.mark.parametrize("given", [0, "five", 2.5])
def test_a_meta_object_id_that_is_no_number_leaves_the_region_its_own_object_on_every_frame(given):
    # Taken for a number from meta, the job failed (int("a")), or wrote object 7 for region "7".
    from samvid.propagation import PropagationRequest

    for region_id in ("a", "7"):
        frame = _numbered(square(0), "Car", region_id, meta={"object_id": given})
        _, written, _ = _propagated_in_memory({0: frame}, 3, PropagationRequest(1, "c", 0, engine="copy"),
                                              config=NUMBERED)
        assert [[(r["id"], r.get("meta")) for r in written[k]] for k in (1, 2)] == [[(region_id, None)]] * 2
