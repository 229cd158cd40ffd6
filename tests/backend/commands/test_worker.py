"""``samvid worker`` (samvid.commands.worker) as a user starts it, in this process."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from samvid.cli import main
from samvid.jobs import DONE, RUNNERS
from samvid.settings import Settings

pytestmark = pytest.mark.redis


def settings_job(payload: dict[str, Any], ctx: Any, settings: Settings) -> dict[str, Any]:
    """What a job is given: its Redis and the Label Studio token."""
    return {"redis_url": settings.redis_url, "token": settings.label_studio_api_key}


def retrying_threads() -> set[Any]:
    """The threads of a worker that talk to Redis on their own: rq's command listener, the reaper."""
    import threading

    from redis.client import PubSubWorkerThread

    return {t for t in threading.enumerate() if isinstance(t, PubSubWorkerThread) or t.name == "samvid-reaper"}


def test_a_worker_given_only_redis_url_runs_its_jobs_with_that_redis_and_the_setup_token(
        redis_server, monkeypatch) -> None:
    from samvid.redis_jobs import RedisJobs
    from samvid.studio.credentials import SharedCredentials, StudioCredentials

    monkeypatch.setitem(RUNNERS, "settings", f"{__name__}:settings_job")
    # Empty, not deleted: monkeypatch then also undoes the URL the worker puts there.
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    # The token a backend learned from Label Studio's /setup, shared through Redis.
    SharedCredentials(redis_server.url).publish(StudioCredentials("http://127.0.0.1:8080", "from-setup"))
    jobs = RedisJobs(redis_server.url)
    job = jobs.submit("settings", "1:clip", {})
    assert main(["worker", "--redis-url", redis_server.url, "--burst", "--name", "flag-only"]) == 0
    status = jobs.get(job.id)
    assert status.state == DONE, status
    assert status.result == {"redis_url": redis_server.url, "token": "from-setup"}
    assert os.environ["REDIS_URL"] == "", "the caller's environment is as it was"


