"""The per-clip lock of a Redis job lasts as long as the job, however long that is.

redis-py's ``Lock`` keeps its token per thread by default; the heartbeat thread then
could not see it, never extended the lock, and the lock expired after ``ALIVE_TTL``:
a second job on the clip ran alongside the first, whose worker then failed releasing
a lock it no longer owned. Here ``ALIVE_TTL`` is 1 s and the first job runs 4.5 s.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from services import wait_until, worker_processes

from samvid.redis_jobs import RedisJobs

pytestmark = pytest.mark.redis
SLOW_WORKER = Path(__file__).with_name("slow_worker.py")
WORKER_NAMES = ("w1", "w2")


def slow_workers(redis_server, tmp_path: Path) -> AbstractContextManager[Callable[..., subprocess.Popen]]:
    """``start(name)`` starts a slow worker; leaving the block stops those still alive."""
    return worker_processes([str(SLOW_WORKER)], {"REDIS_URL": redis_server.url}, tmp_path)


@dataclass
class SharedWorkers:
    """Two slow workers shared by a module, and how far each one's log has been checked."""

    jobs: RedisJobs
    logs: Path
    checked: dict[str, int] = field(default_factory=lambda: dict.fromkeys(WORKER_NAMES, 0))

    def log_size(self, name: str) -> int:
        return (self.logs / f"{name}.log").stat().st_size

    def assert_no_error_logged(self, since: dict[str, int], when: str) -> None:
        """What each worker logged from ``since`` on holds no error; marks it checked."""
        for name in WORKER_NAMES:
            with open(self.logs / f"{name}.log", "rb") as log:
                log.seek(since[name])
                text = log.read().decode(errors="replace")
                self.checked[name] = log.tell()
            assert "Error" not in text and "Traceback" not in text, f"worker {name} logged {when}:\n{text}"


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedWorkers]:
    """Two slow workers and their Redis, shared by the tests that only submit jobs to them:
    starting and stopping them was 6-12 s of each such test on a loaded 2-core machine."""
    from services import Redis

    root = tmp_path_factory.mktemp("lock-workers")
    redis_server = Redis(root=root / "redis").start()
    try:
        with slow_workers(redis_server, root) as start:
            for name in WORKER_NAMES:
                start(name)
            jobs = RedisJobs(redis_server.url)
            wait_until(lambda: len(jobs.redis.smembers("rq:workers")) == 2, timeout=60, what="two workers")
            shared = SharedWorkers(jobs, root)
            yield shared
        # Each test checked its own part of the logs: an error is reported once, by its test.
        shared.assert_no_error_logged(dict(shared.checked), "stopping")
    finally:
        redis_server.stop()


def idle(jobs: RedisJobs) -> None:
    """Both workers idle and nothing left of a job: no clip lock, line or heartbeat."""
    from rq import Worker

    wait_until(lambda: [w.get_state() for w in Worker.all(connection=jobs.redis)] == ["idle", "idle"]
               and not any(jobs.redis.keys(f"samvid:{kind}:*") for kind in ("alive", "line", "lock")),
               timeout=60, what="both workers idle")


FAILED = "rq:registry:failed:samvid"


@pytest.fixture
def workers(two_workers: SharedWorkers) -> Iterator[RedisJobs]:
    """Two idle slow workers, as if started for the test (no job of an earlier test still
    running, none left on a clip). On leaving, once the jobs the test started have ended,
    RQ must have recorded none as failed and the workers must have logged no error: only
    the test's own failures and log lines count, so a late failure is blamed on its test."""
    shared = two_workers
    idle(shared.jobs)
    failed_before = set(shared.jobs.redis.zrange(FAILED, 0, -1))
    logged_before = {name: shared.log_size(name) for name in WORKER_NAMES}
    yield shared.jobs
    idle(shared.jobs)
    failed = set(shared.jobs.redis.zrange(FAILED, 0, -1)) - failed_before
    assert not failed, f"RQ recorded jobs as failed: {sorted(failed)}"
    shared.assert_no_error_logged(logged_before, "during the test")


