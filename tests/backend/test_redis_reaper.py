"""Reaping the Redis jobs whose worker died: each orphan runs again, once, and ends; also
what reaping and finished jobs cost a long-lived Redis (round trips, keys that never expire).

Real redis-server, real ``samvid worker`` processes (``slow_worker.py``: ``ALIVE_TTL``
1 s, a heartbeat every 0.2 s) killed with SIGKILL. The reapers in this process use the
same 1 s ``ALIVE_TTL``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from services import wait_until, worker_processes

import samvid.redis_jobs
from samvid.jobs import RUNNING, JobStatus
from samvid.redis_jobs import QUEUE, SUBMIT_GRACE, RedisJobs, _k

pytestmark = pytest.mark.redis
SLOW_WORKER = Path(__file__).with_name("slow_worker.py")
QUEUE_KEY = f"rq:queue:{QUEUE}"


@pytest.fixture(autouse=True)
def short_alive_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's reapers count a job orphaned after the slow workers' 1 s."""
    monkeypatch.setattr(samvid.redis_jobs, "ALIVE_TTL", 1)


@pytest.fixture
def spawn(redis_server, tmp_path: Path) -> Iterator:
    """Start slow workers on demand: ``spawn(name, *args)``; on leaving, stop those still alive."""
    with worker_processes([str(SLOW_WORKER)], {"REDIS_URL": redis_server.url}, tmp_path) as start:
        yield start


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def taken_by(jobs: RedisJobs, job_id: str, worker: str) -> bool:
    """RQ handed the job to ``worker``, whose heartbeat beats for it."""
    from rq.job import Job

    job = Job.fetch(job_id, connection=jobs.redis)
    started = job.get_status() == "started" and job.worker_name == worker
    return started and bool(jobs.redis.exists(_k("alive", job_id)))


def settled(jobs: RedisJobs) -> bool:
    """Nothing on RQ's queue and no worker holding a job."""
    from rq import Worker

    return not jobs.redis.llen(QUEUE_KEY) and all(w.get_state() == "idle" for w in Worker.all(connection=jobs.redis))


def runs_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def reap_at_once(url: str, reapers: int) -> None:
    """``reapers`` reapers, each with its own connection, reaping at the same moment."""
    queues = [RedisJobs(url) for _ in range(reapers)]
    go = threading.Barrier(reapers)
    errors: list[BaseException] = []

    def reap(jobs: RedisJobs) -> None:
        go.wait()
        try:
            jobs.reap()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=reap, args=(jobs,)) for jobs in queues]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors


def test_a_job_whose_worker_dies_while_waiting_for_its_clip_is_requeued_and_runs(redis_server, spawn, tmp_path):
    jobs, spans, key = RedisJobs(redis_server.url), tmp_path / "spans.jsonl", "1:clip:forward"
    # Both workers up before any job: one started later (slow imports on a busy machine)
    # could find the first job over and never hold the second.
    workers = {name: spawn(name) for name in ("a", "b")}
    wait_until(lambda: len(jobs.redis.smembers("rq:workers")) == 2, timeout=60, what="two workers")
    first = jobs.submit("sleep", key, {"seconds": 6, "name": "first", "log": str(spans)}, order=0)
    wait_until(lambda: jobs.get(first.id).state == "running", timeout=30, what="the first job to run")
    # Another start frame on the same clip: the idle worker takes it and waits for the first.
    second = jobs.submit("sleep", key, {"seconds": 0.5, "name": "second", "log": str(spans)}, order=5)
    holder = wait_until(lambda: next((n for n in workers if taken_by(jobs, second.id, n)), None),
                        timeout=30, what="the idle worker to take the second job")
    assert (jobs.get(first.id).state, jobs.get(second.id).state) == ("running", "queued"), "not waiting"
    kill(workers.pop(holder))
    (runner,) = workers.values()
    # The runner's reaper, and this process's on each get, find the orphan; the runner runs it.
    final = wait_until(lambda: (s := jobs.get(second.id)).state not in ("queued", "running") and s,
                       timeout=30, what="the second job to end")
    assert (final.state, final.attempts, final.error) == ("done", 1, None), final
    assert jobs.get(first.id).state == "done"
    ran = {span["name"]: span for span in runs_of(spans)}
    assert sorted(ran) == ["first", "second"] and ran["second"]["steps"] == 10
    assert ran["second"]["start"] >= ran["first"]["end"], "the second job ran alongside the first"
    assert runner.poll() is None


