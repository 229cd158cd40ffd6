"""A VideoRectangle drawn on one frame of a video task comes back tracked over the video."""

from __future__ import annotations

import numpy as np
import pytest
from clips import disk_clip, write_video

from samvid.errors import ConfigError
from samvid.studio.configs import load_config
from samvid.studio.video import parse_video_config

N = 12


@pytest.fixture
def video(images):
    """The moving textured disk of the propagation tests, as an H.264 file."""
    frames, masks = disk_clip(N, step=3)
    return write_video(images / "disk.mp4", frames), masks


def _box_percent(mask):
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return xs.min() / w * 100, ys.min() / h * 100, (xs.max() + 1 - xs.min()) / w * 100, (ys.max() + 1 - ys.min()) / h * 100


def test_a_drawn_box_is_tracked_through_the_following_frames(client, video):
    path, masks = video
    x, y, w, h = _box_percent(masks[0])
    item = {"id": "car1", "type": "videorectangle", "from_name": "box", "to_name": "video", "origin": "manual",
            "value": {"framesCount": N, "duration": N / 25, "labels": ["Object"],
                      "sequence": [{"frame": 1, "enabled": True, "rotation": 0, "x": x, "y": y,
                                    "width": w, "height": h, "time": 0}]}}
    body = {"tasks": [{"id": 1, "data": {"video": str(path), "fps": 25}}],
            "label_config": load_config("video_boxes").render(["Object"]),
            "params": {"context": {"result": [item]}}}
    resp = client.post("/predict", json=body)
    assert resp.status_code == 200, resp.get_json()
    (region,) = resp.get_json()["results"][0]["result"]
    assert region["type"] == "videorectangle" and region["id"] == "car1"
    sequence = region["value"]["sequence"]
    assert [k["frame"] for k in sequence] == list(range(1, N + 1))
    for key, mask in zip(sequence, masks):
        gx, gy, gw, gh = _box_percent(mask)
        # within 2 % of the frame (5 px) of the true box on every frame
        assert abs(key["x"] - gx) < 2 and abs(key["y"] - gy) < 2.7, key["frame"]
        assert abs(key["width"] - gw) < 2 and abs(key["height"] - gh) < 2.7, key["frame"]


def test_a_keyframe_outside_the_video_is_a_400(client, video):
    path, _ = video
    item = {"id": "b", "type": "videorectangle", "value": {"sequence": [
        {"frame": 999, "x": 1, "y": 1, "width": 5, "height": 5}]}}
    body = {"tasks": [{"id": 1, "data": {"video": str(path)}}],
            "label_config": load_config("video_boxes").render(["Object"]),
            "params": {"context": {"result": [item]}}}
    assert client.post("/predict", json=body).status_code == 400


def test_a_box_drawn_outside_the_frame_is_a_400_saying_so(client, video):
    path, _ = video
    item = {"id": "b", "type": "videorectangle", "value": {"sequence": [
        {"frame": 1, "x": 120, "y": 10, "width": 5, "height": 5}]}}  # x at 120 % of the width
    body = {"tasks": [{"id": 1, "data": {"video": str(path)}}],
            "label_config": load_config("video_boxes").render(["Object"]),
            "params": {"context": {"result": [item]}}}
    resp = client.post("/predict", json=body)
    assert resp.status_code == 400 and "outside the" in resp.get_json()["error"]


