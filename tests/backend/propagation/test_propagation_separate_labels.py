"""Propagation in a separate-control project (a plain <Brush> plus a <Labels>), against the
real Label Studio: a region the annotator painted is read with its label from its "labels"
twin, and the propagated frames get regions in the same form (geometry plus twin, one id),
which Label Studio stores and gives back with their labels."""

from __future__ import annotations

import numpy as np
import pytest
import requests
from clips import import_clip, iou, predictions
from label_configs import SEPARATE
from test_attributes import Quiet

from samvid.images import ImageSource
from samvid.propagation import ObjectSeed, PropagationRequest, Propagator, frame_results, seeds_from_result
from samvid.studio.client import Studio
from samvid.studio.protocol import parse_config
from samvid.studio.results import decode_mask, joined_labels, mask_regions
from samvid.tracker.masks import FrameMasks


def painted(mask: np.ndarray, label: str, region_id: str) -> list[dict]:
    """The results Label Studio's editor saves for a region painted with <Brush> after picking
    ``label`` in <Labels>: the brush, then a labels twin with the same id and geometry."""
    rle = mask_regions(mask, parse_config(SEPARATE), [label])[0]["value"]["rle"]
    size = {"original_width": mask.shape[1], "original_height": mask.shape[0], "image_rotation": 0,
            "to_name": "image", "origin": "manual", "id": region_id}
    return [{**size, "from_name": "brush", "type": "brush", "value": {"format": "rle", "rle": rle}},
            {**size, "from_name": "labels", "type": "labels",
             "value": {"format": "rle", "rle": rle, "labels": [label]}}]


def test_a_painted_region_seeds_its_object_with_the_label_of_its_twin() -> None:
    mask = np.zeros((10, 12), bool)
    mask[2:6, 3:9] = True
    (seed,) = seeds_from_result(painted(mask, "Person", "Zq1"), parse_config(SEPARATE))
    assert (seed.key, seed.labels, seed.control, seed.extras) == ("Zq1", ("Person",), ("brush", "brushlabels"), [])
    assert np.array_equal(seed.mask, mask)


def test_a_propagated_frame_is_written_as_brush_and_labels_twin() -> None:
    mask = np.zeros((10, 12), bool)
    mask[2:6, 3:9] = True
    seed = ObjectSeed("Zq1", "Zq1", ("Person",), mask, [], False, ("brush", "brushlabels"))
    fm = FrameMasks(0, (1,), mask[None], np.array([0.9]), np.array([True]))
    result, _ = frame_results(fm, {1: seed}, parse_config(SEPARATE))
    assert [(r["id"], r["type"], r["from_name"]) for r in result] == [
        ("Zq1", "brush", "brush"), ("Zq1", "labels", "labels")]
    assert result[1]["value"]["labels"] == ["Person"]


@pytest.mark.studio
def test_label_studio_keeps_propagated_separate_control_regions_with_their_labels(label_studio) -> None:
    clip = import_clip(label_studio, SEPARATE, name="separate labels", n=3)
    requests.post(f"{label_studio.url}/api/tasks/{clip.task_ids[0]}/annotations", headers=label_studio.headers,
                  timeout=30, json={"result": painted(clip.masks[0], "Person", "Zq1")}).raise_for_status()
    images = ImageSource(label_studio.url, label_studio.token, local_roots=(label_studio.files_root,))
    Propagator(Studio(label_studio.url, label_studio.token), images).run(
        PropagationRequest(clip.project, clip.name, 0, engine="copy"), Quiet())
    for task_id in clip.task_ids[1:]:
        (pred,) = predictions(label_studio, task_id)
        stored = pred["result"]
        assert [(r["id"], r["type"], r["from_name"]) for r in stored] == [
            ("Zq1", "brush", "brush"), ("Zq1", "labels", "labels")]
        assert stored[1]["value"]["labels"] == ["Person"]
        (region,) = joined_labels(stored)
        assert region["value"]["brushlabels"] == ["Person"]
        assert iou(decode_mask(region), clip.masks[0]) > 0.95  # the copy engine keeps the mask


def test_a_polygon_drawn_beside_a_brush_seeds_its_object_and_is_written_in_its_control() -> None:
    config = SEPARATE.replace("<KeyPoint", '<Polygon name="outline" toName="image"/><KeyPoint')
    target = parse_config(config)
    mask = np.zeros((10, 12), bool)
    mask[2:6, 3:9] = True
    drawn = mask_regions(mask, target, ["Car"], region_id="P1", control=("outline", "polygonlabels"))
    (seed,) = seeds_from_result(drawn, target)
    assert (seed.key, seed.labels, seed.control) == ("P1", ("Car",), ("outline", "polygonlabels"))
    fm = FrameMasks(0, (1,), mask[None], np.array([0.9]), np.array([True]))
    result, _ = frame_results(fm, {1: seed}, target)
    assert [(r["id"], r["type"], r["from_name"]) for r in result] == [
        ("P1", "polygon", "outline"), ("P1", "labels", "labels")]


def test_a_region_labelled_in_two_labels_rows_seeds_its_object_with_both_labels() -> None:
    config = SEPARATE.replace("<KeyPoint", '<Labels name="state" toName="image"><Label value="parked"/>'
                                           '</Labels><KeyPoint')
    mask = np.zeros((10, 12), bool)
    mask[2:6, 3:9] = True
    geometry, twin = painted(mask, "Car", "Zq1")
    state = {**twin, "from_name": "state", "value": {**twin["value"], "labels": ["parked"]}}
    (seed,) = seeds_from_result([geometry, state, twin], parse_config(config))
    assert seed.labels == ("parked", "Car")  # as Label Studio saved them: in the order applied