def test_a_job_requeued_while_its_worker_stalled_waiting_for_its_clip_is_handed_out_once(
        redis_server, spawn, tmp_path):
    """A worker frozen past ALIVE_TTL (SIGSTOP here; Redis away as long stops its heartbeat
    the same) while it holds a job waiting for its clip: a reaper requeues the job; the
    worker, once back, must not put it on the queue a second time."""
    from rq.job import Job

    jobs, spans, key = RedisJobs(redis_server.url), tmp_path / "spans.jsonl", "1:clip:forward"
    workers = {name: spawn(name) for name in ("a", "b")}
    wait_until(lambda: len(jobs.redis.smembers("rq:workers")) == 2, timeout=60, what="two workers")
    first = jobs.submit("sleep", key, {"seconds": 8, "name": "first", "log": str(spans)}, order=0)
    wait_until(lambda: jobs.get(first.id).state == "running", timeout=30, what="the first job to run")
    second = jobs.submit("sleep", key, {"seconds": 0.5, "name": "second", "log": str(spans)}, order=5)
    for _ in range(5):  # the waiter puts the job back each second: frozen while it holds it
        holder = wait_until(lambda: next((n for n in workers if taken_by(jobs, second.id, n)), None),
                            timeout=30, what="the idle worker to take the second job")
        os.kill(workers[holder].pid, signal.SIGSTOP)
        try:
            time.sleep(samvid.redis_jobs.ALIVE_TTL + 0.5)
            reaped = jobs.reap() == [second.id]
        finally:
            os.kill(workers[holder].pid, signal.SIGCONT)
        if reaped:
            break
    assert reaped, "the frozen worker's job was never reaped"
    wait_until(lambda: jobs.get(second.id).state == "done", timeout=60, what="the second job to end")
    # A second copy would be on the queue or held by a worker until it ran: wait until neither
    # holds anything (twice, half a second apart: a job taken is off the queue a moment
    # before its worker reads busy).
    wait_until(lambda: settled(jobs) and not time.sleep(0.5) and settled(jobs), timeout=30,
               what="the queue to be empty and the workers idle")
    handed_out = [r for r in Job.fetch(second.id, connection=jobs.redis).results() if r.type.name == "SUCCESSFUL"]
    assert len(handed_out) == 1, "RQ handed the job out to run twice"
    assert [span["name"] for span in runs_of(spans)] == ["first", "second"]


def test_concurrent_reapers_requeue_an_orphan_once(redis_server):
    """What a worker killed mid-job leaves (the record running, its alive key expired, the
    job off the queue), seen by eight reapers at once, ten times over."""
    url = redis_server.url
    jobs = RedisJobs(url)
    for trial in range(10):
        status = jobs.submit("sleep", f"1:clip{trial}:forward", {"seconds": 1, "name": "x", "log": os.devnull})
        jobs.redis.lrem(QUEUE_KEY, 0, status.id)  # a worker took it ...
        orphan = JobStatus(**{**status.to_dict(), "state": RUNNING, "attempts": 1})
        jobs.redis.set(_k("job", status.id), json.dumps({**orphan.to_dict(), "updated": time.time() - 60}))
        reap_at_once(url, reapers=8)  # ... and died a minute ago
        queued = jobs.redis.lrange(QUEUE_KEY, 0, -1).count(status.id.encode())
        assert queued == 1, f"trial {trial}: the orphan was requeued {queued} times"
        record = jobs.get(status.id)
        assert (record.state, record.attempts) == ("queued", 1)
        jobs.redis.delete(QUEUE_KEY)


