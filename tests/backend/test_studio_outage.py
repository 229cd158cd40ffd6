"""Label Studio stopped in the middle of a propagation job, then started again.

The real server is stopped (SIGTERM, as an admin restarting it would) while the job is
writing predictions. The job must wait it out and finish with one prediction per frame,
the human annotation untouched; interactive clicks keep being answered meanwhile. With
a short retry budget the job must fail visibly instead.
"""

from __future__ import annotations

import time

import pytest
import requests
from clips import annotate, import_clip, iou, predictions
from ls_requests import BRUSH_CONFIG, keypoint, predict_body
from services import ServedApp, wait_until

from samvid.app import create_app
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.settings import Settings
from samvid.studio.results import decode_brush

pytestmark = pytest.mark.studio


def _backend(ls, retry_seconds: float) -> ServedApp:
    settings = Settings.from_env(
        {}, model="standin", label_studio_url=ls.url, label_studio_api_key=ls.token,
        local_roots=(ls.files_root,), precompute_on_open=False, studio_retry_seconds=retry_seconds,
    )
    return ServedApp(create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter())))


def _job(backend: ServedApp, job_id: str) -> dict:
    return requests.get(f"{backend.url}/jobs/{job_id}", timeout=10).json()


def _click(backend: ServedApp, image: str) -> int:
    body = predict_body(image, [keypoint(60.5, 90.5, 256, 192)])
    return requests.post(f"{backend.url}/predict", json=body, timeout=30).status_code


def _annotations(ls, task_id: int) -> list[int]:
    reply = requests.get(f"{ls.url}/api/tasks/{task_id}/annotations", headers=ls.headers, timeout=30)
    return [a["id"] for a in reply.json()]


def test_label_studio_restarted_mid_job_is_waited_out_and_clicks_keep_working(label_studio, monkeypatch):
    import samvid.propagation.job
    from samvid.studio.client import backoff

    # Retries a second apart at most (10 s by default): the job goes on within a second of
    # Label Studio's return, not up to 10 s after it; the wait is the same wait.
    monkeypatch.setattr(samvid.propagation.job, "backoff", lambda seconds: backoff(seconds, longest=1.0))
    # Frames enough that the job is still writing when Label Studio stops (it stops within a
    # frame or two of the third; asserted below), not so many that their writes after its
    # return (~0.2 s each on a busy machine) dominate the test.
    clip = import_clip(label_studio, BRUSH_CONFIG, name="outage", n=40)
    human = annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")
    image = f"/data/local-files/?d=p{clip.project}-outage/00010.png"
    with _backend(label_studio, retry_seconds=300) as backend:
        reply = requests.post(f"{backend.url}/propagate", timeout=10,
                              json={"project": clip.project, "clip": "outage", "frame": 0})
        job_id = reply.json()["id"]
        wait_until(lambda: _job(backend, job_id)["frames_done"] >= 3, 120, "the job to write its first frames")
        label_studio.stop()
        try:
            stopped_at = _job(backend, job_id)
            assert stopped_at["state"] == "running"
            assert stopped_at["frames_done"] < stopped_at["frames_total"], "the job ended before the outage"
            assert _click(backend, image) == 200  # frames come from disk: clicks need no Label Studio
            time.sleep(3)
            during = _job(backend, job_id)
            assert during["state"] == "running" and during["error"] is None
            assert during["frames_done"] <= stopped_at["frames_done"] + 1  # waiting, not skipping
            assert "cannot reach Label Studio" in during["note"] and "retry" in during["note"]
        finally:
            label_studio.start()
        done = wait_until(lambda: (j := _job(backend, job_id))["state"] in ("done", "failed") and j, 300, "the job")
        assert done["state"] == "done", done
        assert done["note"] is None
    for i, task_id in enumerate(clip.task_ids[1:], start=1):
        (pred,) = predictions(label_studio, task_id)  # exactly one: nothing written twice
        (region,) = pred["result"]
        assert iou(decode_brush(region), clip.masks[i]) > 0.8, f"frame {i}"
    assert _annotations(label_studio, clip.task_ids[0]) == [human]


def test_label_studio_away_longer_than_the_retry_budget_fails_the_job_visibly(label_studio):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="gone", n=6)
    human = annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")
    image = f"/data/local-files/?d=p{clip.project}-gone/00002.png"
    with _backend(label_studio, retry_seconds=2) as backend:
        label_studio.stop()
        try:
            reply = requests.post(f"{backend.url}/propagate", timeout=10,
                                  json={"project": clip.project, "clip": "gone", "frame": 0})
            job_id = reply.json()["id"]
            failed = wait_until(lambda: (j := _job(backend, job_id))["state"] in ("done", "failed") and j, 60, "the job")
            assert failed["state"] == "failed"
            assert "cannot reach Label Studio" in failed["error"], failed["error"]
            assert label_studio.token not in failed["error"]
            assert _click(backend, image) == 200
        finally:
            label_studio.start()
    assert _annotations(label_studio, clip.task_ids[0]) == [human]
    assert all(not predictions(label_studio, t) for t in clip.task_ids[1:])


def test_opening_the_frame_after_a_human_frame_with_redis_down_answers_at_once_and_says_why(
        label_studio, redis_server, caplog):
    """Label Studio holds the annotator's page until /predict answers: with Redis (the
    frame's write lock) refusing connections, the on-open fill is skipped, not waited on."""
    clip = import_clip(label_studio, BRUSH_CONFIG, name="redisdown", n=2)
    annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")
    from clips import studio_app

    client = studio_app(label_studio, redis_url=redis_server.url).test_client()
    redis_server.stop()
    task = requests.get(f"{label_studio.url}/api/tasks/{clip.task_ids[1]}", headers=label_studio.headers,
                        timeout=30).json()
    body = {"tasks": [task], "project": f"{clip.project}.1700000000", "label_config": BRUSH_CONFIG,
            "params": {"context": None}}
    started = time.monotonic()
    with caplog.at_level("INFO", logger="samvid"):
        reply = client.post("/predict", json=body)
    assert time.monotonic() - started < 10
    assert reply.status_code == 200 and reply.get_json() == {"results": [[]]}
    assert "Redis" in caplog.text and "REDIS_URL" in caplog.text
    assert predictions(label_studio, clip.task_ids[1]) == []  # left to the propagation job
