"""/metrics of a backend whose propagation jobs run in ``samvid worker`` processes (Redis):
the frames counter covers the frames the workers wrote, not only the backend's own.

Real redis-server; real worker processes with a ``frames`` job kind that counts frames as
propagation does (``FRAMES_PROPAGATED``, once per frame written) and reports progress.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from services import wait_until, worker_processes

import samvid.jobs
from samvid.app import create_app
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.redis_jobs import RedisJobs
from samvid.settings import Settings

pytestmark = pytest.mark.redis

FRAMES_WORKER = """
import sys
import time

import samvid.jobs


def frames_job(payload, ctx, settings):
    from samvid.metrics import FRAMES_PROPAGATED

    for done in range(1, payload["frames"] + 1):
        FRAMES_PROPAGATED.inc()
        ctx.progress(done, payload["frames"], 0.0)
    while payload.get("hold") and not ctx.cancelled():
        time.sleep(0.05)
    return {}


samvid.jobs.RUNNERS["frames"] = "__main__:frames_job"
from samvid.cli import main

sys.exit(main(["worker", *sys.argv[1:]]))
"""


@pytest.fixture
def worker(redis_server, tmp_path: Path) -> Iterator:
    """Start a frames worker on demand: ``worker(name, *args)``; on leaving, stop those still alive."""
    with worker_processes(["-c", FRAMES_WORKER], {"REDIS_URL": redis_server.url}, tmp_path) as start:
        yield start


def frames_propagated_here() -> float:
    """What this process wrote itself (other tests' frames)."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("samvid_frames_propagated_total") or 0.0


def backend_metrics(url: str, jobs: RedisJobs | None = None) -> str:
    settings = Settings.from_env({}, model="standin", redis_url=url, precompute_on_open=False)
    app = create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter()), jobs)
    reply = app.test_client().get("/metrics")
    assert reply.status_code == 200
    return reply.get_data(as_text=True)


def frames_in(text: str) -> list[float]:
    from prometheus_client.parser import text_string_to_metric_families

    return [sample.value for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name == "samvid_frames_propagated_total"]


def test_a_worker_given_the_servers_prometheus_multiproc_dir_has_its_frames_counted_once(
        redis_server, worker, tmp_path: Path, monkeypatch) -> None:
    """One environment file for ``samvid serve`` and ``samvid worker``: the worker's frames
    went to the server's multiprocess files as well as to Redis."""
    jobs = RedisJobs(redis_server.url)
    jobs.submit("frames", "1:a", {"frames": 5})
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # as ``samvid serve --workers 2``
    assert worker("w1", "--burst").wait(120) == 0
    assert frames_in(backend_metrics(redis_server.url)) == [5.0]  # this process writes no file


def frames_job(payload: dict, ctx: Any, settings: Any) -> dict:
    """FRAMES_WORKER's job, run in this process."""
    from samvid.metrics import FRAMES_PROPAGATED

    for done in range(1, payload["frames"] + 1):
        FRAMES_PROPAGATED.inc()
        if payload.get("report", True):
            ctx.progress(done, payload["frames"], 0.0)
    if payload.get("redis_away_after"):
        REDIS_AWAY.set()  # for the add of its frames, at its end
    return {}


REDIS_AWAY = threading.Event()


def run_here(jobs: RedisJobs, monkeypatch) -> None:
    """Run the queued jobs in this process (RQ's SimpleWorker), as tests and embedding scripts do."""
    from rq import SimpleWorker

    monkeypatch.setitem(samvid.jobs.RUNNERS, "frames", f"{__name__}:frames_job")
    SimpleWorker([jobs.queue], connection=jobs.redis).work(burst=True, with_scheduler=False)


def test_a_worker_in_the_process_serving_metrics_has_its_frames_counted_once(redis_server, monkeypatch) -> None:
    jobs = RedisJobs(redis_server.url)
    jobs.submit("frames", "1:a", {"frames": 5})
    run_here(jobs, monkeypatch)
    assert jobs.states()["done"] == 1
    assert frames_in(backend_metrics(redis_server.url)) == [frames_propagated_here()]


