"""The job queue's rules (samvid.jobs), on the thread queue with gated jobs:

- jobs with the same key (a clip) never run at the same time, and run in the order given;
- a job submitted again with the same ``order`` (the same request) supersedes the one
  before it: a running one is told to stop, a queued one never starts;
- a job with another ``order`` waits for the one before it and never cancels it;
- jobs on other keys run alongside.

The Redis queue's side of the same rules: ``test_redis_jobs_flag_only_the_same_start`` here,
and real workers in ``test_redis_lock.py``.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest
from services import free_port, wait_until

from samvid.errors import BadRequest, ConfigError, NotFound
from samvid.jobs import (
    CANCELLED,
    DONE,
    FAILED,
    PAYLOAD_VERSIONS,
    QUEUED,
    RUNNERS,
    RUNNING,
    ThreadJobs,
    run_payload,
)
from samvid.settings import Settings

GATES: dict[str, threading.Event] = {}
EVENTS: list[tuple[str, str]] = []  # (what, job name), in the order they happened
_events_lock = threading.Lock()


def _event(what: str, name: str) -> None:
    with _events_lock:
        EVENTS.append((what, name))


def gated_job(payload: dict[str, Any], ctx: Any, settings: Settings) -> dict[str, Any]:
    """Runs until its gate opens (``end``) or it is told to stop (``stop``)."""
    name = payload["name"]
    _event("start", name)
    if payload.get("fail"):
        raise RuntimeError(f"{name} broke")
    if payload.get("refuse"):
        raise BadRequest(f"{name} has no mask to propagate")
    while not GATES[name].wait(0.01):
        if ctx.cancelled():
            _event("stop", name)
            return {"stopped": name}
    _event("end", name)
    return {"ran": name}


@pytest.fixture
def jobs(monkeypatch):
    monkeypatch.setitem(RUNNERS, "gated", f"{__name__}:gated_job")
    assert sys.modules[__name__].gated_job is gated_job
    GATES.clear()
    EVENTS.clear()
    queue = ThreadJobs(Settings.from_env({}), workers=4)
    yield queue
    for gate in GATES.values():
        gate.set()
    queue._pool.shutdown(wait=True)


def submit(jobs: ThreadJobs, name: str, key: str = "1:clip:forward", order: int = 0, **payload: Any):
    GATES[name] = threading.Event()
    return jobs.submit("gated", key, {"name": name, **payload}, order=order)


def state(jobs: ThreadJobs, status, wanted: str) -> None:
    wait_until(lambda: jobs.get(status.id).state == wanted, timeout=10,
               what=f"job {status.id} to be {wanted} (is {jobs.get(status.id).state})")


def started(name: str) -> bool:
    return ("start", name) in EVENTS


def test_the_same_start_again_stops_the_running_job(jobs) -> None:
    first = submit(jobs, "first", order=0)
    wait_until(lambda: started("first"), timeout=10, what="first to start")
    second = submit(jobs, "second", order=0)
    state(jobs, first, CANCELLED)
    GATES["second"].set()
    state(jobs, second, DONE)
    assert EVENTS == [("start", "first"), ("stop", "first"), ("start", "second"), ("end", "second")]


def test_a_superseded_queued_job_never_starts(jobs) -> None:
    running = submit(jobs, "running", order=0)
    wait_until(lambda: started("running"), timeout=10, what="running to start")
    waiting = submit(jobs, "waiting", order=4)
    again = submit(jobs, "again", order=4)
    assert jobs.get(waiting.id).state in (QUEUED, CANCELLED)
    GATES["running"].set()
    state(jobs, running, DONE)  # another start: not cancelled by either
    GATES["again"].set()
    state(jobs, again, DONE)
    state(jobs, waiting, CANCELLED)
    assert not started("waiting")
    assert EVENTS == [("start", "running"), ("end", "running"), ("start", "again"), ("end", "again")]


def test_a_superseded_queued_job_reads_cancelled_at_once(jobs) -> None:
    """Not "queued" until the job running on the clip ends: a client polling it would wait
    for a job that never starts."""
    submit(jobs, "running", order=0)
    wait_until(lambda: started("running"), timeout=10, what="running to start")
    waiting = submit(jobs, "waiting", order=4)
    submit(jobs, "again", order=4)
    assert jobs.get(waiting.id).state == CANCELLED


def test_another_start_on_the_clip_waits_for_the_one_before(jobs) -> None:
    jobs_in_order = [submit(jobs, name, order=order) for name, order in (("a", 0), ("b", 7), ("c", 3))]
    wait_until(lambda: started("a"), timeout=10, what="a to start")
    for name in ("c", "b", "a"):  # opened in reverse: the order of runs is still a, b, c
        GATES[name].set()
    for status in jobs_in_order:
        state(jobs, status, DONE)
    assert EVENTS == [("start", "a"), ("end", "a"), ("start", "b"), ("end", "b"),
                      ("start", "c"), ("end", "c")]


def test_a_waiting_job_is_queued_until_the_clip_is_free(jobs) -> None:
    first = submit(jobs, "first", order=0)
    wait_until(lambda: started("first"), timeout=10, what="first to start")
    second = submit(jobs, "second", order=1)
    assert jobs.get(first.id).state == RUNNING
    threading.Event().wait(0.3)
    assert jobs.get(second.id).state == QUEUED and not started("second")
    GATES["first"].set()
    GATES["second"].set()
    state(jobs, second, DONE)


def propagation_job(payload: dict[str, Any], ctx: Any, settings: Settings) -> dict[str, Any]:
    """A gated job named by the propagation request's objects and frame limit."""
    return gated_job({"name": f"{','.join(payload['objects']) or 'all'}/{payload['frames']}"}, ctx, settings)