def test_a_job_a_dead_worker_took_is_requeued_in_any_time_zone_with_rq_2_0_naive_dates(redis_server, monkeypatch):
    """rq 2.0 (samvid asks for rq>=2.0) reads a job's ``started_at`` back without a time zone,
    in UTC: west of Greenwich a job a dead worker took while it waited for its clip was
    requeued only hours later, its clip's later jobs held back meanwhile."""
    import rq.job
    from rq.job import JobStatus as RQState
    from rq.utils import now

    naive = rq.job.str_to_date
    monkeypatch.setattr(rq.job, "str_to_date", lambda value: (d := naive(value)) and d.replace(tzinfo=None))
    jobs = RedisJobs(redis_server.url)
    status = jobs.submit("sleep", "1:clip:forward", {"seconds": 1, "name": "x", "log": os.devnull})
    jobs.redis.lrem(QUEUE_KEY, 0, status.id)  # a worker took it, waiting for its clip, and died
    job = jobs.queue.fetch_job(status.id)
    job.started_at = now() - timedelta(seconds=30)
    job.set_status(RQState.STARTED)
    job.save()
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        assert jobs.reap() == [status.id]
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()
    assert jobs.redis.lrange(QUEUE_KEY, 0, -1) == [status.id.encode()]


def test_an_orphan_whose_rq_entry_was_deleted_ends_failed_and_polling_goes_on(redis_server):
    """A worker killed mid-job, and RQ's entry of the job (its payload) deleted since (an RQ
    dashboard, ``rq empty``): it cannot run again, so it ends failed saying why; a poll of
    any job still answers and the other orphans are still requeued."""
    from rq.job import Job

    jobs = RedisJobs(redis_server.url)
    orphans = [jobs.submit("sleep", f"1:clip{i}:forward", {"seconds": 1, "name": "x", "log": os.devnull})
               for i in range(2)]
    for status in orphans:  # taken by a worker that died a minute ago
        jobs.redis.lrem(QUEUE_KEY, 0, status.id)
        orphan = JobStatus(**{**status.to_dict(), "state": RUNNING, "attempts": 1})
        jobs.redis.set(_k("job", status.id), json.dumps({**orphan.to_dict(), "updated": time.time() - 60}))
    gone, kept = orphans
    Job.fetch(gone.id, connection=jobs.redis).delete()
    assert sorted(jobs.reap()) == sorted(s.id for s in orphans)
    record = jobs.get(gone.id)
    assert record.state == "failed" and "submit it again" in (record.error or ""), record
    assert jobs.get(kept.id).state == "queued"
    assert jobs.redis.lrange(QUEUE_KEY, 0, -1) == [kept.id.encode()]


def test_a_queued_job_whose_rq_entry_was_deleted_ends_failed_not_queued_for_ever(redis_server, monkeypatch):
    """No worker took it, and RQ's entry (its payload) was deleted or evicted: nothing can
    ever run it, so once the reapers' grace has passed it reads failed, saying what to do."""
    from rq.job import Job

    monkeypatch.setattr(samvid.redis_jobs, "ALIVE_TTL", 30)  # the grace, however slow this machine
    jobs = RedisJobs(redis_server.url)
    lost = jobs.submit("sleep", "1:clip:lost", {"seconds": 1, "name": "x", "log": os.devnull})
    Job.fetch(lost.id, connection=jobs.redis).delete()
    assert jobs.reap() == []  # just submitted: its enqueue may still be under way
    # A minute on, its submit may still be retrying the enqueue through a Redis restart.
    record = JobStatus(**{**jobs.get(lost.id).to_dict(), "updated": time.time() - 60})
    jobs.redis.set(_k("job", lost.id), json.dumps(record.to_dict()))
    assert jobs.reap() == []
    record = JobStatus(**{**record.to_dict(), "updated": time.time() - SUBMIT_GRACE - 60})
    jobs.redis.set(_k("job", lost.id), json.dumps(record.to_dict()))
    assert jobs.reap() == [lost.id]
    final = jobs.get(lost.id)
    assert final.state == "failed" and "submit it again" in (final.error or ""), final
    assert "worker died" not in (final.error or ""), final  # none took it