def ended(jobs: RedisJobs, status, what: str) -> str:
    return wait_until(lambda: (s := jobs.get(status.id).state) in ("done", "failed", "cancelled") and s,
                      timeout=60, what=what)


def spans_of(path: Path) -> dict[str, dict]:
    return {span["name"]: span for span in map(json.loads, path.read_text().splitlines())}


def test_a_long_job_keeps_its_clip_lock_and_the_next_waits(workers, tmp_path: Path):
    jobs, spans, key = workers, tmp_path / "spans.jsonl", "1:clip:forward"
    first = jobs.submit("sleep", key, {"seconds": 4.5, "name": "first", "log": str(spans)}, order=0)
    wait_until(lambda: jobs.get(first.id).state == "running", timeout=30, what="the first job to run")
    # Another start frame on the same clip: it waits for the first, it does not supersede it.
    second = jobs.submit("sleep", key, {"seconds": 0.5, "name": "second", "log": str(spans)}, order=5)
    assert ended(jobs, second, "the second job to end") == "done"
    assert ended(jobs, first, "the first job to end") == "done"
    ran = spans_of(spans)
    assert ran["first"]["steps"] == ran["second"]["steps"] == 10
    assert ran["second"]["start"] >= ran["first"]["end"], "the second job ran alongside the first"


def test_the_same_start_again_stops_a_long_job_and_runs_after_it(workers, tmp_path: Path):
    jobs, spans, key = workers, tmp_path / "spans.jsonl", "1:clip:forward"
    first = jobs.submit("sleep", key, {"seconds": 30, "name": "first", "log": str(spans)}, order=0)
    wait_until(lambda: jobs.get(first.id).frames_done >= 1, timeout=30, what="the first job to run")
    time.sleep(2)  # past ALIVE_TTL twice: the lock must still be the first job's
    again = jobs.submit("sleep", key, {"seconds": 0.5, "name": "again", "log": str(spans)}, order=0)
    assert ended(jobs, first, "the first job to stop") == "cancelled"
    assert ended(jobs, again, "the job submitted again to end") == "done"
    ran = spans_of(spans)
    assert ran["first"]["steps"] < 10 and ran["again"]["steps"] == 10
    assert ran["again"]["start"] >= ran["first"]["end"]


RUNS: list[dict] = []


def recorded_job(payload: dict, ctx, settings) -> dict:
    RUNS.append(payload)
    return {"ran": True}


def test_a_job_another_worker_finished_while_this_one_waited_for_the_clip_is_not_run_again(redis_server, monkeypatch):
    """A worker waits for the clip with the job; meanwhile the job was requeued (its heartbeats
    missed while Redis was away) and another worker ran it to its end. Once the clip is free
    the waiting worker must not do the work a second time."""
    from rq import Queue, SimpleWorker

    from samvid.jobs import RUNNERS
    from samvid.redis_jobs import QUEUE, _k

    monkeypatch.setitem(RUNNERS, "recorded", f"{__name__}:recorded_job")
    RUNS.clear()
    jobs = RedisJobs(redis_server.url)
    job = jobs.submit("recorded", "1:clip:twice", {"name": "once"})
    busy = jobs.redis.lock(_k("lock", "1:clip:twice"), timeout=30, thread_local=False)
    assert busy.acquire(blocking=False)

    def finished_elsewhere() -> None:
        wait_until(lambda: jobs.redis.exists(_k("alive", job.id)), timeout=30, what="a worker to wait with it")
        done = {**jobs.get(job.id).to_dict(), "state": "done", "attempts": 1, "result": {"ran": True}}
        jobs.redis.set(_k("job", job.id), json.dumps(done))
        busy.release()

    other = threading.Thread(target=finished_elsewhere, daemon=True)
    other.start()
    worker_redis = RedisJobs(redis_server.url).redis
    SimpleWorker([Queue(QUEUE, connection=worker_redis)], connection=worker_redis).work(burst=True)
    other.join(10)
    assert RUNS == []
    final = jobs.get(job.id)
    assert (final.state, final.attempts) == ("done", 1), final