def test_only_the_same_propagation_request_again_supersedes(jobs, monkeypatch) -> None:
    from samvid.app import _submit
    from samvid.propagation import PropagationRequest

    monkeypatch.setitem(RUNNERS, "propagate", f"{__name__}:propagation_job")
    for name in ("all/0", "o1,o2/0", "o3/0", "o3/3"):
        GATES[name] = threading.Event()
    whole = _submit(jobs, PropagationRequest(1, "clip", 5))
    wait_until(lambda: started("all/0"), timeout=10, what="the first job to start")
    # The same frame for groups of objects, as the error for too many objects advises,
    # and for fewer frames: each waits its turn, none cancels the one before.
    groups = [_submit(jobs, PropagationRequest(1, "clip", 5, objects=objects, frames=frames))
              for objects, frames in ((("o1", "o2"), 0), (("o3",), 0), (("o3",), 3))]
    again = _submit(jobs, PropagationRequest(1, "clip", 5, objects=("o3",), frames=3))  # the same again
    for gate in GATES.values():
        gate.set()
    for status in (whole, *groups[:2]):
        state(jobs, status, DONE)
    state(jobs, groups[2], CANCELLED)
    state(jobs, again, DONE)


def test_propagations_of_one_clip_in_other_directions_wait_their_turn(jobs, monkeypatch) -> None:
    # A forward job from frame 0 and a backward one from frame 10 both write frames 1-9:
    # run together, their predictions would interleave frame by frame.
    from samvid.app import _submit
    from samvid.propagation import PropagationRequest

    monkeypatch.setitem(RUNNERS, "propagate", f"{__name__}:direction_job")
    for name in ("forward", "backward"):
        GATES[name] = threading.Event()
    forward = _submit(jobs, PropagationRequest(1, "clip", 0, direction="forward"))
    wait_until(lambda: started("forward"), timeout=10, what="the forward job to start")
    backward = _submit(jobs, PropagationRequest(1, "clip", 10, direction="backward"))
    state(jobs, backward, QUEUED)
    assert not started("backward")
    GATES["forward"].set()
    state(jobs, forward, DONE)
    GATES["backward"].set()
    state(jobs, backward, DONE)
    assert EVENTS.index(("end", "forward")) < EVENTS.index(("start", "backward"))


def forward_again() -> list:
    """Frame 10 saved, a backward propagation from frame 30, then frame 10 saved again."""
    from samvid.propagation import PropagationRequest

    return [PropagationRequest(1, "clip", 10, direction="forward"),
            PropagationRequest(1, "clip", 30, direction="backward"),
            PropagationRequest(1, "clip", 10, direction="forward")]


def test_the_same_propagation_again_supersedes_it_across_a_job_in_another_direction(jobs, monkeypatch) -> None:
    from samvid.app import _submit

    monkeypatch.setitem(RUNNERS, "propagate", f"{__name__}:direction_job")
    for name in ("forward", "backward"):
        GATES[name] = threading.Event()
    first = _submit(jobs, forward_again()[0])
    wait_until(lambda: started("forward"), timeout=10, what="the first job to start")
    for request in forward_again()[1:]:
        _submit(jobs, request)
    state(jobs, first, CANCELLED)


