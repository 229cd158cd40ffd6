"""Label Studio's labeling stream ("Label All Tasks") shows samvid's stored masks.

Label Studio 1.23 shows a task's stored predictions in the stream only when one is of the
model version ``/setup`` reported; otherwise it asks ``/predict`` and shows only what that
answer stores. The stream's page asks through the Data Manager action ``next_task``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import requests
from clips import annotate, import_clip, predictions, studio_app
from ls_requests import BRUSH_CONFIG
from PIL import Image
from services import ServedApp, wait_until
from test_automatic import OracleSegmenter, _opened, synthetic_frame

from samvid.app import create_app
from samvid.predictor import Predictor
from samvid.settings import Settings
from samvid.studio.results import brush_result


def _client(tmp_path, **settings: Any):
    labels, _ = synthetic_frame()
    settings = Settings.from_env({}, model="standin", local_roots=(tmp_path,), precompute_on_open=False,
                                 tracker="flow", **settings)
    return create_app(settings, Predictor.from_settings(settings, segmenter=OracleSegmenter(labels))).test_client()


def test_setup_reports_the_version_propagation_stores(tmp_path):
    client = _client(tmp_path)
    assert client.post("/setup", json={"project": "1.1"}).get_json() == {"model_version": "samvid-track:flow"}


def test_setup_with_samvid_auto_reports_the_automatic_masks_version(tmp_path):
    client = _client(tmp_path, auto=True)
    assert client.post("/setup", json={"project": "1.1"}).get_json() == {"model_version": "samvid-auto:oracle"}


def test_setup_with_samvid_auto_but_no_everything_mode_reports_the_propagation_version(tmp_path):
    settings = Settings.from_env({}, model="standin", local_roots=(tmp_path,), precompute_on_open=False,
                                 tracker="copy", auto=True)
    client = create_app(settings, Predictor.from_settings(settings)).test_client()
    assert client.post("/setup", json={"project": "1.1"}).get_json() == {"model_version": "samvid-track:copy"}


def _next_task(ls, project_id: int) -> list[tuple[str, int]]:
    """The predictions the labeling stream shows, asked as its page asks."""
    resp = requests.post(f"{ls.url}/api/dm/actions", headers=ls.headers, timeout=60,
                         params={"id": "next_task", "project": project_id}, json={})
    resp.raise_for_status()
    return [(p["model_version"], len(p["result"])) for p in resp.json().get("predictions") or []]


def _stream_project(ls, name: str, auto: bool, frames: int = 1):
    """A project of ``frames`` synthetic frames with samvid's backend (tracker flow) connected."""
    from samvid.studio.client import Studio
    from samvid.studio.importer import local_files_url

    folder = ls.files_root / name
    folder.mkdir(parents=True)
    labels, objects = synthetic_frame()
    paths = []
    for i in range(frames):
        paths.append(folder / f"f{i}.png")
        Image.fromarray((labels * 60).astype(np.uint8)).convert("RGB").save(paths[-1])
    settings = Settings.from_env({}, model="standin", local_roots=(ls.files_root,), precompute_on_open=False,
                                 tracker="flow", auto=auto, auto_grid=4, label_studio_url=ls.url,
                                 label_studio_api_key=ls.token)
    app = create_app(settings, Predictor.from_settings(settings, segmenter=OracleSegmenter(labels)))
    studio = Studio(ls.url, ls.token)
    project, _ = studio.get_or_create_project(name, _opened([])["label_config"])
    studio.ensure_local_storage(project.id, folder)
    task_ids = studio.create_tasks(project.id, [{"image": local_files_url(Path(p), ls.files_root)} for p in paths])
    return app, studio, project.id, task_ids, objects


def test_the_labeling_stream_shows_a_propagated_frame_and_stores_nothing_more(label_studio):
    ls = label_studio
    app, studio, project, (task,), objects = _stream_project(ls, "stream-propagated", auto=False)
    region = brush_result(objects[0], from_name="tag", to_name="image", labels=["Car"], region_id="obj1")
    studio.replace_predictions(task, "samvid-track", [region], "samvid-track:flow", 0.9, write_empty=False)
    with ServedApp(app) as backend:
        studio.connect_backend(project, backend.url)
        assert _next_task(ls, project) == [("samvid-track:flow", 1)]
        assert _next_task(ls, project) == [("samvid-track:flow", 1)]
    assert [p["model_version"] for p in predictions(ls, task)] == ["samvid-track:flow"]