def test_a_job_that_rode_out_a_redis_restart_keeps_its_clip_and_the_next_waits(tmp_path: Path):
    """Redis down longer than the clip lock's TTL (a restart; 1 s here) and the running job
    rides it out: its lock had expired meanwhile, and the next job on the clip ran alongside."""
    from services import Redis

    redis_server = Redis(root=tmp_path / "redis", persist=True).start()
    try:
        with slow_workers(redis_server, tmp_path) as start:
            for name in ("w1", "w2"):
                start(name)
            jobs, spans, key = RedisJobs(redis_server.url), tmp_path / "spans.jsonl", "1:clip:forward"
            wait_until(lambda: len(jobs.redis.smembers("rq:workers")) == 2, timeout=60, what="two workers")
            first = jobs.submit("sleep", key, {"seconds": 8, "name": "first", "log": str(spans)}, order=0)
            wait_until(lambda: jobs.get(first.id).state == "running", timeout=30, what="the first job to run")
            redis_server.restart(down_for=2.5)
            time.sleep(1)  # the first job's heartbeat is back
            second = jobs.submit("sleep", key, {"seconds": 0.5, "name": "second", "log": str(spans)}, order=5)
            assert ended(jobs, second, "the second job to end") == "done"
            assert ended(jobs, first, "the first job to end") == "done"
            ran = spans_of(spans)
            assert ran["second"]["start"] >= ran["first"]["end"], "the second job ran alongside the first"
    finally:
        redis_server.stop()


def test_a_heartbeat_that_returns_after_its_job_released_the_clip_leaves_the_clip_free(redis_server):
    # A beat stalled past the job's wait for it (Redis away, retried) came back after the job
    # had released its clip lock, found it free and "took it back" with a new token: the clip
    # stayed locked by no job for ALIVE_TTL, and the next job on it waited that long.
    from samvid import redis_jobs

    connection = redis_jobs.redis_client(redis_server.url)
    released = threading.Event()

    class Stalling:
        beats = 0

        def set(self, *args, **kwargs):
            self.beats += 1
            if self.beats == 2:
                released.wait(10)
            return connection.set(*args, **kwargs)

    stalling = Stalling()
    lock = connection.lock("samvid-test:clip", timeout=redis_jobs.ALIVE_TTL, thread_local=False)
    stop, turn = threading.Event(), threading.Lock()
    assert lock.acquire(blocking_timeout=1)
    beat = threading.Thread(target=redis_jobs._heartbeat, args=(stalling, "job1", lock, stop, turn))
    beat.start()
    wait_until(lambda: stalling.beats >= 2, 10, "the second heartbeat")
    with turn:  # as the job ends
        stop.set()
    redis_jobs._release(lock, "job1", "clip")
    released.set()
    beat.join(10)
    assert not beat.is_alive()
    assert connection.get("samvid-test:clip") is None


def test_a_job_waiting_for_its_busy_clip_does_not_hold_up_another_clip(workers, tmp_path: Path):
    # One worker runs clip X's long job; the other took X's next job and, waiting in it for
    # the clip, ran nothing else: clip Y's job waited for clip X's first job to end.
    jobs, spans = workers, tmp_path / "spans.jsonl"
    first = jobs.submit("sleep", "1:X:forward", {"seconds": 6, "name": "X first", "log": str(spans)}, order=0)
    wait_until(lambda: jobs.get(first.id).state == "running", timeout=30, what="clip X's first job to run")
    second = jobs.submit("sleep", "1:X:forward", {"seconds": 0.5, "name": "X second", "log": str(spans)}, order=5)
    wait_until(lambda: jobs.redis.exists(f"samvid:alive:{second.id}"), timeout=30, what="a worker to take it")
    other = jobs.submit("sleep", "1:Y:forward", {"seconds": 0.5, "name": "Y", "log": str(spans)}, order=0)
    for status in (first, second, other):
        assert ended(jobs, status, "the jobs to end") == "done"
    ran = spans_of(spans)
    assert ran["Y"]["end"] < ran["X first"]["end"], "clip Y's job waited for clip X's"
    assert ran["X second"]["start"] >= ran["X first"]["end"]
    assert jobs.get(second.id).attempts == 1