def test_the_same_propagation_again_supersedes_it_across_a_redis_job_in_another_direction(redis_server) -> None:
    from samvid.app import _submit
    from samvid.redis_jobs import RedisJobs

    queue = RedisJobs(redis_server.url)
    first, other, again = (_submit(queue, request) for request in forward_again())
    assert [queue.get(j.id).state for j in (first, other, again)] == [CANCELLED, QUEUED, QUEUED]


def direction_job(payload: dict[str, Any], ctx: Any, settings: Settings) -> dict[str, Any]:
    """A gated job named by the propagation request's direction."""
    return gated_job({"name": payload["direction"]}, ctx, settings)


def test_a_clip_whose_jobs_wait_their_turn_does_not_hold_up_another_clip(monkeypatch) -> None:
    monkeypatch.setitem(RUNNERS, "gated", f"{__name__}:gated_job")
    GATES.clear()
    EVENTS.clear()
    queue = ThreadJobs(Settings.from_env({}), workers=2)  # the server's pool size
    try:
        busy = [submit(queue, name, key="1:a:forward", order=order) for name, order in (("a5", 5), ("a2", 2))]
        wait_until(lambda: started("a5"), timeout=10, what="a5 to start")
        other = submit(queue, "b", key="1:b:forward")
        wait_until(lambda: started("b"), timeout=10, what="clip b's job to start while a2 waits")
        assert queue.get(busy[1].id).state == QUEUED
        for gate in GATES.values():
            gate.set()
        for status in (*busy, other):
            state(queue, status, DONE)
    finally:
        for gate in GATES.values():
            gate.set()
        queue._pool.shutdown(wait=True)


def exiting_job(payload: dict[str, Any], ctx: Any, settings: Settings) -> dict[str, Any]:
    raise SystemExit(3)  # a library's sys.exit


def finished_job(payload: dict[str, Any], ctx: Any, settings: Settings) -> dict[str, Any]:
    return {"ran": True}


def test_a_job_that_raises_system_exit_fails_and_its_thread_runs_the_next_job(monkeypatch) -> None:
    # The job thread died with it: the job read "running" for ever, and with the pool's only
    # thread gone every later job, of any clip, stayed queued.
    monkeypatch.setitem(RUNNERS, "exiting", f"{__name__}:exiting_job")
    monkeypatch.setitem(RUNNERS, "finished", f"{__name__}:finished_job")
    jobs = ThreadJobs(Settings.from_env({}), workers=1)
    exiting = jobs.submit("exiting", "1:a:forward", {})
    state(jobs, exiting, FAILED)
    later = jobs.submit("finished", "1:b:forward", {})
    state(jobs, later, DONE)


def test_other_clips_run_alongside(jobs) -> None:
    left = submit(jobs, "left", key="1:left:forward")
    right = submit(jobs, "right", key="1:right:forward")
    wait_until(lambda: started("left") and started("right"), timeout=10, what="both clips to run")
    GATES["left"].set()
    GATES["right"].set()
    state(jobs, left, DONE)
    state(jobs, right, DONE)


def test_cancelling_a_queued_job_ends_it_at_once_and_it_never_runs(jobs) -> None:
    first = submit(jobs, "first")
    wait_until(lambda: started("first"), timeout=10, what="first to start")
    waiting = submit(jobs, "waiting", order=2)
    assert jobs.cancel(waiting.id).state == CANCELLED
    GATES["first"].set()
    state(jobs, first, DONE)
    threading.Event().wait(0.2)
    assert jobs.get(waiting.id).state == CANCELLED and not started("waiting")
    assert jobs.states()[CANCELLED] == 1 and jobs.states()[DONE] == 1


def test_a_failed_job_is_reported_and_frees_the_clip(jobs) -> None:
    broken = submit(jobs, "broken", fail=True)
    after = submit(jobs, "after", order=1)
    state(jobs, broken, FAILED)
    assert jobs.get(broken.id).error == "broken broke"
    GATES["after"].set()
    state(jobs, after, DONE)


