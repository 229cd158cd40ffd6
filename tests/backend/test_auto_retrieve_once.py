"""SAMVID_AUTO and Label Studio's "Retrieve Predictions": a task gets samvid's automatic
masks once, however often the action runs.

Label Studio 1.23 (``ml/models.py`` ``predict_tasks``) asks again for every task that holds
no prediction of the model version ``/setup`` reported, and stores each answer as one more
prediction. Automatic predictions are stored as ``samvid-auto:<version>``, never the bare
version, so the backend itself must answer nothing for a task that holds them already.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import requests
from clips import predictions
from PIL import Image
from services import ServedApp
from test_automatic import OracleSegmenter, _auto_client, _opened, synthetic_frame

from samvid.predictor import Predictor
from samvid.settings import Settings


def _frames(root: Path, n: int) -> tuple[np.ndarray, list[str]]:
    labels, _ = synthetic_frame()
    paths = []
    for i in range(n):
        path = root / f"f{i}.png"
        Image.fromarray((labels * 60).astype(np.uint8)).convert("RGB").save(path)
        paths.append(str(path))
    return labels, paths


def _stored(task_id: int, prediction_id: int, entry: dict[str, Any]) -> dict[str, Any]:
    """A prediction as Label Studio 1.23 stores it and sends it back in /predict's tasks
    (``TaskSimpleSerializer``: every field of the model)."""
    return {"id": prediction_id, "result": entry["result"], "score": entry["score"],
            "model_version": entry["model_version"], "created_ago": "0 minutes", "cluster": None,
            "neighbors": None, "mislabeling": 0.0, "created_at": "2026-12-07T17:00:00.000000Z",
            "updated_at": "2026-12-07T17:00:00.000000Z", "model": None, "model_run": None,
            "task": task_id, "project": 1}


def test_retrieving_predictions_again_leaves_one_automatic_prediction_per_task(tmp_path):
    labels, frames = _frames(tmp_path, 2)
    client = _auto_client(tmp_path, labels)
    version = client.post("/setup", json={"project": "1.1700000000", "schema": _opened([])["label_config"]}
                          ).get_json()["model_version"]
    stored: dict[int, list[dict[str, Any]]] = {1: [], 2: []}  # Label Studio's predictions per task

    def retrieve() -> None:
        """One "Retrieve Predictions" on both tasks, as Label Studio 1.23 runs it."""
        body = _opened(frames)
        body["tasks"] = [{**task, "predictions": stored[task["id"]]} for task in body["tasks"]
                         if not any(p["model_version"] == version for p in stored[task["id"]])]
        if not body["tasks"]:
            return
        for task, entry in zip(body["tasks"], client.post("/predict", json=body).get_json()["results"]):
            for prediction in entry if isinstance(entry, list) else [entry]:
                stored[task["id"]].append(_stored(task["id"], sum(map(len, stored.values())) + 1, prediction))

    deadline = time.monotonic() + 30
    while not all(stored.values()):  # the first runs find the masks queued, and store nothing
        assert time.monotonic() < deadline
        retrieve()
        time.sleep(0.05)
    retrieve()
    retrieve()
    assert {task: [p["model_version"] for p in held] for task, held in stored.items()} == {
        1: ["samvid-auto:oracle"], 2: ["samvid-auto:oracle"]}


def test_a_task_holding_other_predictions_still_gets_its_automatic_masks(tmp_path):
    # Another model's automatic masks, propagation's, or samvid's of an older model are no
    # reason to withhold this model's.
    labels, frames = _frames(tmp_path, 3)
    client = _auto_client(tmp_path, labels)
    body = _opened(frames)
    for task, version in zip(body["tasks"], ["samvid-auto:sam-older", "samvid-track:oracle", "oracle"]):
        task["predictions"] = [_stored(task["id"], task["id"], {"result": [], "score": 0.0,
                                                               "model_version": version})]
    deadline = time.monotonic() + 30
    while [] in (results := client.post("/predict", json=body).get_json()["results"]):
        assert time.monotonic() < deadline  # queued meanwhile
        time.sleep(0.05)
    assert [len(entry["result"]) for entry in results] == [2, 2, 2]


def test_an_interactive_call_without_a_click_still_shows_the_stored_automatic_masks(tmp_path):
    # A context object (a call from the labeling page) is answered as a suggestion, never
    # stored: the task's own predictions keep nothing from it.
    labels, frames = _frames(tmp_path, 1)
    client = _auto_client(tmp_path, labels)
    body = _opened(frames)
    body["params"]["context"] = {"result": []}
    body["tasks"][0]["predictions"] = [_stored(1, 1, {"result": [], "score": 0.0,
                                                       "model_version": "samvid-auto:oracle"})]
    deadline = time.monotonic() + 30
    while not (entry := client.post("/predict", json=body).get_json()["results"][0])["result"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len(entry["result"]) == 2 and entry["model_version"] == "samvid-auto:oracle"


def test_retrieve_predictions_in_label_studio_twice_leaves_one_prediction_per_task(label_studio):
    from samvid.app import create_app
    from samvid.studio.client import Studio
    from samvid.studio.importer import local_files_url

    ls = label_studio
    folder = ls.files_root / "auto-retrieve-once"
    folder.mkdir(parents=True)
    labels, frames = _frames(folder, 2)
    settings = Settings.from_env({}, model="standin", local_roots=(ls.files_root,), precompute_on_open=False,
                                 auto=True, auto_grid=4, label_studio_url=ls.url, label_studio_api_key=ls.token)
    app = create_app(settings, Predictor.from_settings(settings, segmenter=OracleSegmenter(labels)))
    with ServedApp(app) as backend:
        studio = Studio(ls.url, ls.token)
        project, _ = studio.get_or_create_project("auto retrieve once", _opened([])["label_config"])
        studio.ensure_local_storage(project.id, folder)
        task_ids = studio.create_tasks(project.id, [{"image": local_files_url(Path(f), ls.files_root)}
                                                    for f in frames])
        studio.connect_backend(project.id, backend.url)

        def retrieve() -> None:
            resp = requests.post(f"{ls.url}/api/dm/actions", headers=ls.headers, timeout=60,
                                 params={"id": "retrieve_tasks_predictions", "project": project.id},
                                 json={"selectedItems": {"all": False, "included": task_ids}})
            assert resp.status_code == 200, resp.text

        deadline = time.monotonic() + 60
        while not all(predictions(ls, t) for t in task_ids):  # queued at first: nothing stored
            assert time.monotonic() < deadline
            retrieve()
            time.sleep(0.5)
        retrieve()
        retrieve()
        assert [[p["model_version"] for p in predictions(ls, t)] for t in task_ids] == [
            ["samvid-auto:oracle"], ["samvid-auto:oracle"]]