def test_a_job_cancelled_after_its_worker_died_ends_cancelled_not_queued_again(redis_server):
    """The user stops a job whose worker was killed mid-run (or submits it again): reaping it
    must not put it back on the queue, where it read "queued" until a worker was free."""
    jobs = RedisJobs(redis_server.url)
    status = jobs.submit("sleep", "1:clip:stopped", {"seconds": 1, "name": "x", "log": os.devnull})
    jobs.redis.lrem(QUEUE_KEY, 0, status.id)  # taken by a worker that died a minute ago
    orphan = JobStatus(**{**status.to_dict(), "state": RUNNING, "attempts": 1})
    jobs.redis.set(_k("job", status.id), json.dumps({**orphan.to_dict(), "updated": time.time() - 60}))
    jobs.cancel(status.id)
    assert jobs.reap() == [status.id]
    assert jobs.get(status.id).state == "cancelled"
    assert jobs.redis.lrange(QUEUE_KEY, 0, -1) == []
    # Nothing will run it: its RQ entry (the payload) goes, as nothing else would expire it.
    assert not jobs.redis.exists(f"rq:job:{status.id}")


def test_a_job_whose_worker_was_killed_runs_once_more_however_many_reap_it(redis_server, spawn, tmp_path):
    jobs, spans = RedisJobs(redis_server.url), tmp_path / "spans.jsonl"
    job = jobs.submit("sleep", "1:clip:forward", {"seconds": 3, "name": "job", "log": str(spans)})
    doomed = spawn("doomed")
    wait_until(lambda: jobs.get(job.id).frames_done >= 1, timeout=30, what="the job to run")
    kill(doomed)
    # An orphan once its alive key has expired and its record's last save is ALIVE_TTL old.
    wait_until(lambda: not jobs.redis.exists(_k("alive", job.id))
               and time.time() - jobs._load(job.id).updated > samvid.redis_jobs.ALIVE_TTL,
               timeout=10, what="the job to be orphaned")
    reap_at_once(redis_server.url, reapers=8)
    assert jobs.redis.lrange(QUEUE_KEY, 0, -1).count(job.id.encode()) == 1
    # A burst worker runs what is queued, then leaves: a second copy would run too.
    spawn("rescuer", "--burst").wait(30)
    final = jobs.get(job.id)
    assert (final.state, final.attempts, final.error) == ("done", 2, None), final
    assert len(runs_of(spans)) == 1, runs_of(spans)


def test_a_job_rq_failed_before_it_ran_is_requeued_and_runs(redis_server, spawn, tmp_path):
    """A worker that died right after taking a job off the queue, before it started: RQ's
    maintenance fails it ("stuck in intermediate queue") a minute later, back-dated here."""
    jobs, spans = RedisJobs(redis_server.url), tmp_path / "spans.jsonl"
    job = jobs.submit("sleep", "1:clip:forward", {"seconds": 0.5, "name": "job", "log": str(spans)})
    intermediate = f"{QUEUE_KEY}:intermediate"
    assert jobs.redis.lmove(QUEUE_KEY, intermediate) == job.id.encode()  # taken; the taker dies
    jobs.redis.set(f"{intermediate}:first_seen:{job.id}", time.time() - 120)
    spawn("live")
    final = wait_until(lambda: (s := jobs.get(job.id)).state not in ("queued", "running") and s,
                       timeout=30, what="the job RQ gave up on to run")
    assert (final.state, final.attempts, final.error) == ("done", 1, None), final
    assert len(runs_of(spans)) == 1


def test_no_key_a_job_writes_outlives_its_records(redis_server, spawn, tmp_path):
    """Done, failed, superseded and cancelled-while-queued jobs leave nothing in Redis that
    never expires but RQ's own registries, which RQ prunes by date."""
    jobs, spans = RedisJobs(redis_server.url), tmp_path / "spans.jsonl"
    log = str(spans)
    jobs.submit("sleep", "1:done:forward", {"seconds": 0.2, "name": "done", "log": log})
    jobs.cancel(jobs.submit("sleep", "1:cancelled:forward", {"seconds": 0.2, "name": "c", "log": log}).id)
    jobs.submit("sleep", "1:again:forward", {"seconds": 0.2, "name": "first", "log": log})
    jobs.submit("sleep", "1:again:forward", {"seconds": 0.2, "name": "again", "log": log})
    jobs.submit("no-such-kind", "1:failed:forward", {})
    spawn("runner", "--burst").wait(60)
    assert jobs.states() == {"queued": 0, "running": 0, "done": 2, "failed": 1, "cancelled": 2}
    assert sorted(run["name"] for run in runs_of(spans)) == ["again", "done"]
    forever = {key.decode() for key in jobs.redis.scan_iter("*") if jobs.redis.ttl(key) == -1}
    assert forever <= {"rq:queues", f"rq:finished:{QUEUE}", f"rq:failed:{QUEUE}"}, sorted(forever)