def test_the_jobs_of_a_busy_clip_run_in_the_order_they_came_while_other_clips_run(workers, tmp_path: Path):
    # Workers put a job whose clip is busy back on the queue: one submitted later must not
    # overtake it there (a propagation from frame 20 after the one from frame 10).
    jobs, spans, key = workers, tmp_path / "spans.jsonl", "1:clip:forward"
    first = jobs.submit("sleep", key, {"seconds": 5, "name": "0", "log": str(spans)}, order=0)
    wait_until(lambda: jobs.get(first.id).state == "running", timeout=30, what="the first job to run")
    following = []
    for n in range(1, 5):
        following.append(jobs.submit("sleep", key, {"seconds": 0.2, "name": str(n), "log": str(spans)}, order=n))
        jobs.submit("sleep", f"1:other{n}:forward", {"seconds": 0.2, "name": f"other{n}", "log": str(spans)})
        time.sleep(0.6)
    for status in (first, *following):
        assert ended(jobs, status, "the clip's jobs to end") == "done"
    ran = spans_of(spans)
    order = sorted((span["start"], name) for name, span in ran.items() if not name.startswith("other"))
    assert [name for _, name in order] == ["0", "1", "2", "3", "4"]
    for n in range(1, 5):
        assert ran[str(n)]["start"] >= ran[str(n - 1)]["end"]
    wait_until(lambda: len(spans_of(spans)) == 9, timeout=30, what="the other clips' jobs to end")
    assert all(spans_of(spans)[f"other{n}"]["end"] < ran["0"]["end"] for n in range(1, 3))
    assert not jobs.redis.zcard(f"samvid:line:{key}"), "ended jobs left in the clip's line"
    from rq import Worker

    # Putting a job back is no failure: rq counted one each time (thousands a day in rq info).
    assert [w.failed_job_count for w in Worker.all(connection=jobs.redis)] == [0, 0]


def test_a_job_cancelled_in_rq_itself_holds_none_of_its_clips_later_jobs_back(redis_server, tmp_path: Path):
    # First in its clip's line, a job cancelled through RQ (a dashboard, rq cancel) read
    # "queued" for ever, and every later job of the clip waited behind it.
    from rq.job import Job

    jobs, spans, key = RedisJobs(redis_server.url), tmp_path / "spans.jsonl", "1:clip:forward"
    first = jobs.submit("sleep", key, {"seconds": 0.5, "name": "first", "log": str(spans)}, order=0)
    gone = jobs.submit("sleep", key, {"seconds": 0.5, "name": "gone", "log": str(spans)}, order=5)
    last = jobs.submit("sleep", key, {"seconds": 0.5, "name": "last", "log": str(spans)}, order=9)
    Job.fetch(gone.id, connection=jobs.redis).cancel()
    with slow_workers(redis_server, tmp_path) as start:
        start("w1")
        assert ended(jobs, last, "the clip's last job to end") == "done"
        assert ended(jobs, first, "the first job to end") == "done"
        assert jobs.get(gone.id).state == "cancelled"
        assert "gone" not in spans_of(spans)


def test_a_job_deleted_from_rq_holds_none_of_its_clips_later_jobs_back(redis_server, monkeypatch):
    # First in its clip's line, a job whose RQ entry was deleted (a dashboard, rq empty,
    # eviction) never runs; the clip's later jobs waited behind it for the reapers' grace
    # (minutes), put back on the queue again and again.
    from rq import Queue, SimpleWorker
    from rq.job import Job

    from samvid.jobs import RUNNERS
    from samvid.redis_jobs import QUEUE

    monkeypatch.setitem(RUNNERS, "recorded", f"{__name__}:recorded_job")
    RUNS.clear()
    jobs, key = RedisJobs(redis_server.url), "1:clip:forward"
    lost = jobs.submit("recorded", key, {"name": "lost"}, order=0)
    later = jobs.submit("recorded", key, {"name": "later"}, order=5)
    Job.fetch(lost.id, connection=jobs.redis).delete()
    worker_redis = RedisJobs(redis_server.url).redis
    SimpleWorker([Queue(QUEUE, connection=worker_redis)], connection=worker_redis).work(burst=True, max_jobs=3)
    assert jobs.get(later.id).state == "done"
    assert RUNS == [{"name": "later"}]
