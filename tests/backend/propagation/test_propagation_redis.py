"""Propagation on the Redis queue with real `samvid worker` processes.

Jobs survive their worker: a worker killed with SIGKILL mid-job leaves the job
requeued and finished by another worker, with one prediction per frame.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
import requests
from clips import annotate, import_clip, iou, predictions
from ls_requests import BRUSH_CONFIG
from services import ServedApp, wait_until, worker_processes
from test_propagation_studio import connect, mask_of

from samvid.app import create_app
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.settings import Settings

pytestmark = [pytest.mark.studio, pytest.mark.redis]


# ``samvid worker`` with a 3 s ``ALIVE_TTL`` (a heartbeat every 0.5 s): a killed worker's job
# counts as orphaned in seconds rather than the 10 s to 15 s of the defaults.
SHORT_ALIVE_WORKER = """
import sys
import samvid.redis_jobs
samvid.redis_jobs.ALIVE_TTL, samvid.redis_jobs.HEARTBEAT = 3, 0.5
from samvid.cli import main
sys.exit(main(["worker", *sys.argv[1:]]))
"""


def samvid_workers(ls, redis_server, tmp_path,
                   command: tuple[str, ...] = ("-m", "samvid.cli", "worker"),
                   ) -> AbstractContextManager[Callable[..., subprocess.Popen]]:
    """``start(name)`` starts a ``samvid worker``; leaving the block stops those still alive."""
    env = {"LABEL_STUDIO_URL": ls.url, "LABEL_STUDIO_API_KEY": ls.token, "REDIS_URL": redis_server.url,
           "SAMVID_LOCAL_ROOTS": str(ls.files_root)}
    return worker_processes(command, env, tmp_path)


@pytest.fixture
def start_worker(label_studio, redis_server, tmp_path) -> Iterator[Callable[..., subprocess.Popen]]:
    with samvid_workers(label_studio, redis_server, tmp_path) as start:
        yield start


@pytest.fixture
def start_short_alive_worker(label_studio, redis_server, tmp_path, monkeypatch,
                             ) -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts workers of ``SHORT_ALIVE_WORKER``; this process's reaper, which reaps on
    GET /jobs (every 0.5 s here), counts a job orphaned after their 3 s as well."""
    import samvid.redis_jobs

    monkeypatch.setattr(samvid.redis_jobs, "ALIVE_TTL", 3)
    monkeypatch.setattr(samvid.redis_jobs, "REAP_EVERY", 0.5)
    with samvid_workers(label_studio, redis_server, tmp_path, ("-c", SHORT_ALIVE_WORKER)) as start:
        yield start


@pytest.fixture
def backend(label_studio, redis_server):
    settings = Settings.from_env(
        {}, model="standin", label_studio_url=label_studio.url, label_studio_api_key=label_studio.token,
        redis_url=redis_server.url, precompute_on_open=False,
    )
    app = create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter()))
    with ServedApp(app) as served:
        yield served


def job_of(backend, job_id: str) -> dict:
    return requests.get(f"{backend.url}/jobs/{job_id}", timeout=10).json()


def test_workers_fill_the_frames_through_redis(label_studio, backend, start_worker):
    start_worker("w1")
    clip = import_clip(label_studio, BRUSH_CONFIG, name="redis", n=6)
    connect(label_studio, clip.project, backend)
    annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")
    wait_until(lambda: predictions(label_studio, clip.task_ids[-1]), what="the worker's predictions")
    for i, task_id in enumerate(clip.task_ids[1:], start=1):
        (pred,) = predictions(label_studio, task_id)
        assert iou(mask_of(pred), clip.masks[i]) > 0.85


