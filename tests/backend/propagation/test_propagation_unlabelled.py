"""A mask region saved without a label (painted before any label was picked). With several
mask labels in the config nothing says which it is: propagation tracks it unlabelled and
writes it so (an empty label list; in the separate-control form, the geometry alone), which
Label Studio keeps. With one mask label it is that label (``results.read_labels``, as the
export reads it)."""

from __future__ import annotations

import numpy as np
import pytest
import requests
from clips import import_clip, iou, predictions
from test_attributes import Quiet

from samvid.images import ImageSource
from samvid.propagation import (
    ObjectSeed,
    PropagationRequest,
    Propagator,
    frame_results,
    match_redrawn,
    seeds_from_result,
)
from samvid.propagation.stretches import objects_by_number
from samvid.studio.client import Studio
from samvid.studio.protocol import parse_config
from samvid.studio.results import brush_result, mask_region, mask_regions
from samvid.tracker.masks import FrameMasks

LABELLED = """<View>
  <Image name="image" value="$image"/>
  <BrushLabels name="tag" toName="image"><Label value="Car"/><Label value="Person"/></BrushLabels>
</View>"""
SEPARATE = """<View>
  <Image name="image" value="$image"/>
  <Brush name="brush" toName="image"/>
  <Labels name="labels" toName="image"><Label value="Car"/><Label value="Person"/></Labels>
</View>"""


def square() -> np.ndarray:
    mask = np.zeros((10, 12), bool)
    mask[2:6, 3:9] = True
    return mask


def unlabelled(config: str, mask: np.ndarray, region_id: str = "u1") -> list[dict]:
    """A region painted without a label as Label Studio saves it: an empty label list, or
    (a plain <Brush>) the geometry without a "labels" twin."""
    regions = mask_regions(mask, parse_config(config), [], region_id=region_id)
    return [{k: v for k, v in r.items() if k != "origin"} for r in regions]


@pytest.mark.parametrize("config", [LABELLED, SEPARATE], ids=["labelled", "separate"])
def test_an_unlabelled_region_seeds_an_unlabelled_object_when_the_config_has_several_labels(config: str) -> None:
    (seed,) = seeds_from_result(unlabelled(config, square()), parse_config(config))
    assert (seed.key, seed.labels) == ("u1", ())
    assert np.array_equal(seed.mask, square())


@pytest.mark.parametrize("config", [LABELLED, SEPARATE], ids=["labelled", "separate"])
def test_an_unlabelled_region_is_the_only_mask_label_of_its_config(config: str) -> None:
    one = config.replace('<Label value="Person"/>', "")
    (seed,) = seeds_from_result(unlabelled(one, square()), parse_config(one))
    assert seed.labels == ("Car",)


def test_an_unlabelled_object_is_written_without_a_label() -> None:
    fm = FrameMasks(0, (1,), square()[None], np.array([0.9]), np.array([True]))
    for config, control, written in ((LABELLED, ("tag", "brushlabels"), [("brushlabels", "tag", [])]),
                                     (SEPARATE, ("brush", "brushlabels"), [("brush", "brush", None)])):
        seed = ObjectSeed("u1", "u1", (), square(), [], False, control)
        result, score = frame_results(fm, {1: seed}, parse_config(config))
        assert [(r["type"], r["from_name"], r["value"].get("brushlabels")) for r in result] == written
        assert score == pytest.approx(0.9)


