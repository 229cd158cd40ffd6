"""/metrics of a backend whose propagation jobs run in ``samvid worker`` processes (Redis):
the frames counter covers the frames the workers wrote, not only the backend's own.

Real redis-server; real worker processes with a ``frames`` job kind that counts frames as
propagation does (``FRAMES_PROPAGATED``, once per frame written) and reports progress.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from services import wait_until

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
    """Start a frames worker on demand; on leaving, stop it if still alive."""
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        log = open(tmp_path / f"worker{len(procs)}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, "-c", FRAMES_WORKER, *args],
                                env=dict(os.environ, REDIS_URL=redis_server.url),
                                stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()  # a warm stop: waits for a held job, which a failed test left running
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)


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


def test_the_backends_metrics_count_the_frames_its_workers_wrote(redis_server, worker) -> None:
    jobs = RedisJobs(redis_server.url)
    for key, frames in (("1:a", 7), ("1:b", 5), ("2:a", 4)):
        jobs.submit("frames", key, {"frames": frames})
    first, second = worker("--burst", "--name", "w1"), worker("--burst", "--name", "w2")
    assert first.wait(120) == 0 and second.wait(120) == 0
    assert jobs.states()["done"] == 3
    own = frames_propagated_here()
    assert frames_in(backend_metrics(redis_server.url)) == [own + 16]


def test_a_running_jobs_frames_show_in_the_backends_metrics_before_it_ends(redis_server, worker) -> None:
    jobs = RedisJobs(redis_server.url)
    job = jobs.submit("frames", "1:long", {"frames": 6, "hold": True})
    worker("--name", "long")
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
FRAMES_PROPAGATED.inc(3)  # this gunicorn worker's own (frames filled as a task opened)
print(generate_latest(Metrics(None, jobs.states, jobs.frames_propagated).registry).decode())
"""


def test_the_metrics_of_several_backend_processes_add_their_frames_to_the_workers(
        redis_server, worker, tmp_path: Path) -> None:
    jobs = RedisJobs(redis_server.url)
    jobs.submit("frames", "1:a", {"frames": 5})
    assert worker("--burst", "--name", "w1").wait(120) == 0
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))  # as ``samvid serve --workers 2``
    text = subprocess.run([sys.executable, "-c", MULTIPROCESS_BACKEND, redis_server.url], env=env,
                          capture_output=True, text=True, check=True, timeout=60).stdout
    assert frames_in(text) == [8.0]