def test_a_job_failing_for_a_reason_the_user_can_fix_logs_the_reason_without_a_traceback(jobs, caplog) -> None:
    refused = submit(jobs, "refused", refuse=True)
    broken = submit(jobs, "broken", key="1:other:forward", fail=True)
    state(jobs, refused, FAILED)
    state(jobs, broken, FAILED)
    logged = {r.getMessage(): r for r in caplog.records if r.name == "samvid.jobs"}
    assert logged[f"job {refused.id} failed: refused has no mask to propagate"].exc_info is None
    assert logged[f"job {broken.id} failed"].exc_info, "a bug in a job keeps its traceback"


def test_an_unknown_job_is_not_found(jobs) -> None:
    with pytest.raises(NotFound):
        jobs.get("nope")


def test_a_job_forgotten_while_it_is_cancelled_is_not_found(monkeypatch) -> None:
    """A finished job can be forgotten (the queue keeps the newest ``keep``) by another
    request at any moment, also halfway through cancelling it: that is "not found"
    (HTTP 404), never a KeyError (HTTP 500)."""
    monkeypatch.setitem(RUNNERS, "gated", f"{__name__}:gated_job")
    queue = ThreadJobs(Settings.from_env({}), workers=1, keep=1)
    try:
        GATES["old"] = GATES["new"] = threading.Event()
        GATES["old"].set()
        old = queue.submit("gated", "1:a:forward", {"name": "old"})
        state(queue, old, DONE)
        lookup = queue.get

        def lookup_then_forget(job_id: str):
            found = lookup(job_id)
            queue.submit("gated", "1:b:forward", {"name": "new"})  # forgets the old job
            return found

        monkeypatch.setattr(queue, "get", lookup_then_forget)
        try:
            assert queue.cancel(old.id).state == DONE  # still known: cancelling it is a no-op
        except NotFound:
            pass
    finally:
        queue._pool.shutdown(wait=True)


@pytest.mark.redis
def test_redis_jobs_flag_only_the_same_start(redis_server) -> None:
    """RedisJobs.submit marks the job before it cancelled only for the same key and order
    (its workers honour the flag: see test_redis_lock.py)."""
    from samvid.redis_jobs import RedisJobs

    queue = RedisJobs(redis_server.url)

    def flagged(job) -> bool:
        return bool(queue.redis.exists(f"samvid:cancel:{job.id}"))

    first = queue.submit("gated", "1:clip:forward", {}, order=0)
    other_start = queue.submit("gated", "1:clip:forward", {}, order=5)
    assert not flagged(first)  # another start frame: it waits, it is not cancelled
    other_clip = queue.submit("gated", "1:other:forward", {}, order=5)
    assert not flagged(other_start)  # same order, other clip
    again = queue.submit("gated", "1:clip:forward", {}, order=5)
    assert flagged(other_start) and not flagged(first) and not flagged(other_clip)
    assert queue.get(again.id).state == QUEUED and len(queue.queue) == 4


@pytest.mark.redis
def test_a_superseded_queued_redis_job_reads_cancelled_at_once(redis_server) -> None:
    """Not "queued" until a worker is free to take it and find it superseded."""
    from samvid.redis_jobs import RedisJobs

    queue = RedisJobs(redis_server.url)
    first = queue.submit("gated", "1:clip:forward", {}, order=5)
    again = queue.submit("gated", "1:clip:forward", {}, order=5)
    assert (queue.get(first.id).state, queue.get(again.id).state) == (CANCELLED, QUEUED)


@pytest.mark.redis
def test_the_same_redis_request_submitted_twice_at_once_runs_once(redis_server) -> None:
    """Two identical webhooks on two server threads: the first submit is still writing its
    record when the second one arrives. One of the two is superseded, whichever."""
    from samvid.redis_jobs import RedisJobs

    first_queue, second_queue = RedisJobs(redis_server.url), RedisJobs(redis_server.url)
    writing, second_done = threading.Event(), threading.Event()
    save = first_queue._save

    def paused_save(status) -> None:
        writing.set()
        second_done.wait(10)
        save(status)

    first_queue._save = paused_save  # type: ignore[method-assign]
    submitted: list = []
    thread = threading.Thread(target=lambda: submitted.append(
        first_queue.submit("gated", "1:clip", {}, order="same request")))
    thread.start()
    assert writing.wait(10)
    second = second_queue.submit("gated", "1:clip", {}, order="same request")
    second_done.set()
    thread.join(10)
    states = sorted(second_queue.get(job.id).state for job in (*submitted, second))
    assert states == [CANCELLED, QUEUED]


