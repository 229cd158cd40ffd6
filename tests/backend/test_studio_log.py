"""A clean Label Studio log: "nothing to predict" is answered the way Label Studio 1.23 accepts.

Label Studio calls ``/predict`` for every task read without a prediction (opening a frame,
the Data Manager's "Retrieve predictions"). Most frames have nothing to say yet; the real
Label Studio's own log must not gain an error line for them, and nothing may be stored.
"""

from __future__ import annotations

import pytest
import requests
from clips import import_clip, predictions, studio_app
from ls_requests import BRUSH_CONFIG
from services import ServedApp

pytestmark = pytest.mark.studio

COMPLAINTS = ("incorrect response", "incorrect prediction", "Number of tasks and responses",
              "doesn't support batch processing", "has to return list")


@pytest.fixture
def backend(label_studio):
    app = studio_app(label_studio)
    app.extensions["predict_calls"] = calls = []

    @app.after_request
    def _count(response):
        from flask import request

        if request.path == "/predict":
            calls.append(len((request.get_json(silent=True) or {}).get("tasks") or []))
        return response

    with ServedApp(app) as served:
        served.predict_calls = calls
        yield served


def test_frames_with_nothing_to_predict_leave_no_error_in_the_label_studio_log(label_studio, backend):
    log = label_studio.root / "label-studio.log"
    start = log.stat().st_size
    clip = import_clip(label_studio, BRUSH_CONFIG, name="quiet", n=4)
    resp = requests.post(f"{label_studio.url}/api/ml", headers=label_studio.headers, timeout=30,
                         json={"url": backend.url, "project": clip.project, "is_interactive": True})
    assert resp.status_code == 201, resp.text

    for task_id in clip.task_ids:  # an annotator opens each frame: one /predict per task
        reply = requests.get(f"{label_studio.url}/api/tasks/{task_id}", headers=label_studio.headers,
                             timeout=60)
        assert reply.status_code == 200 and reply.json()["predictions"] == []
    # "Retrieve predictions" on every task: one /predict carrying all of them.
    action = requests.post(f"{label_studio.url}/api/dm/actions", headers=label_studio.headers, timeout=60,
                           params={"id": "retrieve_tasks_predictions", "project": clip.project},
                           json={"selectedItems": {"all": True, "excluded": []}})
    assert action.status_code == 200, action.text

    assert backend.predict_calls.count(1) >= len(clip.task_ids), backend.predict_calls
    assert len(clip.task_ids) in backend.predict_calls, "the batch call reached samvid"
    for task_id in clip.task_ids:
        assert predictions(label_studio, task_id) == [], "nothing to predict stores nothing"
    with log.open("rb") as fh:
        fh.seek(start)
        lines = fh.read().decode("utf-8", "replace").splitlines()
    noisy = [line for line in lines if any(c in line for c in COMPLAINTS)]
    assert noisy == []