def test_with_samvid_auto_the_stream_and_retrieve_predictions_keep_one_copy_of_the_automatic_masks(label_studio):
    ls = label_studio
    app, studio, project, task_ids, _ = _stream_project(ls, "stream-auto", auto=True, frames=2)

    def retrieve() -> None:
        resp = requests.post(f"{ls.url}/api/dm/actions", headers=ls.headers, timeout=60,
                             params={"id": "retrieve_tasks_predictions", "project": project},
                             json={"selectedItems": {"all": False, "included": task_ids}})
        assert resp.status_code == 200, resp.text

    with ServedApp(app) as backend:
        studio.connect_backend(project, backend.url)
        deadline = time.monotonic() + 60
        while not all(predictions(ls, t) for t in task_ids):  # queued at first: nothing stored
            assert time.monotonic() < deadline
            retrieve()
            time.sleep(0.5)
        retrieve()
        assert _next_task(ls, project) == [("samvid-auto:oracle", 2)]
        assert _next_task(ls, project) == [("samvid-auto:oracle", 2)]
    assert [[p["model_version"] for p in predictions(ls, t)] for t in task_ids] == [
        ["samvid-auto:oracle"], ["samvid-auto:oracle"]]


def _shown(ls, project_id: int) -> tuple[int, list[dict]]:
    """The task the labeling stream opens next and the predictions it shows, asked as its page asks."""
    resp = requests.post(f"{ls.url}/api/dm/actions", headers=ls.headers, timeout=60,
                         params={"id": "next_task", "project": project_id}, json={})
    resp.raise_for_status()
    return resp.json()["id"], resp.json().get("predictions") or []


def _submit_as_shown(ls, task_id: int, prediction: dict) -> requests.Response:
    """Submit the shown prediction's regions, as the editor does: naming the prediction."""
    return requests.post(f"{ls.url}/api/tasks/{task_id}/annotations", headers=ls.headers, timeout=30,
                         json={"result": prediction["result"], "parent_prediction": prediction["id"]})


def test_frame_by_frame_in_the_stream_each_next_frame_opens_labelled_and_its_submit_is_saved(label_studio):
    # The stream moves on as a frame is submitted: the next frame opens before its job wrote
    # it (samvid answers its masks) or just after (the job's are answered), and the job then
    # writes it over. The editor's submit names the prediction it showed: Label Studio
    # refuses it (400 "Invalid pk", the annotator's work not saved) once that one is deleted.
    ls = label_studio
    clip = import_clip(ls, BRUSH_CONFIG, name="stream-next", n=4)
    app = studio_app(ls, tracker="flow")
    jobs = app.extensions["samvid.jobs"]

    def idle() -> bool:
        states = jobs.states()
        return states["queued"] + states["running"] == 0 and bool(predictions(ls, clip.task_ids[-1]))

    with ServedApp(app) as backend:
        requests.post(f"{ls.url}/api/ml", headers=ls.headers, timeout=30, json={
            "url": backend.url, "project": clip.project, "is_interactive": True}).raise_for_status()
        annotate(ls, clip.task_ids[0], clip.masks[0], label="Person", region_id="walker")
        for frame in (1, 2):
            task, (shown,) = _shown(ls, clip.project)
            assert task == clip.task_ids[frame] and shown["model_version"] == "samvid-track:flow"
            wait_until(idle, what="the jobs to write the clip")
            assert [p["id"] for p in predictions(ls, task)] == [shown["id"]]  # written over in place
            assert _submit_as_shown(ls, task, shown).status_code == 201
    wait_until(idle, what="the last submit's job")
    assert [len(predictions(ls, t)) for t in clip.task_ids[1:]] == [1, 1, 1]
