"""A smart keypoint in a real Label Studio comes back as samvid's mask."""

from __future__ import annotations

import numpy as np
import pytest
import requests
from ls_requests import BRUSH_CONFIG, keypoint, rectangle, write_png
from services import ServedApp

from samvid.app import create_app
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.settings import Settings
from samvid.studio.results import decode_brush

pytestmark = pytest.mark.studio


@pytest.fixture
def frame_task(label_studio):
    """A project with the brush config and one 97x61 frame served by Label Studio."""
    client = label_studio.client()
    project = client.projects.create(title="interactive", label_config=BRUSH_CONFIG)
    folder = label_studio.files_root / f"interactive{project.id}"
    folder.mkdir()
    write_png(folder / "frame 0.png", 97, 61)
    resp = requests.post(
        f"{label_studio.url}/api/storages/localfiles",
        headers=label_studio.headers,
        json={"project": project.id, "path": str(folder), "title": "frames", "use_blob_urls": False},
        timeout=30,
    )
    assert resp.status_code == 201, resp.text
    task = client.tasks.create(
        project=project.id, data={"image": f"/data/local-files/?d={folder.name}/frame%200.png"}
    )
    return project, task


@pytest.fixture
def backend(label_studio):
    # No local roots: the image must be fetched from Label Studio with the token.
    settings = Settings.from_env(
        {}, model="standin", label_studio_url=label_studio.url,
        label_studio_api_key=label_studio.token, precompute_on_open=False,
    )
    predictor = Predictor.from_settings(settings, segmenter=StandInSegmenter(radius=8))
    with ServedApp(create_app(settings, predictor)) as served:
        yield served


def _connect(label_studio, project, backend) -> int:
    resp = requests.post(
        f"{label_studio.url}/api/ml",
        headers=label_studio.headers,
        json={"url": backend.url, "project": project.id, "is_interactive": True, "title": "samvid"},
        timeout=30,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["model_version"].startswith("samvid-track:")  # /setup's: what the labeling stream shows
    return resp.json()["id"]


def _interactive(label_studio, ml_id, task_id, items):
    resp = requests.post(
        f"{label_studio.url}/api/ml/{ml_id}/interactive-annotating",
        headers=label_studio.headers,
        json={"task": task_id, "context": {"result": items}},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def test_smart_keypoint_through_label_studio_returns_the_mask(label_studio, frame_task, backend):
    project, task = frame_task
    ml_id = _connect(label_studio, project, backend)
    data = _interactive(label_studio, ml_id, task.id, [keypoint(40.5, 30.5, 97, 61, label="Person")])
    (region,) = data["result"]
    assert region["type"] == "brushlabels" and region["value"]["brushlabels"] == ["Person"]
    assert (region["original_width"], region["original_height"]) == (97, 61)
    mask = decode_brush(region)
    ys, xs = np.nonzero(mask)
    assert mask.sum() == pytest.approx(np.pi * 8**2, rel=0.1)
    assert (xs.mean() + 0.5, ys.mean() + 0.5) == pytest.approx((40.5, 30.5), abs=0.5)


def test_smart_rectangle_through_label_studio_fills_the_box(label_studio, frame_task, backend):
    project, task = frame_task
    ml_id = _connect(label_studio, project, backend)
    data = _interactive(label_studio, ml_id, task.id, [rectangle(10, 5, 50, 45, 97, 61)])
    mask = decode_brush(data["result"][0])
    expected = np.zeros((61, 97), bool)
    expected[5:45, 10:50] = True
    np.testing.assert_array_equal(mask, expected)


def test_one_brush_control_per_class_through_label_studio_puts_each_mask_in_its_labels(
    label_studio, frame_task, backend
):
    """A config with a <BrushLabels> per class, which Label Studio accepts: a click with
    the second class's label is answered in that class's control, and Label Studio keeps
    it there once saved."""
    project, task = frame_task
    client = label_studio.client()
    config = BRUSH_CONFIG.replace(
        '<BrushLabels name="tag" toName="image"><Label value="Car"/><Label value="Person"/></BrushLabels>',
        '<BrushLabels name="cars" toName="image"><Label value="Car"/></BrushLabels>'
        '<BrushLabels name="people" toName="image"><Label value="Person"/></BrushLabels>',
    )
    assert "people" in config
    client.projects.update(id=project.id, label_config=config)
    ml_id = _connect(label_studio, project, backend)
    data = _interactive(label_studio, ml_id, task.id, [keypoint(40.5, 30.5, 97, 61, label="Person")])
    (region,) = data["result"]
    assert region["from_name"] == "people" and region["value"]["brushlabels"] == ["Person"]
    client.annotations.create(id=task.id, result=[region])
    (saved,) = client.annotations.list(id=task.id)
    (kept,) = saved.result
    assert kept["from_name"] == "people"
    np.testing.assert_array_equal(decode_brush(kept), decode_brush(region))