@pytest.mark.redis
def test_job_records_of_another_samvid_version_sharing_the_redis_read_and_reap(redis_server) -> None:
    """A rolling upgrade: a newer samvid's record has a field this one lacks, an older one's
    lacks fields this one has. Neither may crash a GET, a count or a reap."""
    import json

    from samvid.redis_jobs import RedisJobs, _k

    queue = RedisJobs(redis_server.url)
    newer = {"id": "newer", "kind": "propagate", "key": "1:clip", "state": DONE, "frames_done": 4,
             "frames_total": 4, "fps": 2.0, "error": None, "note": None, "result": {"frames_written": 4},
             "attempts": 1, "created": 1.0, "updated": 2.0, "worker": "host-7", "priority": 3}
    older = {"id": "older", "kind": "propagate", "key": "1:other", "state": FAILED, "error": "no mask"}
    queue.redis.set(_k("job", "newer"), json.dumps(newer))
    queue.redis.set(_k("job", "older"), json.dumps(older))
    assert queue.reap() == []
    assert (queue.get("newer").state, queue.get("newer").result) == (DONE, {"frames_written": 4})
    assert (queue.get("older").state, queue.get("older").error, queue.get("older").frames_done) == (
        FAILED, "no mask", 0)
    assert queue.states()[DONE] == 1 and queue.states()[FAILED] == 1


@pytest.mark.redis
def test_a_record_of_another_samvid_version_keeps_its_fields_when_this_version_saves_it(redis_server) -> None:
    """A rolling upgrade: an older worker runs a job a newer backend submitted (or the other
    way round); its progress, a cancel or a reap must not drop the other version's fields."""
    import json

    from samvid.redis_jobs import RedisJobs, _k, _RedisContext

    queue = RedisJobs(redis_server.url)
    running, waiting = queue.submit("propagate", "1:a", {}), queue.submit("propagate", "1:b", {})

    def saved(job_id: str) -> dict[str, Any]:
        return json.loads(queue.redis.get(_k("job", job_id)))

    for job_id, state_now in ((running.id, RUNNING), (waiting.id, QUEUED)):
        queue.redis.set(_k("job", job_id), json.dumps({**saved(job_id), "state": state_now, "stage": "tracking"}))
    _RedisContext(queue, queue._load(running.id)).progress(3, 10, 1.5)  # a worker of this version
    queue.cancel(waiting.id)  # a backend of this version
    assert (saved(running.id)["frames_done"], saved(running.id)["stage"]) == (3, "tracking")
    assert (saved(waiting.id)["state"], saved(waiting.id)["stage"]) == (CANCELLED, "tracking")
    assert "stage" not in queue.get(running.id).to_dict(), "the API answers the fields this version knows"


@pytest.mark.redis
def test_redis_jobs_submit_and_supersede_with_rq_2_0_which_starts_the_transaction_itself(
        redis_server, monkeypatch) -> None:
    """samvid asks for rq>=2.0, whose enqueue into a caller's pipeline always began MULTI
    (later ones only when the caller has not): every submit then failed with a 500."""
    from rq import Queue

    from samvid.redis_jobs import RedisJobs

    def as_rq_2_0(self, job, pipeline=None):  # rq 2.0's, for a job without dependencies
        if pipeline is not None:
            pipeline.multi()
        return job

    monkeypatch.setattr(Queue, "setup_dependencies", as_rq_2_0)
    queue = RedisJobs(redis_server.url)
    first = queue.submit("propagate", "1:clip", {}, order=1)
    again = queue.submit("propagate", "1:clip", {}, order=1)
    assert (queue.get(first.id).state, queue.get(again.id).state) == (CANCELLED, QUEUED)
    assert queue.queue.job_ids == [first.id, again.id]


@pytest.mark.redis
def test_a_job_in_a_state_another_samvid_version_has_is_counted_as_such(redis_server) -> None:
    import json

    from samvid.redis_jobs import RedisJobs, _k

    queue = RedisJobs(redis_server.url)
    queue.submit("propagate", "1:clip", {})
    queue.redis.set(_k("job", "newer"), json.dumps({"id": "newer", "kind": "propagate", "key": "1:c",
                                                   "state": "paused"}))
    assert queue.states() == {QUEUED: 1, RUNNING: 0, DONE: 0, FAILED: 0, CANCELLED: 0, "paused": 1}