def test_a_killed_worker_leaves_its_job_requeued_not_lost(label_studio, backend, start_short_alive_worker):
    first = start_short_alive_worker("doomed")  # starting (imports) while the clip is imported
    # Killed at its third frame: a job of 20 is mid-run then (else it never reads "queued"
    # below), and the rescuer's run of them all stays short.
    clip = import_clip(label_studio, BRUSH_CONFIG, name="killed", n=20)
    annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")  # not connected yet
    job = requests.post(f"{backend.url}/propagate", timeout=10, json={
        "project": clip.project, "clip": "killed", "frame": 0}).json()
    wait_until(lambda: job_of(backend, job["id"])["frames_done"] >= 2, what="the job to start")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    state = wait_until(lambda: (s := job_of(backend, job["id"]))["state"] == "queued" and s, timeout=60,
                       what="the orphaned job to be requeued")
    assert "died" in state["error"]
    start_short_alive_worker("rescuer")
    done = wait_until(lambda: (s := job_of(backend, job["id"]))["state"] in ("done", "failed") and s,
                      timeout=120, what="the rescuer to finish")
    assert done["state"] == "done" and done["attempts"] == 2
    for task_id in clip.task_ids[1:]:
        assert len(predictions(label_studio, task_id)) == 1


def test_a_running_job_can_be_cancelled(label_studio, backend, start_worker):
    start_worker("w-cancel")  # starting (imports) while the clip is imported
    clip = import_clip(label_studio, BRUSH_CONFIG, name="cancelled", n=40)
    annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")
    job = requests.post(f"{backend.url}/propagate", timeout=10, json={
        "project": clip.project, "clip": "cancelled", "frame": 0}).json()
    wait_until(lambda: job_of(backend, job["id"])["frames_done"] >= 1, what="the job to start")
    assert requests.delete(f"{backend.url}/jobs/{job['id']}", timeout=10).status_code == 200
    final = wait_until(lambda: (s := job_of(backend, job["id"]))["state"] != "running" and s,
                       what="the job to stop")
    assert final["state"] == "cancelled"
    time.sleep(1)
    assert sum(1 for t in clip.task_ids if predictions(label_studio, t)) < len(clip.task_ids) - 1


def test_unknown_job_is_404(backend):
    assert requests.get(f"{backend.url}/jobs/nope", timeout=10).status_code == 404


def test_a_redis_restart_mid_job_is_ridden_out(label_studio, tmp_path):
    from services import Redis

    redis_server = Redis(root=tmp_path / "redis", persist=True).start()
    settings = Settings.from_env(
        {}, model="standin", label_studio_url=label_studio.url, label_studio_api_key=label_studio.token,
        redis_url=redis_server.url, precompute_on_open=False,
    )
    app = create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter()))
    try:
        with samvid_workers(label_studio, redis_server, tmp_path) as start_worker, ServedApp(app) as backend:
            start_worker("survivor")  # starting (imports) while the clip is imported
            clip = import_clip(label_studio, BRUSH_CONFIG, name="restart", n=20)
            annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")
            job = requests.post(f"{backend.url}/propagate", timeout=10, json={
                "project": clip.project, "clip": "restart", "frame": 0}).json()
            wait_until(lambda: job_of(backend, job["id"])["frames_done"] >= 2, what="the job to start")
            redis_server.restart(down_for=2.0)
            final = wait_until(lambda: (s := job_of(backend, job["id"]))["state"] in ("done", "failed") and s,
                               timeout=180, what="the job to end")
            assert final["state"] == "done", final
            for task_id in clip.task_ids[1:]:
                assert len(predictions(label_studio, task_id)) == 1
    finally:
        redis_server.stop()


def test_what_a_worker_waits_for_is_on_the_shared_record_until_it_moves_on(redis_server):
    from samvid.jobs import JobStatus
    from samvid.redis_jobs import RedisJobs, _RedisContext

    jobs = RedisJobs(redis_server.url)
    status = JobStatus(id="waiting-job", kind="propagate", key="1:clip:forward", state="running")
    ctx = _RedisContext(jobs, status)
    ctx.note("cannot reach Label Studio at http://ls; retry 2 of 16 in 1.0 s")
    assert "retry 2 of 16" in jobs.get("waiting-job").note
    ctx.progress(3, 10, 2.0)
    record = jobs.get("waiting-job")
    assert record.note is None and record.frames_done == 3