@pytest.mark.studio
@pytest.mark.parametrize("config", [LABELLED, SEPARATE], ids=["labelled", "separate"])
def test_label_studio_keeps_propagated_unlabelled_regions_unlabelled(label_studio, config: str) -> None:
    clip = import_clip(label_studio, config, name=f"unlabelled {len(config)}", n=3)
    requests.post(f"{label_studio.url}/api/tasks/{clip.task_ids[0]}/annotations", headers=label_studio.headers,
                  timeout=30, json={"result": unlabelled(config, clip.masks[0])}).raise_for_status()
    images = ImageSource(label_studio.url, label_studio.token, local_roots=(label_studio.files_root,))
    Propagator(Studio(label_studio.url, label_studio.token), images).run(
        PropagationRequest(clip.project, clip.name, 0, engine="copy"), Quiet())
    target = parse_config(config)
    for task_id in clip.task_ids[1:]:
        (pred,) = predictions(label_studio, task_id)
        stored = pred["result"]
        assert [r["type"] for r in stored] == [target.mask_type if config == LABELLED else "brush"]
        assert stored[0]["value"].get("brushlabels", []) == [] and "labels" not in stored[0]["value"]
        (seed,) = seeds_from_result(stored, target)
        assert seed.labels == ()
        assert iou(seed.mask, clip.masks[0]) > 0.95  # the copy engine keeps the mask


def seed(key: str, *labels: str) -> ObjectSeed:
    return ObjectSeed(key, key, labels, square())


def test_an_unlabelled_object_is_not_matched_to_a_new_labelled_object_across_a_stretch() -> None:
    # B (unlabelled) left; z is a new person: tracked as one, the stretch went from B to z.
    assert [s.key for s in match_redrawn([seed("B")], [seed("z", "Person")])] == ["z"]
    assert [s.key for s in match_redrawn([seed("z", "Person")], [seed("B")])] == ["B"]


def test_an_unlabelled_object_does_not_keep_a_redrawn_object_from_its_pair() -> None:
    # A redrawn as y; an unrelated unlabelled u beside it made the pairing ambiguous.
    assert [s.key for s in match_redrawn([seed("A", "Person", "occluded")], [seed("y", "Person"), seed("u")])] \
        == ["A", "u"]


def test_an_unlabelled_object_redrawn_unlabelled_is_still_the_same_object() -> None:
    assert [s.key for s in match_redrawn([seed("u1")], [seed("u2")])] == ["u1"]


def test_an_unreadable_region_without_a_label_still_may_be_any_object() -> None:
    assert [s.key for s in match_redrawn([seed("car", "Car")], [seed("van", "Car")], [frozenset()])] == ["van"]


@pytest.mark.parametrize("order", [(0, 1), (1, 0)], ids=["unlabelled-first", "labelled-first"])
def test_parts_of_one_object_seed_it_with_the_labels_of_every_part(order: tuple[int, int]) -> None:
    target = parse_config(LABELLED.replace("<BrushLabels", '<BrushLabels choice="multiple"')
                          .replace('<Label value="Person"/>', '<Label value="Person"/><Label value="occluded"/>'))
    top, bottom = np.zeros((10, 12), bool), np.zeros((10, 12), bool)
    top[0:3], bottom[6:9] = True, True
    parts = [mask_regions(top, target, [], region_id="a")[0],
             mask_regions(bottom, target, ["occluded", "Person"], region_id="a~2")[0]]
    (whole,) = seeds_from_result([parts[k] for k in order], target)
    assert whole.labels == ("occluded", "Person")  # as the labelled part has them
    assert np.array_equal(whole.mask, top | bottom)
    person = mask_regions(top, target, ["Person"], region_id="b")[0]
    (both,) = seeds_from_result([person, {**parts[1], "id": "b~2"}], target)
    assert both.labels == ("Person", "occluded")  # united in the config's order
    car = mask_regions(top, target, ["Car"], region_id="c")[0]
    (first,) = seeds_from_result([car, {**parts[1], "id": "c~2"}], target)
    assert first.labels == ("Car",)  # two classes: the first part's, as the export keeps it


def test_an_object_unlabelled_on_the_job_frame_is_written_with_the_labels_of_the_frame_that_labels_it() -> None:
    # Tracked from frame 0 (unlabelled) towards frame 6 (labelled Car): the stretch between
    # was written unlabelled, a class nobody chose in place of the one the annotator gave.
    from test_propagation_results import TARGET, _car, _propagated_in_memory

    bare = mask_region(_car(), TARGET, [], region_id="car")
    car = mask_region(_car(), TARGET, ["Car"], region_id="car")
    for human, frame in (({0: [bare], 6: [car]}, 0), ({0: [car], 6: [bare]}, 6)):
        _, written, _ = _propagated_in_memory(human, 7, PropagationRequest(1, "c", frame, engine="copy", bridge=True),
                                              config=LABELLED)
        assert sorted(written) == [1, 2, 3, 4, 5]
        assert all([r["value"]["brushlabels"] for r in written[k]] == [["Car"]] for k in written), (frame, written)


