"""Per-region attributes (labeling_configs/attributes.xml) in a real Label Studio: the
config is accepted, and the object id, the attribute choices and the note of a region
reach every frame the region is propagated to, under the same region id."""

from __future__ import annotations

import numpy as np
import pytest
import requests
from clips import import_clip, iou, predictions

from samvid.images import ImageSource
from samvid.propagation import PropagationRequest, Propagator
from samvid.studio.client import Studio
from samvid.studio.configs import load_config
from samvid.studio.protocol import parse_config
from samvid.studio.results import brush_result, decode_brush

pytestmark = pytest.mark.studio


class Quiet:
    def progress(self, frames_done: int, frames_total: int, fps: float) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def cancelled(self) -> bool:
        return False


def extras(region_id: str) -> list[dict]:
    """What Label Studio saves for a region's per-region controls."""
    common = {"id": region_id, "to_name": "image", "original_width": 256,
              "original_height": 192, "image_rotation": 0}
    return [
        {**common, "from_name": "object_id", "type": "number", "value": {"number": 7}},
        {**common, "from_name": "attributes", "type": "choices",
         "value": {"choices": ["occluded", "truncated"]}},
        {**common, "from_name": "note", "type": "textarea", "value": {"text": ["behind the pole"]}},
    ]


def test_the_config_names_its_mask_and_object_id_controls():
    config = load_config("attributes")
    target = parse_config(config.render(["car", "person"]))
    assert (target.mask_control, target.object_id_control) == ("mask", "object_id")
    assert target.labels == ("car", "person")
    assert "image" in config.data_keys


def test_attributes_survive_propagation(label_studio):
    config = load_config("attributes").render(["car"])
    clip = import_clip(label_studio, config, name="attributes", n=4)
    region = brush_result(clip.masks[0], from_name="mask", to_name="image", labels=["car"],
                          region_id="walker")
    region.pop("origin")
    resp = requests.post(f"{label_studio.url}/api/tasks/{clip.task_ids[0]}/annotations",
                         headers=label_studio.headers, timeout=30,
                         json={"result": [region, *extras("walker")]})
    resp.raise_for_status()
    saved = {r["from_name"]: r["value"] for r in resp.json()["result"]}
    assert saved["attributes"] == {"choices": ["occluded", "truncated"]}  # LS kept them

    studio = Studio(label_studio.url, label_studio.token)
    propagator = Propagator(studio, ImageSource(label_studio.url, label_studio.token,
                                                local_roots=(label_studio.files_root,)))
    result = propagator.run(PropagationRequest(clip.project, "attributes", 0), Quiet())
    assert result["frames_written"] == 3
    for i, task_id in enumerate(clip.task_ids[1:], start=1):
        (pred,) = predictions(label_studio, task_id)
        by_control = {r["from_name"]: r for r in pred["result"]}
        assert set(by_control) == {"mask", "object_id", "attributes", "note"}
        assert all(r["id"] == "walker" for r in pred["result"])
        assert by_control["object_id"]["value"] == {"number": 7}
        assert by_control["attributes"]["value"] == {"choices": ["occluded", "truncated"]}
        assert by_control["note"]["value"] == {"text": ["behind the pole"]}
        assert iou(decode_brush(by_control["mask"]), clip.masks[i]) > 0.5, f"frame {i}"


def test_regions_sharing_an_object_id_are_propagated_as_one_object(label_studio):
    config = load_config("attributes").render(["car"])
    clip = import_clip(label_studio, config, name="parts", n=3)
    left, right = clip.masks[0].copy(), clip.masks[0].copy()
    middle = int(np.nonzero(left)[1].mean())  # the object's middle column
    left[:, middle:], right[:, :middle] = False, False  # one object drawn as two regions
    result = []
    for region_id, part in (("left", left), ("right", right)):
        region = brush_result(part, from_name="mask", to_name="image", labels=["car"], region_id=region_id)
        region.pop("origin")
        result += [region, extras(region_id)[0]]  # the region and its object id, 7 for both
    requests.post(f"{label_studio.url}/api/tasks/{clip.task_ids[0]}/annotations", headers=label_studio.headers,
                  timeout=30, json={"result": result}).raise_for_status()
    studio = Studio(label_studio.url, label_studio.token)
    propagator = Propagator(studio, ImageSource(label_studio.url, label_studio.token,
                                                local_roots=(label_studio.files_root,)))
    propagator.run(PropagationRequest(clip.project, "parts", 0, engine="copy"), Quiet())
    (pred,) = predictions(label_studio, clip.task_ids[1])
    (mask,) = [r for r in pred["result"] if r["from_name"] == "mask"]
    assert mask["id"] == "left" and (decode_brush(mask) == clip.masks[0]).all()