def test_propagate_on_a_backend_that_forgot_its_job_says_so_and_exits_2(monkeypatch, images, capsys) -> None:
    from services import ServedApp

    from samvid.app import create_app
    from samvid.cli import main
    from samvid.models.standin import StandInSegmenter
    from samvid.predictor import Predictor

    monkeypatch.setitem(RUNNERS, "propagate", f"{__name__}:propagation_job")
    GATES.clear()
    EVENTS.clear()
    GATES["all/0"] = threading.Event()
    # A key, or the submit is refused: the job (patched) never calls Label Studio with it.
    settings = Settings.from_env({}, model="standin", local_roots=(images,), precompute_on_open=False,
                                 label_studio_api_key="t" * 40)
    app = create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter()))
    codes: list[int] = []
    with ServedApp(app) as served:
        command = threading.Thread(target=lambda: codes.append(main([
            "propagate", "--project", "1", "--clip", "c", "--from-frame", "0", "--backend-url", served.url])))
        command.start()
        wait_until(lambda: started("all/0"), timeout=30, what="the job to start")
        app.extensions["samvid.jobs"]._jobs.clear()  # as a restarted backend knows no job
        command.join(30)
        GATES["all/0"].set()
    assert codes == [2]
    assert "no longer knows job" in capsys.readouterr().err


@pytest.mark.parametrize("call", ["submit", "get", "cancel", "states"])
def test_a_redis_queue_out_of_reach_is_an_error_the_server_answers_503(call) -> None:
    # Past the client's retries (a restart is ridden out), not a 500 with a traceback.
    import redis

    from samvid.errors import QueueUnavailable
    from samvid.http_errors import http_status
    from samvid.redis_jobs import RedisJobs

    port = free_port()
    jobs = RedisJobs(f"redis://127.0.0.1:{port}/0")
    jobs.redis = redis.Redis(port=port, socket_connect_timeout=1)  # what the retries end in, at once
    args = {"submit": ("gated", "1:clip", {}), "get": ("x",), "cancel": ("x",), "states": ()}[call]
    with pytest.raises(QueueUnavailable, match="cannot reach the Redis job queue") as info:
        getattr(jobs, call)(*args)
    assert http_status(info.value) == 503