def workers_count(jobs: RedisJobs) -> int:
    """The frames other backend processes see that the workers wrote."""
    from samvid.redis_jobs import FRAMES_WRITTEN

    return int(jobs.redis.get(FRAMES_WRITTEN) or 0)


def test_frames_a_jobs_last_add_to_redis_failed_for_go_with_the_next_job(redis_server, monkeypatch) -> None:
    import redis

    real_incrby = redis.Redis.incrby

    def incrby(self: Any, name: str, amount: int = 1) -> Any:
        if REDIS_AWAY.is_set():
            REDIS_AWAY.clear()
            raise redis.ConnectionError("Redis away (the test's)")
        return real_incrby(self, name, amount)

    monkeypatch.setattr(redis.Redis, "incrby", incrby)
    jobs = RedisJobs(redis_server.url)
    jobs.submit("frames", "1:before", {"frames": 0})  # what this process counted before, added
    run_here(jobs, monkeypatch)
    before = workers_count(jobs)
    jobs.submit("frames", "1:a", {"frames": 3, "report": False, "redis_away_after": True})
    jobs.submit("frames", "1:b", {"frames": 2})
    run_here(jobs, monkeypatch)
    assert jobs.states()["done"] == 3
    assert not REDIS_AWAY.is_set(), "no add failed: the test tested nothing"
    assert workers_count(jobs) - before == 5


def test_the_backends_metrics_count_the_frames_its_workers_wrote(redis_server, worker) -> None:
    jobs = RedisJobs(redis_server.url)
    for key, frames in (("1:a", 7), ("1:b", 5), ("2:a", 4)):
        jobs.submit("frames", key, {"frames": frames})
    first, second = worker("w1", "--burst"), worker("w2", "--burst")
    assert first.wait(120) == 0 and second.wait(120) == 0
    assert jobs.states()["done"] == 3
    own = frames_propagated_here()
    assert frames_in(backend_metrics(redis_server.url)) == [own + 16]


def test_a_running_jobs_frames_show_in_the_backends_metrics_before_it_ends(redis_server, worker) -> None:
    jobs = RedisJobs(redis_server.url)
    job = jobs.submit("frames", "1:long", {"frames": 6, "hold": True})
    worker("long")
    wait_until(lambda: jobs.get(job.id).frames_done == 6, timeout=60, what="the job's frames")
    assert jobs.get(job.id).state == "running"
    own = frames_propagated_here()
    assert frames_in(backend_metrics(redis_server.url)) == [own + 6]
    jobs.cancel(job.id)
    wait_until(lambda: jobs.get(job.id).state == "cancelled", timeout=30, what="the job to stop")


def test_metrics_with_redis_away_leave_the_frames_out_rather_than_count_fewer(redis_server) -> None:
    """Without the workers' share the count would drop, which reads as a restart to Prometheus."""
    jobs = RedisJobs(redis_server.url, patient=False)  # gives up in seconds, not ~40
    redis_server.stop()
    text = backend_metrics(redis_server.url, jobs)
    assert frames_in(text) == []
    assert "samvid_request_seconds" in text


MULTIPROCESS_BACKEND = """
import sys

from samvid.metrics import FRAMES_PROPAGATED, Metrics
from samvid.redis_jobs import RedisJobs
from prometheus_client import generate_latest

jobs = RedisJobs(sys.argv[1])
FRAMES_PROPAGATED.inc(3)  # as if this gunicorn worker had run jobs itself (with Redis it runs none)
print(generate_latest(Metrics(None, jobs.states, jobs.frames_propagated).registry).decode())
"""


def test_the_metrics_of_several_backend_processes_add_their_frames_to_the_workers(
        redis_server, worker, tmp_path: Path) -> None:
    jobs = RedisJobs(redis_server.url)
    jobs.submit("frames", "1:a", {"frames": 5})
    assert worker("w1", "--burst").wait(120) == 0
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))  # as ``samvid serve --workers 2``
    text = subprocess.run([sys.executable, "-c", MULTIPROCESS_BACKEND, redis_server.url], env=env,
                          capture_output=True, text=True, check=True, timeout=60).stdout
    assert frames_in(text) == [8.0]