@pytest.mark.parametrize("engine", ["copy", "rigid-preview"])
def test_the_box_is_tracked_with_the_configured_engine_and_the_answer_names_it(images, video, engine):
    from samvid.app import create_app
    from samvid.models.standin import StandInSegmenter
    from samvid.predictor import Predictor
    from samvid.settings import Settings

    settings = Settings.from_env({"SAMVID_TRACKER": engine}, model="standin", local_roots=(images,),
                                 precompute_on_open=False)
    assert settings.tracker == engine
    client = create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter())).test_client()
    path, masks = video
    x, y, w, h = _box_percent(masks[0])
    item = {"id": "car1", "type": "videorectangle", "from_name": "box", "to_name": "video",
            "value": {"labels": ["Object"], "sequence": [{"frame": 1, "enabled": True, "x": x, "y": y,
                                                          "width": w, "height": h, "time": 0}]}}
    body = {"tasks": [{"id": 1, "data": {"video": str(path), "fps": 25}}],
            "label_config": load_config("video_boxes").render(["Object"]),
            "params": {"context": {"result": [item]}}}
    (entry,) = client.post("/predict", json=body).get_json()["results"]
    assert entry["model_version"] == f"samvid-track:{engine}"
    xs = [key["x"] for key in entry["result"][0]["value"]["sequence"]]
    if engine == "copy":  # the first frame's mask on every frame: the box never moves
        assert max(xs) - min(xs) < 1e-6
    else:  # a tracker follows the disk as it moves right
        assert xs[-1] - xs[0] > abs(_box_percent(masks[-1])[0] - x) / 2


def test_a_video_config_that_is_not_xml_or_lacks_a_video_rectangle_is_refused_with_what_to_fix():
    with pytest.raises(ConfigError, match="not valid XML"):
        parse_video_config("<View><Video name='v'")
    with pytest.raises(ConfigError, match="VideoRectangle"):
        parse_video_config("<View><Video name='v' value='$video'/></View>")
    with pytest.raises(ConfigError, match="string of XML"):
        parse_video_config({"View": []})


def test_a_box_smaller_than_a_pixel_is_tracked_from_the_pixels_it_touches(client, video):
    path, masks = video
    h, w = masks[0].shape
    x, y = 20.6, 20.6  # 0.8 px square between pixel centres: rounds to nothing
    item = {"id": "dot", "type": "videorectangle", "value": {"sequence": [
        {"frame": 1, "x": x / w * 100, "y": y / h * 100, "width": 0.8 / w * 100, "height": 0.8 / h * 100}]}}
    body = {"tasks": [{"id": 1, "data": {"video": str(path)}}],
            "label_config": load_config("video_boxes").render(["Object"]),
            "params": {"context": {"result": [item]}}}
    resp = client.post("/predict", json=body)
    assert resp.status_code == 200, resp.get_json()
    first = resp.get_json()["results"][0]["result"][0]["value"]["sequence"][0]
    assert first["frame"] == 1 and first["width"] > 0 and first["height"] > 0


def test_two_boxes_drawn_without_region_ids_come_back_as_two_regions(client, video):
    path, masks = video
    x, y, w, h = _box_percent(masks[0])
    drawn = [(x, y), (70.0, 70.0)]  # the disk, and a patch of background
    items = [{"type": "videorectangle", "from_name": "box", "to_name": "video", "value": {"labels": ["Object"],
              "sequence": [{"frame": 1, "x": bx, "y": by, "width": w, "height": h}]}} for bx, by in drawn]
    body = {"tasks": [{"id": 1, "data": {"video": str(path)}}],
            "label_config": load_config("video_boxes").render(["Object"]),
            "params": {"context": {"result": items}}}
    resp = client.post("/predict", json=body)
    assert resp.status_code == 200, resp.get_json()
    regions = resp.get_json()["results"][0]["result"]
    assert len({r["id"] for r in regions}) == 2
    for region, (bx, by) in zip(regions, drawn):
        first = region["value"]["sequence"][0]
        assert first["frame"] == 1 and abs(first["x"] - bx) < 2 and abs(first["y"] - by) < 2.7


@pytest.mark.parametrize("tasks, context, results", [
    ([{"id": 1, "data": {"video": "/data/upload/1/v.mp4"}}], None, [[]]),  # a task opened
    ([{"id": 1, "data": {"video": "a.mp4"}}, {"id": 2, "data": {"video": "b.mp4"}}], None, [[], []]),  # retrieve predictions
])
def test_a_video_task_opened_without_a_drawn_box_stores_nothing_and_is_no_error(client, tasks, context, results):
    body = {"tasks": tasks, "project": "1.1700000000", "label_config": load_config("video_boxes").render(["Object"]),
            "params": {"login": None, "password": None, "context": context}}
    resp = client.post("/predict", json=body)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"results": results}
