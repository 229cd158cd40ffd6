"""Which object of the clip a human frame's region is to propagation, as the export reads it
(``export.identity``): its object-id number (its Number, else its meta.object_id), else its
region id, the two kept apart; and the frames propagation writes, counted in /metrics."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

from samvid.errors import BadRequest
from samvid.propagation import PropagationRequest, frame_results, seeds_from_result
from samvid.studio.protocol import parse_config
from samvid.studio.results import brush_result
from samvid.tracker.masks import FrameMasks

CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
          '<Label value="Car"/><Label value="Person"/></BrushLabels>'
          '<Number name="object_id" toName="image" perRegion="true" min="1"/></View>')
TARGET = parse_config(CONFIG)
BASE = {"project": 3, "clip": "walk", "frame": 5}


def square(x: int) -> np.ndarray:
    m = np.zeros((20, 40), bool)
    m[5:15, x : x + 10] = True
    return m


def drawn(mask: np.ndarray, labels: list[str], region_id: str, number: object = None,
          meta: dict | None = None) -> list[dict]:
    """A brush region, with its object-id Number when ``number`` is given and its ``meta``."""
    region = brush_result(mask, from_name="tag", to_name="image", labels=labels, region_id=region_id)
    if meta is not None:
        region["meta"] = meta
    if number is None:
        return [region]
    return [region, {"id": region_id, "from_name": "object_id", "to_name": "image", "type": "number",
                     "value": {"number": number}}]


# -- object-id numbers and region ids are two namespaces ------------------------------------


def test_object_3_and_a_region_whose_id_is_3_are_two_objects():
    # Imported JSON may give a region any id: "3" read as object 3 united two objects' masks.
    seeds = seeds_from_result(drawn(square(0), ["Car"], "a", number=3) + drawn(square(25), ["Car"], "3"), TARGET)
    assert [(s.identity, s.region_id) for s in seeds] == [((True, "3"), "a"), ((False, "3"), "3")]
    assert [np.array_equal(s.mask, m) for s, m in zip(seeds, (square(0), square(25)))] == [True, True]


def test_a_request_keeps_object_3_and_region_3_apart_through_its_job_payload():
    req = PropagationRequest.from_payload({**BASE, "objects": [3, "3", 4.0]})
    assert req.objects == (3, "3", 4)
    queued = json.loads(json.dumps(req.to_payload()))  # as the job waits in Redis
    assert queued["objects"] == [3, "3", 4]
    assert PropagationRequest.from_payload(queued) == req


@pytest.mark.parametrize("objects", [[0], [-2], [2.5]])
def test_an_object_number_below_1_or_with_a_fraction_is_refused_at_once(objects):
    # No object-id number is one: the job would fail only once it ran.
    with pytest.raises(BadRequest, match="whole numbers from 1"):
        PropagationRequest.from_payload({**BASE, "objects": objects})


def test_a_region_saved_without_an_id_is_an_object_of_its_own_whatever_the_other_regions_ids():
    # Named "r0" by propagation, it was united with the region whose id is "r0".
    (anonymous, other) = ({k: v for k, v in region.items() if k != "id"}
                          for (region,) in (drawn(square(0), ["Car"], "x"), drawn(square(12), ["Car"], "y")))
    seeds = seeds_from_result([anonymous, *drawn(square(25), ["Car"], "r0"), other], TARGET)
    assert [int(s.mask.sum()) for s in seeds] == [100] * 3
    assert len({s.identity for s in seeds}) == 3


# -- meta.object_id, as the export reads it --------------------------------------------------


def test_regions_sharing_a_meta_object_id_are_one_object():
    (seed,) = seeds_from_result(drawn(square(0), ["Car"], "a", meta={"object_id": 5})
                                + drawn(square(25), ["Car"], "b", meta={"object_id": "5"}), TARGET)
    assert (seed.identity, seed.region_id) == ((True, "5"), "a")
    assert np.array_equal(seed.mask, square(0) | square(25))


def test_a_regions_number_is_its_object_id_before_its_meta_object_id():
    (seed,) = seeds_from_result(drawn(square(0), ["Car"], "a", number=2, meta={"object_id": 5}), TARGET)
    assert seed.identity == (True, "2")


def test_a_region_without_an_id_is_the_object_of_its_meta_object_id():
    region = {k: v for k, v in drawn(square(0), ["Car"], "x", meta={"object_id": 6})[0].items() if k != "id"}
    (seed,) = seeds_from_result(drawn(square(25), ["Car"], "b", number=6) + [region], TARGET)
    assert seed.identity == (True, "6")
    assert np.array_equal(seed.mask, square(0) | square(25))


@pytest.mark.parametrize("given", [0, -1, 2.5, "five", "", None, [3], True])
def test_an_object_id_that_is_no_whole_number_from_1_leaves_the_region_its_own_object(given):
    for result in (drawn(square(0), ["Car"], "a", meta={"object_id": given}),
                   drawn(square(0), ["Car"], "a", number=given)):
        (seed,) = seeds_from_result(result, TARGET)
        assert seed.identity == (False, "a")


def test_the_frames_propagated_from_a_meta_object_id_carry_it_for_the_export():
    # Without it, the export read the propagated frames' region as another object than
    # the human frame's (its region id, not object 5).
    (seed,) = seeds_from_result(drawn(square(0), ["Car"], "a", meta={"object_id": 5}), TARGET)
    fm = FrameMasks(1, (1,), square(2)[None], np.array([0.9], np.float32), np.array([True]))
    (region,), _ = frame_results(fm, {1: seed}, TARGET)
    assert (region["id"], region["meta"]) == ("a", {"object_id": 5})
    (again,) = seeds_from_result([region], TARGET)  # the frame accepted: the same object
    assert again.identity == seed.identity


# -- a part with no pixels -------------------------------------------------------------------


def test_a_part_erased_to_nothing_lends_its_label_to_its_objects_unlabelled_part():
    empty = np.zeros((20, 40), bool)
    (seed,) = seeds_from_result(drawn(empty, ["Person"], "a", number=4) + drawn(square(25), [], "b", number=4),
                                TARGET)
    assert (seed.identity, seed.labels) == ((True, "4"), ("Person",))
    assert np.array_equal(seed.mask, square(25))


def test_an_object_whose_parts_have_no_pixels_is_no_object():
    empty = np.zeros((20, 40), bool)
    assert seeds_from_result(drawn(empty, ["Person"], "a", number=4) + drawn(empty, [], "b", number=4),
                             TARGET) == []


def test_an_empty_part_of_another_image_size_adds_nothing_to_its_object():
    (small,) = drawn(np.zeros((10, 10), bool), ["Person"], "a", meta={"object_id": 4})
    (seed,) = seeds_from_result([small, *drawn(square(25), ["Person"], "b", number=4)], TARGET)
    assert np.array_equal(seed.mask, square(25))


# -- frames filled as an annotator opens them are counted ------------------------------------


def test_a_frame_filled_on_open_counts_in_the_frames_propagated():
    from samvid.images import ImageSource
    from samvid.metrics import frames_propagated_here
    from samvid.propagation import OnOpen, Propagator
    from samvid.settings import Settings
    from samvid.studio.client import Studio

    settings = Settings.from_env({"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "x"})
    propagator = Propagator(Studio(settings.label_studio_url, "x"), ImageSource.from_settings(settings))
    source = drawn(square(0), ["Car"], "a")
    propagator.on_demand = lambda project, task, target, engine: OnOpen(source, 0.9, 1, source)
    propagator.latest_annotation = lambda task_id: source
    propagator.annotated_now = lambda task_id: False
    propagator.locks.hold = lambda task_id: contextlib.nullcontext()
    stored: list[dict] = []  # samvid's predictions on the frame, as Label Studio holds them
    propagator.studio.own_predictions = lambda task_id, prefix: list(stored)
    propagator.studio.delete_prediction = lambda prediction_id: stored.clear()
    before = frames_propagated_here()
    answer = propagator.answer_on_open(1, {"id": 2}, TARGET, "flow")
    assert answer is not None and answer.result == source
    assert frames_propagated_here() == before + 1
    stored.append({"id": 7, **answer.as_json()})  # Label Studio stores the answer
    # Opened again from a task read before that: its masks are answered again, not computed.
    again = propagator.answer_on_open(1, {"id": 2}, TARGET, "flow")
    assert again is not None and again.copied and again.as_json() == answer.as_json()
    stored.append({"id": 8, **answer.as_json()})
    assert frames_propagated_here() == before + 1


def test_a_region_whose_id_is_0_is_named_and_keeps_its_number():
    # 0 is an id (the export reads it so): taken for none, its Number was lost.
    (region, number) = drawn(square(0), ["Car"], "x", number=7)
    (seed,) = seeds_from_result([{**region, "id": 0}, {**number, "id": 0}], TARGET)
    assert (seed.identity, seed.region_id) == ((True, "7"), "0")


# -- a mask control on two images --------------------------------------------------------------

TWO_IMAGES = ('<View><Image name="a" value="$a"/><Image name="b" value="$b"/>'
              '<BrushLabels name="paint" toName="a,b"><Label value="Car"/><Label value="Person"/></BrushLabels>'
              '</View>')


def test_a_region_drawn_on_the_other_image_of_a_mask_control_is_no_object_of_this_one():
    # Read on image a, the person drawn on b was tracked on a's frames as one of a's objects.
    on_a, on_b = parse_config(TWO_IMAGES, "a"), parse_config(TWO_IMAGES, "b")
    result = [brush_result(square(0), from_name="paint", to_name="a", labels=["Car"], region_id="car"),
              brush_result(square(25), from_name="paint", to_name="b", labels=["Person"], region_id="p")]
    assert [s.region_id for s in seeds_from_result(result, on_a)] == ["car"]
    assert [s.region_id for s in seeds_from_result(result, on_b)] == ["p"]


def test_a_region_naming_an_image_the_config_no_longer_has_is_read_on_the_tracked_image():
    # An image renamed since the frame was annotated: read where the export reads it.
    renamed = {**brush_result(square(0), from_name="tag", to_name="picture", labels=["Car"], region_id="a")}
    assert [s.region_id for s in seeds_from_result([renamed], TARGET)] == ["a"]


def test_a_region_saved_without_an_id_and_the_frames_propagated_from_it_export_as_one_object():
    # Propagation names it from its JSON and writes that id on the frames it fills; the export
    # numbered it by its place ("#1 (no id)"): the keyframe was object 1, every filled frame 2.
    from test_propagation_results import NUMBERED, _numbered, _propagated_in_memory

    from samvid.export.frames import Problems
    from samvid.export.identity import ClipRegions, parse_regions
    from samvid.export.reader import ProjectSchema

    unnamed = [{k: v for k, v in r.items() if k != "id"}
               for r in (*_numbered(square(0), "Car", "x"), *_numbered(square(25), "Person", "y"))]
    _, written, _ = _propagated_in_memory({0: unnamed}, 4, PropagationRequest(1, "c", 0, engine="copy"),
                                          config=NUMBERED)
    schema, problems = ProjectSchema.from_config(NUMBERED), Problems()
    frames = [parse_regions(result, schema, problems) for result in (unnamed, *(written[k] for k in (1, 2, 3)))]
    clip = ClipRegions(frames, [True, False, False, False])
    assert [sorted((clip.object_id(r), r.label) for r in regions) for regions in frames] == [
        [(1, "Car"), (2, "Person")]] * 4
    assert not problems