def test_a_worker_that_cannot_reach_redis_says_so_without_its_password(monkeypatch, capsys) -> None:
    import redis

    from samvid import redis_jobs

    class Unreachable:
        def __init__(self, url: str, patient: bool = True) -> None:
            self.redis = self

        def ping(self) -> None:
            raise redis.ConnectionError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(redis_jobs, "RedisJobs", Unreachable)
    assert main(["worker", "--redis-url", "redis://:s3cret-pw@redis:6379/0", "--burst"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach Redis at redis://:***@redis:6379/0" in err
    assert "s3cret-pw" not in err


def test_a_worker_given_a_redis_url_redis_py_cannot_read_says_so_in_a_line(monkeypatch, capsys) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["worker", "--redis-url", "redis://:s3cret-pw@127.0.0.1:99999/0", "--burst"]) == 2
    err = capsys.readouterr().err
    assert "REDIS_URL='redis://:***@127.0.0.1:99999/0' (or samvid worker --redis-url) is not usable: " in err
    assert "Port out of range 0-65535" in err
    assert "s3cret-pw" not in err and "Traceback" not in err


def test_a_worker_given_a_database_its_redis_does_not_have_names_the_database_not_the_network(
        redis_server, monkeypatch, capsys) -> None:
    """Redis was reached, and refused database 99 (it has 16 unless told otherwise):
    "cannot reach Redis" sent a user looking at the network."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    url = redis_server.url.removesuffix("/0") + "/99"
    assert main(["worker", "--redis-url", url, "--burst", "--name", "no-such-db"]) == 2
    err = capsys.readouterr().err
    assert f"Redis at {url} has databases 0 to 15 (its \"databases\" setting), no database 99: " \
           "give one of those in --redis-url" in err
    assert "cannot reach" not in err


def test_a_worker_given_a_database_past_what_a_user_without_config_may_count_suggests_a_lower_one(
        redis_server, monkeypatch, capsys) -> None:
    """A managed Redis often refuses CONFIG: the databases it has cannot be listed."""
    import redis

    monkeypatch.delenv("REDIS_URL", raising=False)
    redis.Redis.from_url(redis_server.url).acl_setuser(
        "limited", enabled=True, passwords=["+pw"], keys=["*"], channels=["*"], commands=["+@all", "-config"])
    url = redis_server.url.replace("redis://", "redis://limited:pw@").removesuffix("/0") + "/99"
    assert main(["worker", "--redis-url", url, "--burst", "--name", "no-config"]) == 2
    err = capsys.readouterr().err
    shown = url.replace(":pw@", ":***@")
    assert f"Redis at {shown} has no database 99 (how many it has is not known: CONFIG is refused to this " \
           "user); give a lower number in --redis-url, such as 0" in err


@pytest.mark.parametrize(("password", "given_as"), [("", "--redis-url"), ("wrong-pw", "REDIS_URL")])
def test_a_worker_whose_redis_wants_another_password_says_so_in_a_line(
        redis_server, monkeypatch, capsys, password: str, given_as: str) -> None:
    """Given none, redis-py's health check recursed inside its handshake: "maximum recursion
    depth exceeded" as if Redis were out of reach."""
    import redis

    redis.Redis.from_url(redis_server.url).config_set("requirepass", "x")
    url = redis_server.url.replace("redis://", f"redis://:{password}@") if password else redis_server.url
    if given_as == "REDIS_URL":
        monkeypatch.setenv("REDIS_URL", url)
        args = ["worker", "--burst", "--name", "wrong-pw"]
    else:
        monkeypatch.delenv("REDIS_URL", raising=False)
        args = ["worker", "--redis-url", url, "--burst", "--name", "no-pw"]
    assert main(args) == 2
    err = capsys.readouterr().err
    shown = url.replace(f":{password}@", ":***@") if password else url
    # The example is the URL's own: its host, port and database, a password in place.
    example = redis_server.url.replace("redis://", "redis://:PASSWORD@")
    assert f"Redis at {shown} wants a password (or refused this one): give it in {given_as} as {example}" in err
    assert "recursion" not in err and "cannot reach" not in err
    assert not password or password not in err


def test_a_worker_whose_redis_stops_answering_exits_failed_saying_so_and_its_reaper_gives_up_in_seconds(
        redis_server, monkeypatch, capsys, caplog) -> None:
    """rq quits when Redis does not answer within its socket timeout (~415 s; 11 s here): the
    worker then exited 0, as if stopped on purpose, and no job ran again. rq had raised that
    timeout on the reaper's client too, so each reap waited minutes instead of seconds."""
    import logging
    import signal
    import threading
    import time

    import redis
    import rq.worker

    from samvid import redis_jobs

    monkeypatch.setattr(rq.worker, "DEFAULT_WORKER_TTL", 16)  # rq's socket timeout: 11 s, its least
    # samvid's own timeout and reaping cadence short, so "gave up in seconds" (under 9 s)
    # and "waited on rq's timeout" (11 s or more) stay apart.
    monkeypatch.setattr(redis_jobs, "SOCKET_TIMEOUT", 2.0)
    monkeypatch.setattr(redis_jobs, "REAP_EVERY", 1.0)
    monkeypatch.setenv("REDIS_URL", "")
    caplog.set_level(logging.WARNING, logger="samvid.worker")
    probe = redis.Redis.from_url(redis_server.url)
    silent_from: list[float] = []
    returned = threading.Event()

    def rq_quit() -> bool:
        return any("connection timeout" in r.getMessage() for r in list(caplog.records) if r.name == "rq.worker")

    def silence() -> None:
        deadline = time.monotonic() + 60
        while not probe.smembers("rq:workers") and time.monotonic() < deadline and not returned.is_set():
            time.sleep(0.2)
        time.sleep(1)
        os.kill(redis_server.proc.pid, signal.SIGSTOP)  # a frozen host: connections open, no answer
        silent_from.append(time.time())
        # Frozen until rq has given up on it (its 11 s), 22 s at most: its goodbye then waits
        # for Redis to answer again, as it did when the freeze simply outlasted rq's timeout.
        deadline = time.monotonic() + 22
        while time.monotonic() < deadline and not returned.is_set() and not rq_quit():
            time.sleep(0.1)
        os.kill(redis_server.proc.pid, signal.SIGCONT)

    thread = threading.Thread(target=silence, daemon=True)
    thread.start()
    try:
        code = main(["worker", "--redis-url", redis_server.url, "--name", "silent"])
    finally:
        returned.set()
        thread.join(60)
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    assert code == 2
    assert "the worker stopped taking jobs" in capsys.readouterr().err
    failed_reaps = [r.created for r in caplog.records if "reaping orphaned jobs failed" in r.getMessage()]
    assert failed_reaps, "the reaper never gave up on the silent Redis"
    assert failed_reaps[0] - silent_from[0] < redis_jobs.SOCKET_TIMEOUT + 7, "a reap waited on rq's long timeout"


# rq's worker TTL (420 s) at 3 s and samvid's heartbeat to RQ every 0.5 s: a job of 6 s
# outlives the TTL as a propagation of a long clip outlives 7 minutes.
SHORT_TTL_WORKER = """
import sys
sys.path.insert(0, {backend_tests!r})
import rq.worker
rq.worker.DEFAULT_WORKER_TTL = 3
import samvid.commands.worker
samvid.commands.worker.RQ_BEAT = 0.5
import slow_worker
from samvid.cli import main
sys.exit(main(["worker", *sys.argv[1:]]))
"""


def test_a_job_that_outlives_rqs_worker_ttl_is_not_failed_by_rq_while_it_runs(redis_server, tmp_path) -> None:
    """rq's maintenance (any worker's, every 10 min) moved a job running past rq's worker
    TTL to RQ's failed jobs as abandoned, where it stayed once done, and dropped its worker."""
    import time
    from pathlib import Path

    from rq.registry import FailedJobRegistry, StartedJobRegistry
    from rq.worker_registration import clean_worker_registry
    from services import wait_until, worker_processes

    from samvid.redis_jobs import RedisJobs

    code = SHORT_TTL_WORKER.format(backend_tests=str(Path(__file__).parents[1]))
    with worker_processes(["-c", code], {"REDIS_URL": redis_server.url}, tmp_path) as start:
        start("long")
        jobs = RedisJobs(redis_server.url)
        wait_until(lambda: jobs.redis.smembers("rq:workers"), timeout=60, what="the worker")
        job = jobs.submit("sleep", "1:clip", {"seconds": 6, "name": "long", "log": str(tmp_path / "spans")})
        wait_until(lambda: jobs.get(job.id).state == "running", timeout=30, what="the job to run")
        time.sleep(4.5)  # past rq's TTL
        StartedJobRegistry(queue=jobs.queue).cleanup()  # rq's maintenance
        clean_worker_registry(jobs.queue)
        assert FailedJobRegistry(queue=jobs.queue).get_job_ids() == []
        assert jobs.redis.smembers("rq:workers"), "rq forgot the worker running the job"
        assert wait_until(lambda: (s := jobs.get(job.id).state) in ("done", "failed") and s, timeout=30,
                          what="the job to end") == "done"
        assert FailedJobRegistry(queue=jobs.queue).get_job_ids() == []
    assert "Traceback" not in (tmp_path / "long.log").read_text()


def test_a_burst_worker_whose_redis_stops_answering_part_way_exits_failed_not_as_if_the_queue_were_empty(
        redis_server, monkeypatch, capsys) -> None:
    """``--burst`` exits 0 once the queue is empty; rq also quits on a Redis that does not
    answer. A script reading exit 0 then took jobs left on the queue as run."""
    import signal

    import rq.worker

    import samvid.redis_jobs
    from samvid.redis_jobs import RedisJobs

    monkeypatch.setitem(RUNNERS, "settings", f"{__name__}:settings_job")
    monkeypatch.setenv("REDIS_URL", "")
    # Redis's answer waited for 1 s, not rq's ~415 s (its socket timeout; 11 s at least).
    monkeypatch.setattr(samvid.redis_jobs, "SOCKET_TIMEOUT", 1.0)
    monkeypatch.setattr(rq.worker.BaseWorker, "connection_timeout", property(lambda self: 1))
    jobs = RedisJobs(redis_server.url)
    # Stopping the fixture's process freezes the worker's Redis only if that process answers
    # the URL: with its port taken by another redis-server (another suite on the machine),
    # nothing froze, the worker ran both jobs and exited 0, which read as this bug.
    assert jobs.redis.info("server")["process_id"] == redis_server.proc.pid, \
        f"{redis_server.url} is answered by another redis-server than the one this test started"
    jobs.queue.empty()
    first, second = jobs.submit("settings", "1:a", {}), jobs.submit("settings", "1:b", {})
    take = rq.worker.SimpleWorker.dequeue_job_and_maintain_ttl
    taken: list[str | None] = []  # what each take got: a job's id, None (the queue read empty), "frozen"

    def frozen_at_the_second_take(self, *args, **kwargs):
        if len(taken) != 1:
            got = take(self, *args, **kwargs)
            taken.append(got[0].id if got is not None else None)
            return got
        taken.append("frozen")
        os.kill(redis_server.proc.pid, signal.SIGSTOP)  # a frozen host: connections open, no answer
        try:
            return take(self, *args, **kwargs)
        finally:
            os.kill(redis_server.proc.pid, signal.SIGCONT)

    monkeypatch.setattr(rq.worker.SimpleWorker, "dequeue_job_and_maintain_ttl", frozen_at_the_second_take)
    code = main(["worker", "--redis-url", redis_server.url, "--burst", "--name", "cut-short"])
    # The case tested: the first job run, then the Redis frozen as the worker takes the next.
    # A queue read empty at the first take means something else on this Redis took the jobs
    # (a worker left running by another test), not a worker mistaking a frozen Redis for done.
    assert taken == [first.id, "frozen"], f"not the case tested: the worker's takes got {taken}"
    assert code == 2
    assert "the worker stopped taking jobs" in capsys.readouterr().err
    assert jobs.get(first.id).state == DONE and second.id in jobs.queue.job_ids


def test_a_worker_whose_redis_is_still_away_as_it_quits_says_why_without_a_traceback(
        redis_server, monkeypatch, capsys) -> None:
    import signal

    import rq.worker

    import samvid.redis_jobs

    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setattr(samvid.redis_jobs, "SOCKET_TIMEOUT", 1.0)
    monkeypatch.setattr(rq.worker.BaseWorker, "connection_timeout", property(lambda self: 1))
    take = rq.worker.SimpleWorker.dequeue_job_and_maintain_ttl

    def frozen(self, *args, **kwargs):
        os.kill(redis_server.proc.pid, signal.SIGSTOP)  # frozen for good: rq's goodbye gets no answer
        return take(self, *args, **kwargs)

    monkeypatch.setattr(rq.worker.SimpleWorker, "dequeue_job_and_maintain_ttl", frozen)
    before = retrying_threads()
    try:
        assert main(["worker", "--redis-url", redis_server.url, "--burst", "--name", "never-answered"]) == 2
        # rq's command listener, left waiting on the frozen Redis, logged its retries into the
        # tests that ran after this one.
        left = retrying_threads() - before
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    err = capsys.readouterr().err
    assert "the worker stopped taking jobs" in err and "Traceback" not in err
    assert not left, f"the worker's threads still wait on Redis after it returned: {left}"


def test_a_burst_worker_whose_redis_refuses_connections_as_it_takes_a_job_exits_failed_in_bounded_time(
        tmp_path, monkeypatch, capsys) -> None:
    """rq retries a refused Redis for ever while it takes a job: a worker waiting for jobs
    rides out a restart so, but ``--burst`` run by a script never ended. Then each command
    it made after Redis went away (the take, rq's goodbye) rode out ~40 s: it exited after 80 s,
    and rq's thread listening for commands went on retrying, and logging, after it returned."""
    import signal
    import threading

    import rq.queue
    from services import Redis

    from samvid.redis_jobs import RedisJobs

    monkeypatch.setitem(RUNNERS, "settings", f"{__name__}:settings_job")
    monkeypatch.setenv("REDIS_URL", "")
    server = Redis(root=tmp_path / "redis").start()  # its own: this test stops it for good
    try:
        jobs = RedisJobs(server.url)
        jobs.submit("settings", "1:a", {})
        jobs.submit("settings", "1:b", {})
        take = rq.queue.Queue.dequeue_any.__func__
        takes: list[int] = []

        def refused_at_the_second_take(cls, *args, **kwargs):
            takes.append(1)
            if len(takes) == 2:
                server.stop()
            return take(cls, *args, **kwargs)

        monkeypatch.setattr(rq.queue.Queue, "dequeue_any", classmethod(refused_at_the_second_take))
        stuck: list[bool] = []

        def give_up(signum: int, frame: object) -> None:
            stuck.append(True)
            raise RuntimeError("still running")  # out of rq's loop, which retries ConnectionError only

        # rq installs its signal handlers, so the worker runs in this (the main) thread.
        before = signal.signal(signal.SIGUSR1, give_up)
        before_threads = retrying_threads()
        watchdog = threading.Timer(45, signal.pthread_kill, (threading.main_thread().ident, signal.SIGUSR1))
        watchdog.start()
        try:
            code = main(["worker", "--redis-url", server.url, "--burst", "--name", "refused"])
        finally:
            watchdog.cancel()
            signal.signal(signal.SIGUSR1, before)
    finally:
        server.stop()
    # ~15 s measured (rq's goodbye, its listener stopping), 80 s before: bounded, not timed.
    assert not stuck, "the --burst worker still ran 45 s after Redis went away"
    assert code == 2
    assert "the worker stopped taking jobs" in capsys.readouterr().err
    left = retrying_threads() - before_threads
    assert not left, f"the worker's threads still retry Redis after it returned: {left}"


def test_a_worker_waiting_for_jobs_rides_out_a_redis_restart(tmp_path) -> None:
    """Not --burst: a supervisor-less worker keeps taking jobs once Redis is back."""
    import time
    from pathlib import Path

    from services import Redis, wait_until, worker_processes

    from samvid.redis_jobs import RedisJobs

    server = Redis(root=tmp_path / "redis").start()  # its own: this test restarts it
    slow_worker = str(Path(__file__).parents[1] / "slow_worker.py")
    try:
        with worker_processes([slow_worker], {"REDIS_URL": server.url}, tmp_path) as start:
            worker = start("patient")
            wait_until(lambda: RedisJobs(server.url).redis.smembers("rq:workers"), timeout=60, what="the worker")
            time.sleep(0.5)  # in rq's blocking wait for a job
            server.restart(down_for=3.0)
            jobs = RedisJobs(server.url)
            job = jobs.submit("sleep", "1:clip", {"seconds": 0.2, "name": "after", "log": str(tmp_path / "spans")})
            assert wait_until(lambda: (s := jobs.get(job.id).state) in ("done", "failed") and s, timeout=60,
                              what="the job sent after the restart") == "done"
            assert worker.poll() is None
    finally:
        server.stop()


def test_the_burst_help_says_how_the_worker_exits(capsys) -> None:
    """A script running ``--burst`` reads the status: 0 once the queue is empty, 2 on a lost Redis."""
    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "exit when the queue is empty: status 0" in help_text
    assert "or 2 if Redis cannot be reached or goes away" in help_text


def test_the_jobs_of_a_burst_worker_ride_out_a_redis_restart_its_own_commands_would_not(tmp_path) -> None:
    """A --burst worker's own client gives up in seconds (a script waits for it to end); the
    job it runs got that client too, and failed across a 5 s Redis restart that the same job
    in a waiting worker rides out."""
    import threading
    import time

    import redis
    from services import Redis

    from samvid.redis_jobs import patient_client, redis_client

    server = Redis(root=tmp_path / "redis", persist=True).start()
    try:
        workers = redis_client(server.url, patient=False)
        jobs = patient_client(workers)
        jobs.set("progress", 1)
        restarting = threading.Thread(target=server.restart, kwargs={"down_for": 5.0})
        restarting.start()
        time.sleep(1.0)  # Redis is down now
        with pytest.raises(redis.ConnectionError):
            workers.get("progress")
        assert jobs.incr("progress") == 2  # waited for the restart, then went on
        restarting.join()
    finally:
        server.stop()


def stop_lines(log: Path) -> list[str]:
    """What a worker said from the moment it was asked to stop: its log's lines from the first
    that mentions a stop, without their timestamps."""
    lines = [line.split(" ", 2)[2] for line in log.read_text().splitlines() if line[:2] == "20"]
    first = next((i for i, line in enumerate(lines) if "stop" in line), len(lines))
    return lines[first:]


@contextlib.contextmanager
def _running_a_slow_job(redis_server, tmp_path: Path, name: str, seconds: float) -> Iterator[tuple]:
    """A ``slow_worker.py`` worker logging to ``<name>.log``, running a job of ``seconds``:
    (the worker's process, the jobs, the job, the start of another worker)."""
    from services import wait_until, worker_processes

    from samvid.redis_jobs import RedisJobs

    slow_worker = str(Path(__file__).parents[1] / "slow_worker.py")
    with worker_processes([slow_worker], {"REDIS_URL": redis_server.url}, tmp_path) as start:
        worker = start(name)
        jobs = RedisJobs(redis_server.url)
        job = jobs.submit("sleep", f"1:{name}-stop", {"seconds": seconds, "name": name, "log": str(tmp_path / "spans")})
        wait_until(lambda: jobs.get(job.id).state == "running", timeout=60, what="the job to run")
        yield worker, jobs, job, start


def test_a_worker_asked_to_stop_while_a_job_runs_says_it_stops_once_that_job_ends(redis_server, tmp_path) -> None:
    """rq says nothing above its debug level: a Ctrl-C looked ignored while a long job ran on."""
    import signal

    with _running_a_slow_job(redis_server, tmp_path, "warm", seconds=2) as (worker, jobs, job, _):
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    assert jobs.get(job.id).state == DONE
    assert stop_lines(tmp_path / "warm.log") == [
        f"WARNING samvid.worker: stopping after job {job.id} ends (or at once when idle); Ctrl-C again, "
        "more than 1 s later, stops now and requeues it"]


def test_a_second_ctrl_c_stops_the_worker_at_once_in_a_line_and_the_next_worker_runs_the_job_again(
        redis_server, tmp_path) -> None:
    """rq drops a second signal within 1 s of the first without a word; one later stops the job
    part-way with rq's traceback of its own SystemExit, and the job's record read "running"
    until a reaper requeued it as "its worker died"."""
    import signal
    import time

    with _running_a_slow_job(redis_server, tmp_path, "cold", seconds=3) as (worker, jobs, job, start):
        worker.send_signal(signal.SIGINT)
        time.sleep(0.2)
        worker.send_signal(signal.SIGINT)  # within 1 s: rq drops it
        time.sleep(1.2)
        worker.send_signal(signal.SIGINT)
        assert worker.wait(10) == 0
        stopped = jobs.get(job.id)  # at once, not a reaper's ALIVE_TTL later
        assert (stopped.state, stopped.error) == ("queued", "its worker was stopped; requeued")
        assert stop_lines(tmp_path / "cold.log") == [
            f"WARNING samvid.worker: stopping after job {job.id} ends (or at once when idle); Ctrl-C again, "
            "more than 1 s later, stops now and requeues it",
            "WARNING samvid.worker: second stop signal ignored: less than 1 s after the first (send it again)",
            f"WARNING samvid.worker: stopping now: job {job.id} is stopped part-way",
            f"WARNING samvid.worker: job {job.id} requeued: the next worker runs it again"]
        assert "Traceback" not in (tmp_path / "cold.log").read_text()
        assert start("next", "--burst").wait(30) == 0
    finished = jobs.get(job.id)
    assert (finished.state, finished.error, finished.attempts) == (DONE, None, 2)
