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
from samvid.propagation import ObjectSeed, PropagationRequest, Propagator, frame_results, seeds_from_result
from samvid.studio.client import Studio
from samvid.studio.protocol import parse_config
from samvid.studio.results import mask_regions
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