def test_polling_a_job_reads_the_job_records_kept_once_in_a_while(redis_server):
    """GET /jobs/<id> reaps, and a reap reads every record kept (a week of jobs): ten polls
    of one job among 2000 records cost a few round trips, not one per record per poll."""
    jobs = RedisJobs(redis_server.url)
    with jobs.redis.pipeline(transaction=False) as pipe:
        for i in range(2000):
            done = JobStatus(id=f"old{i}", kind="sleep", key=f"1:clip{i}:forward", state="done")
            pipe.set(_k("job", done.id), json.dumps(done.to_dict()), ex=3600)
        pipe.execute()
    job = jobs.submit("sleep", "1:clip:forward", {"seconds": 1, "name": "x", "log": os.devnull})

    def commands() -> int:
        return sum(stat["calls"] for stat in jobs.redis.info("commandstats").values())

    before = commands()
    for _ in range(10):
        assert jobs.get(job.id).state == "queued"
    assert commands() - before < 200


def test_a_job_workers_fail_before_it_runs_every_time_ends_failed_naming_the_reason(redis_server, monkeypatch):
    """A worker that cannot run the job at all (another samvid version: execute() refuses the
    call) must not have it requeued for ever: after a few tries it reads failed, with RQ's reason."""
    from rq import Queue, SimpleWorker

    import samvid.redis_jobs as redis_jobs

    jobs = RedisJobs(redis_server.url)
    job = jobs.submit("sleep", "1:clip", {"seconds": 0.1, "name": "x", "log": os.devnull})
    real = redis_jobs.execute

    def other_version(*args, **kwargs):
        raise TypeError("execute() takes 3 positional arguments but 4 were given")

    for _ in range(5):
        monkeypatch.setattr(redis_jobs, "execute", other_version)
        SimpleWorker([Queue(redis_jobs.QUEUE, connection=jobs.redis)], connection=jobs.redis).work(burst=True)
        monkeypatch.setattr(redis_jobs, "execute", real)
        jobs.reap()
    final = jobs.get(job.id)
    assert final.state == "failed", final
    assert "execute() takes 3 positional arguments" in (final.error or ""), final


SEEN: list[dict] = []


def peek_job(payload: dict, ctx, settings) -> dict:
    """Records the job's record as a poller reads it when the run begins."""
    from rq import get_current_job

    SEEN.append(RedisJobs(payload["url"])._load(get_current_job().id).to_dict())
    return {}


def test_a_requeued_job_that_runs_again_reports_its_own_progress_not_the_dead_runs(redis_server, monkeypatch):
    """Requeued after its worker died at frame 7 of 10 while Label Studio was away: the new
    run read 7 of 10 frames, and "waiting for Label Studio", until its first report."""
    from rq import Queue, SimpleWorker

    from samvid.jobs import RUNNERS

    monkeypatch.setitem(RUNNERS, "peek", f"{__name__}:peek_job")
    SEEN.clear()
    jobs = RedisJobs(redis_server.url)
    job = jobs.submit("peek", "1:clip:forward", {"url": redis_server.url})
    requeued = {**jobs._load(job.id).to_dict(), "attempts": 1, "frames_done": 7, "frames_total": 10,
                "fps": 3.5, "note": "cannot reach Label Studio; retrying", "error": "its worker died; requeued"}
    jobs.redis.set(_k("job", job.id), json.dumps(requeued))  # as the reaper leaves it
    worker_redis = RedisJobs(redis_server.url).redis
    SimpleWorker([Queue(QUEUE, connection=worker_redis)], connection=worker_redis).work(burst=True)
    (running,) = SEEN
    assert (running["state"], running["attempts"]) == ("running", 2)
    assert (running["frames_done"], running["fps"], running["note"], running["error"]) == (0, 0.0, None, None)