@pytest.mark.parametrize("call", ["submit", "get"])
def test_a_redis_that_takes_connections_but_never_answers_is_a_503_not_a_hang(call, monkeypatch) -> None:
    # A dropped network or a stopped container: the TCP handshake succeeds, no answer comes.
    import socket

    import samvid.redis_jobs
    from samvid.errors import QueueUnavailable

    monkeypatch.setattr(samvid.redis_jobs, "SOCKET_TIMEOUT", 0.3, raising=False)
    silent = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.extend(iter(lambda: silent.accept()[0], None)), daemon=True).start()
    jobs = samvid.redis_jobs.RedisJobs(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
    args = {"submit": ("gated", "1:clip", {}), "get": ("x",)}[call]
    raised: list[BaseException] = []

    def attempt() -> None:
        try:
            getattr(jobs, call)(*args)
        except BaseException as exc:  # noqa: BLE001 - what the caller sees, checked below
            raised.append(exc)

    caller = threading.Thread(target=attempt, daemon=True)
    caller.start()
    caller.join(10)
    silent.close()
    for connection in held:
        connection.close()
    assert not caller.is_alive(), f"{call} still waits for a Redis that never answers"
    assert len(raised) == 1 and isinstance(raised[0], QueueUnavailable), raised


def test_a_job_of_a_kind_this_samvid_does_not_run_fails_saying_what_to_do_without_a_traceback(jobs, caplog) -> None:
    """A backend newer than its workers queues a kind they lack: the job's error read
    "'<kind>'" and the log blamed a bug in samvid."""
    unknown = jobs.submit("track-everything", "1:clip:forward", {})
    state(jobs, unknown, FAILED)
    error = jobs.get(unknown.id).error or ""
    assert "'track-everything'" in error and "same samvid version" in error, error
    logged = [r for r in caplog.records if r.name == "samvid.jobs" and unknown.id in r.getMessage()]
    assert logged and all(r.exc_info is None for r in logged)


def echo_job(payload: dict[str, Any], ctx: Any, settings: Settings) -> dict[str, Any]:
    return {"read": payload}


def test_a_job_of_a_newer_samvid_fails_before_its_payload_is_read_saying_to_upgrade_the_workers(monkeypatch) -> None:
    """A backend upgraded before its workers: a propagation field the worker lacks failed the
    job as "unknown field(s) 'keep_ids': a propagation request takes ...", blaming the request."""
    newer = {"project": 1, "clip": "c", "frame": 3, "keep_ids": True, "payload_version": 2}
    with pytest.raises(ConfigError) as refused:
        run_payload("propagate", newer, None, Settings.from_env({}))  # type: ignore[arg-type]
    message = refused.value.message
    assert "made by a newer samvid" in message and "payload is version 2" in message, message
    assert "this samvid reads propagate payloads up to version 1" in message, message
    assert "upgrade the workers" in message and "submit the job again" in message, message
    monkeypatch.setitem(RUNNERS, "echo", f"{__name__}:echo_job")
    with pytest.raises(ConfigError, match="made by a newer samvid"):  # before the runner reads a field
        run_payload("echo", {"payload_version": 5}, None, Settings.from_env({}))  # type: ignore[arg-type]


@pytest.mark.parametrize("version", [{}, {"payload_version": 1}])
def test_a_job_of_this_version_reaches_its_runner_whether_or_not_it_says_its_version(monkeypatch, version) -> None:
    monkeypatch.setitem(RUNNERS, "echo", f"{__name__}:echo_job")
    payload = {"project": 1, **version}
    assert run_payload("echo", payload, None, Settings.from_env({})) == {"read": payload}  # type: ignore[arg-type]


def test_a_job_of_a_newer_samvid_fails_on_the_queue_and_its_runner_never_starts(jobs, caplog) -> None:
    newer = submit(jobs, "from-a-newer-backend", payload_version=2)
    state(jobs, newer, FAILED)
    assert "upgrade the workers" in (jobs.get(newer.id).error or "")
    assert not started("from-a-newer-backend")
    logged = [r for r in caplog.records if r.name == "samvid.jobs" and newer.id in r.getMessage()]
    assert logged and all(r.exc_info is None for r in logged)  # a message, not a bug's traceback


def test_every_job_kind_has_a_payload_version() -> None:
    assert set(PAYLOAD_VERSIONS) == set(RUNNERS)


def test_stopping_the_process_cancels_running_and_queued_jobs_and_says_so(jobs, caplog) -> None:
    running, waiting = submit(jobs, "a"), submit(jobs, "b", order=1)
    state(jobs, running, RUNNING)
    jobs.stop(grace=5)
    assert jobs.get(running.id).state == CANCELLED and jobs.get(waiting.id).state == CANCELLED
    assert not started("b"), "a queued job never starts once the process stops"
    assert f"stopping with 1 running and 1 queued job(s): cancelled (gated 1:clip:forward {running.id}" in caplog.text


STUCK_JOB = """
import sys, time
from samvid.jobs import RUNNERS, ThreadJobs
from samvid.settings import Settings

def stuck(payload, ctx, settings):
    time.sleep(60)  # waiting out an unreachable Label Studio: no cancellation check meanwhile

RUNNERS["stuck"] = "__main__:stuck"
jobs = ThreadJobs(Settings.from_env({}))
first = jobs.submit("stuck", "1:clip", {})
jobs.submit("stuck", "1:clip", {}, order=1)
while jobs.get(first.id).state != "running":
    time.sleep(0.01)
sys.exit(0)  # Ctrl-C or gunicorn stopping its worker: the interpreter exits
"""


def test_a_job_stuck_waiting_does_not_keep_a_stopping_backend_alive() -> None:
    import subprocess
    import time

    began = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", STUCK_JOB], capture_output=True, text=True, timeout=30)
    assert time.monotonic() - began < 20, "the process waited for its stuck job"
    assert proc.returncode == 0
    assert "stopping with 1 running and 1 queued job(s)" in proc.stderr
    assert "abandoning 1 job(s) still running" in proc.stderr


def test_a_propagation_cancelled_while_it_waits_out_label_studio_stops_without_waiting_it_all_out() -> None:
    settings = Settings.from_env({"LABEL_STUDIO_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens
                                  "LABEL_STUDIO_API_KEY": "x", "SAMVID_STUDIO_RETRY_SECONDS": "60"})
    queue = ThreadJobs(settings)
    job = queue.submit("propagate", "1:c", {"project": 1, "clip": "c", "frame": 0})
    wait_until(lambda: queue.get(job.id).note is not None, timeout=10, what="the job to wait for Label Studio")
    queue.cancel(job.id)
    # Within the next retry (the back-off's first delays are short), not after the minute.
    state(queue, job, CANCELLED)
    assert queue.get(job.id).error is None