def test_a_region_on_another_image_is_no_unreadable_region_of_this_one() -> None:
    # A click on another <Image> of the config made frame 6 "unknown": the car was tracked
    # right up to it instead of fading out where the annotator said it had left.
    from test_propagation_results import TARGET, _car, _click, _propagated_in_memory

    two_images = ('<View><Image name="image" value="$image"/><Image name="other" value="$other"/>'
                  '<BrushLabels name="tag" toName="image"><Label value="Car"/></BrushLabels></View>')
    car = mask_region(_car(), TARGET, ["Car"], region_id="car")
    elsewhere = {**_click("k1"), "to_name": "other"}
    _, written, _ = _propagated_in_memory({0: [car], 6: [elsewhere]}, 7,
                                          PropagationRequest(1, "c", 0, engine="copy", bridge=True),
                                          config=two_images)
    assert written[5] == [] and written[1] != []
    _, written, _ = _propagated_in_memory({0: [car], 6: [_click("k1")]}, 7,
                                          PropagationRequest(1, "c", 0, engine="copy", bridge=True))
    assert written[5] != [], "a click on this image may be the car: tracked right up to it"


def test_parts_of_one_class_unite_their_labels_and_parts_of_two_classes_keep_the_first() -> None:
    # As the export reads them: the class is the first label in the config's order.
    target = parse_config(LABELLED.replace("<BrushLabels", '<BrushLabels choice="multiple"')
                          .replace('<Label value="Person"/>', '<Label value="Person"/><Label value="occluded"/>'))
    top, bottom = np.zeros((10, 12), bool), np.zeros((10, 12), bool)
    top[0:3], bottom[6:9] = True, True

    def parts(first: list[str], second: list[str]) -> tuple[str, ...]:
        (seed,) = seeds_from_result([mask_regions(top, target, first, region_id="a")[0],
                                     mask_regions(bottom, target, second, region_id="a~2")[0]], target)
        return seed.labels

    assert parts(["Car", "occluded"], ["Car", "Person"]) == ("Car", "Person", "occluded")  # both Car
    assert parts(["occluded"], ["Car", "occluded"]) == ("occluded",)  # an occluded thing, then a Car


PER_CLASS = """<View>
  <Image name="image" value="$image"/>
  <BrushLabels name="cars" toName="image"><Label value="Car"/></BrushLabels>
  <BrushLabels name="people" toName="image"><Label value="Person"/></BrushLabels>
  <Number name="object_id" toName="image" perRegion="true"/>
</View>"""


def test_an_unlabelled_object_takes_the_control_with_the_label_it_takes() -> None:
    # A control per class: the label taken from another part (or end) was written into the
    # unlabelled one's control, which does not hold it.
    target = parse_config(PER_CLASS)

    def drawn(row: int, control: str, labels: list[str], region_id: str) -> list[dict]:
        mask = np.zeros((20, 20), bool)
        mask[row, 2:8] = True
        return [brush_result(mask, from_name=control, to_name="image", labels=labels, region_id=region_id),
                {"id": region_id, "type": "number", "from_name": "object_id", "to_name": "image",
                 "value": {"number": 3}}]

    (whole,) = seeds_from_result(drawn(0, "people", [], "a") + drawn(5, "cars", ["Car"], "b"), target)
    assert (whole.labels, whole.control) == (("Car",), ("cars", "brushlabels"))
    job, other = seeds_from_result(drawn(0, "people", [], "a"), target), seeds_from_result(drawn(0, "cars", ["Car"], "b"), target)
    named = objects_by_number({0: job, 6: other}, {job[0].identity: 1}, [0, 6])
    assert (named[1].labels, named[1].control) == (("Car",), ("cars", "brushlabels"))
