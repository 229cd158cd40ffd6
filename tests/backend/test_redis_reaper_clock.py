"""The reapers weigh a job's records on Redis's clock: a running job whose worker died is
requeued ``ALIVE_TTL`` after it died however far the worker's clock or the reaper's is off
(a worker a minute ahead had it requeued a minute late), and a submit's grace is counted on
it. (A job taken but not yet running still goes by RQ's start time, the taking worker's
clock: not covered here.)

Real redis-server on this machine, so its clock is the real one; the machine that is off
is this process while it plays the worker, the submitter or the reaper (``time.time`` and
RQ's ``now`` shifted). ``ALIVE_TTL`` is 1 s.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

import samvid.redis_jobs
from samvid.jobs import RUNNING
from samvid.redis_jobs import QUEUE, SUBMIT_GRACE, RedisJobs, _k

pytestmark = pytest.mark.redis
QUEUE_KEY = f"rq:queue:{QUEUE}"
SKEWS = [-3600, -60, 0, 60, 3600]  # seconds a machine's clock is ahead of Redis's


@pytest.fixture(autouse=True)
def short_alive_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(samvid.redis_jobs, "ALIVE_TTL", 1)


@contextmanager
def clock_off(seconds: float) -> Iterator[None]:
    """This process's wall clock, and RQ's, ``seconds`` ahead while inside."""
    import rq.job
    import rq.utils

    real_time, real_now = time.time, rq.utils.now
    time.time = lambda: real_time() + seconds  # type: ignore[assignment]
    shifted = lambda: real_now() + timedelta(seconds=seconds)  # noqa: E731
    rq.utils.now, rq.job.now = shifted, shifted  # type: ignore[attr-defined]
    try:
        yield
    finally:
        time.time = real_time  # type: ignore[assignment]
        rq.utils.now, rq.job.now = real_now, real_now  # type: ignore[attr-defined]


def submitted(jobs: RedisJobs, name: str) -> str:
    return jobs.submit("sleep", f"1:{name}:forward", {"seconds": 1, "name": name, "log": os.devnull}).id


def taken(jobs: RedisJobs, job_id: str) -> None:
    """What RQ writes as a worker takes the job off the queue, with the worker's clock."""
    jobs.redis.lrem(QUEUE_KEY, 0, job_id)
    job = jobs.queue.fetch_job(job_id)
    with jobs.redis.pipeline() as pipe:
        job.prepare_for_execution("worker-1", pipe)
        pipe.execute()


def queued_copies(jobs: RedisJobs, job_id: str) -> int:
    return jobs.redis.lrange(QUEUE_KEY, 0, -1).count(job_id.encode())


@pytest.mark.parametrize("skew", SKEWS)
def test_a_running_job_whose_worker_died_is_requeued_alive_ttl_later_whatever_the_workers_clock(
        redis_server, skew):
    jobs = RedisJobs(redis_server.url)
    job_id = submitted(jobs, f"running{skew}")
    with clock_off(skew):  # the worker runs it, reports, and is killed: its heartbeat stops
        worker = RedisJobs(redis_server.url)
        taken(worker, job_id)
        status = worker._load(job_id)
        status.state, status.attempts = RUNNING, 1
        worker._save(status)
    assert jobs.reap() == [], "requeued the moment its worker died"
    time.sleep(samvid.redis_jobs.ALIVE_TTL + 0.5)
    assert jobs.reap() == [job_id], "not requeued ALIVE_TTL after its worker died"
    record = jobs.get(job_id)
    assert (record.state, record.error) == ("queued", "its worker died; requeued")
    assert queued_copies(jobs, job_id) == 1


@pytest.mark.parametrize("skew", SKEWS)
def test_a_reaper_whose_clock_is_off_reaps_as_one_whose_clock_is_right(redis_server, skew):
    """The backend (or a worker) reaping is the machine that is off: a job just submitted,
    whose RQ entry is not written yet, is not failed; a worker dead a moment ago is not
    requeued yet, and one dead for ALIVE_TTL is."""
    from rq.job import Job

    jobs = RedisJobs(redis_server.url)
    enqueuing = submitted(jobs, f"enqueuing{skew}")
    Job.fetch(enqueuing, connection=jobs.redis).delete()  # as between its record's save and its enqueue
    dead = submitted(jobs, f"dead{skew}")
    jobs.redis.lrem(QUEUE_KEY, 0, dead)
    status = jobs._load(dead)
    status.state, status.attempts = RUNNING, 1
    jobs._save(status)
    reaper = RedisJobs(redis_server.url)
    with clock_off(skew):
        assert reaper.reap() == []
    time.sleep(samvid.redis_jobs.ALIVE_TTL + 0.5)
    with clock_off(skew):
        assert reaper.reap() == [dead]
    assert jobs.get(enqueuing).state == "queued"


def test_a_queued_job_without_rq_s_entry_is_failed_once_the_submit_grace_is_over_by_redis_s_clock(redis_server):
    """The submit's grace is counted from the record's last save, on Redis's clock."""
    from rq.job import Job

    jobs = RedisJobs(redis_server.url)
    lost = submitted(jobs, "lost")
    Job.fetch(lost, connection=jobs.redis).delete()
    saved = jobs._load(lost).updated
    seconds, micros = jobs.redis.time()
    assert abs(saved - (seconds + micros / 1e6)) < 5
    raw = json.loads(jobs.redis.get(_k("job", lost)))
    jobs.redis.set(_k("job", lost), json.dumps({**raw, "updated": saved - SUBMIT_GRACE - 2}))
    assert jobs.reap() == [lost]
    assert jobs.get(lost).state == "failed"


def test_a_redis_user_refused_time_still_submits_and_reaps_on_this_machines_clock(redis_server, caplog):
    """TIME is the one command samvid sends that RQ does not: a Redis user limited to the
    data commands had every submit answered 500."""
    import logging

    import redis

    jobs = RedisJobs(redis_server.url)

    def refused() -> None:
        raise redis.ResponseError("NOPERM User samvid has no permissions to run the 'time' command")

    jobs.redis.time = refused  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="samvid"):
        job_id = submitted(jobs, "no-time")
        status = jobs._load(job_id)
        assert abs(status.updated - time.time()) < 5 and abs(status.created - time.time()) < 5
        assert jobs.reap() == []
        submitted(jobs, "no-time-again")
    assert sum("Redis refuses TIME" in r.getMessage() for r in caplog.records) == 1
