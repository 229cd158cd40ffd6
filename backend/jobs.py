"""Background jobs with progress and cancellation: threads by default, Redis + RQ at scale.

A job is a JSON payload run by ``samvid.jobs.run_payload`` (see ``RUNNERS``), keyed
by what it works on (a clip): jobs with the same key never run at the same time. A
new job supersedes (cancels) the one before it when both have the same ``order``
(for propagation: the same request, submitted again); otherwise it waits for the
one before it without holding a worker meanwhile: with threads in a per-clip line, with
Redis in the clip's line and lock (a worker puts a job whose clip is busy back on the
queue). A job from another frame is
never cancelled: it would leave frames unfilled that the new job cannot reach across a
human frame. Both queues report the same ``JobStatus`` so the HTTP layer does not care
which one runs.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import queue
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

from samvid.errors import BadRequest, ConfigError, NotFound, SamvidError
from samvid.settings import Settings

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINAL = {DONE, FAILED, CANCELLED}

# kind -> "module:function"; the function takes (payload, JobContext, Settings) -> dict.
RUNNERS = {"propagate": "samvid.propagation:run_job", "prelabel": "samvid.prelabel:run_job"}
# kind -> the version of its payload this samvid writes and reads. Bump a kind's version
# whenever its payload gains a field (PropagationRequest's REQUEST_KEYS, PrelabelRequest's
# fields) or a field a value older workers lack (a tracker engine, a prelabel mode, a
# direction): a worker then refuses a newer backend's job saying to upgrade it, where it
# failed the job as a bad request ("unknown field") or ran it without the new option. A number of
# the payload, not samvid's version: that is 0.1.0 at every commit, and a release that adds
# no field would have its jobs refused by every older worker.
PAYLOAD_VERSIONS = {"propagate": 1, "prelabel": 1}
VERSION_KEY = "payload_version"
# kind -> how its jobs are submitted again: told with a job a worker refuses as a newer samvid's
RESUBMIT = {"propagate": " (a webhook's: save its frame's annotation in Label Studio again)",
           "prelabel": " (run the same samvid prelabel command again)"}


def versioned(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` as this samvid queues it: with its version, from version 2 on. Version 1
    is written as none, as every samvid before versions wrote it: the workers of those
    releases refuse a propagation field they do not know, so a backend upgraded before its
    workers would have failed every webhook job they took for the version key alone."""
    version = PAYLOAD_VERSIONS[kind]
    return payload if version == 1 else {**payload, VERSION_KEY: version}


def payload_version(payload: Any) -> int:
    """The version a payload says it is (``versioned``); 1 when it says none."""
    value = payload.get(VERSION_KEY, 1) if isinstance(payload, dict) else 1
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON has one kind of number
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"{VERSION_KEY} must be a whole number from 1, not {value!r}")
    return value


def refuse_unknown_fields(payload: dict[str, Any], keys: tuple[str, ...], what: str) -> None:
    """BadRequest naming the fields of ``payload`` that ``what`` (a request of ``keys``) does
    not take, its version key aside: a misspelt option ("limit" for "frames"), or one this
    samvid lacks, would run another job than the one asked for."""
    unknown = sorted(str(key) for key in payload if key not in keys and key != VERSION_KEY)
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(map(repr, unknown))}: {what} takes {', '.join(keys)}")


def newer_than_this(kind: str, payload: Any) -> str | None:
    """What to say of a ``kind`` payload that a newer samvid made (one with fields this one
    cannot read), or None when this samvid reads it. Said before the payload is parsed: its
    fields would be refused as unknown, blaming the request, or run without the new ones."""
    version, mine = payload_version(payload), PAYLOAD_VERSIONS.get(kind, 1)  # a kind without an entry: 1
    if version <= mine:
        return None
    return (f"made by a newer samvid than this one (its {kind} payload is version {version}; this "
            f"samvid reads {kind} payloads up to version {mine})")


@dataclass
class JobStatus:
    id: str
    kind: str
    key: str
    state: str = QUEUED
    frames_done: int = 0
    frames_total: int = 0
    fps: float = 0.0
    error: str | None = None
    note: str | None = None  # what a running job is waiting for (Label Studio away), if anything
    result: dict[str, Any] | None = None
    attempts: int = 0
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    # The fields of a record saved by another samvid version that this one lacks: saved
    # back with it (see ``record``), or this version's next save (progress, a cancel, a
    # reap) dropped the other version's data during a rolling upgrade.
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The fields this version knows (what the HTTP API answers)."""
        data = asdict(self)
        del data["extra"]
        return data

    def record(self) -> dict[str, Any]:
        """What to store: the known fields, and those of another version read with them."""
        return {**self.extra, **self.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobStatus:
        """A record as saved by any samvid version: two versions share one Redis during a
        rolling upgrade, and a field one of them lacks crashed every reap and GET /jobs/<id>
        on the other. Fields this version does not know are kept aside in ``extra``;
        missing ones default."""
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{name: value for name, value in data.items() if name in known},
                   extra={name: value for name, value in data.items() if name not in known})


class JobContext(Protocol):
    """What a running job sees: a place to report progress and what it waits for, a
    cancellation flag."""

    def progress(self, frames_done: int, frames_total: int, fps: float) -> None: ...
    def note(self, text: str) -> None: ...
    def cancelled(self) -> bool: ...


def run_payload(
    kind: str, payload: dict[str, Any], ctx: JobContext, settings: Settings
) -> dict[str, Any]:
    if kind not in RUNNERS:
        # A backend newer than its workers queues a kind they lack: the error read "'<kind>'"
        # and the log blamed a bug in samvid.
        raise ConfigError(f"this samvid runs no jobs of kind {kind!r} (only {', '.join(sorted(RUNNERS))}): "
                          "run the same samvid version on the backend and its workers")
    newer = newer_than_this(kind, payload)
    if newer is not None:
        # A backend upgraded before its workers. Failed, not put back on the queue for a
        # newer worker: with none running, an old one would take it again and again.
        raise ConfigError(f"this job was {newer}: upgrade the workers (`samvid worker`) to the samvid "
                          f"that queued it, then submit the job again{RESUBMIT.get(kind, '')}")
    module, _, name = RUNNERS[kind].partition(":")
    fn: Callable[[dict[str, Any], JobContext, Settings], dict[str, Any]] = getattr(
        importlib.import_module(module), name
    )
    return fn(payload, ctx, settings)


class Jobs(Protocol):
    def submit(self, kind: str, key: str, payload: dict[str, Any], order: int | str = 0) -> JobStatus: ...
    def get(self, job_id: str) -> JobStatus: ...
    def cancel(self, job_id: str) -> JobStatus: ...
    def states(self) -> dict[str, int]: ...
    def frames_propagated(self) -> int: ...


# --------------------------------------------------------------------------- threads
class _ThreadContext:
    def __init__(self, status: JobStatus, event: threading.Event) -> None:
        self.status, self.event = status, event

    def progress(self, frames_done: int, frames_total: int, fps: float) -> None:
        self.status.frames_done, self.status.frames_total, self.status.fps = frames_done, frames_total, fps
        self.status.note = None
        self.status.updated = time.time()

    def note(self, text: str) -> None:
        self.status.note, self.status.updated = text, time.time()

    def cancelled(self) -> bool:
        return self.event.is_set()


class _DaemonPool:
    """A fixed number of daemon threads running submitted calls in turn.

    Not a ThreadPoolExecutor: the interpreter joins its threads at exit, so a job waiting
    out an unreachable Label Studio (minutes) kept a stopped backend alive until it
    failed. Daemon threads are abandoned at exit (``ThreadJobs.stop`` says so first)."""

    def __init__(self, workers: int, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{k}", daemon=True)
                         for k in range(workers)]
        self._started = False
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        with self._lock:
            if not self._started:  # on first use: a backend that never propagates starts no thread
                self._started = True
                for thread in self._threads:
                    thread.start()
        self._calls.put((fn, args))

    def shutdown(self, wait: bool = True) -> None:
        """Stop the threads once the calls submitted so far have run."""
        with self._lock:
            started, self._started = self._started, True  # none start after this
        if not started:
            return
        for _ in self._threads:
            self._calls.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            fn, args = call
            try:
                fn(*args)
            except BaseException:  # noqa: BLE001 - nothing a call raises may end this thread
                log.exception("a job thread's call failed")


_LIVE: weakref.WeakSet[ThreadJobs] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    """At interpreter exit (Ctrl-C, gunicorn stopping a worker): stop every queue's jobs."""
    for jobs in list(_LIVE):
        jobs.stop()


class ThreadJobs:
    """Jobs in a bounded thread pool inside the backend process (the embedded default)."""

    def __init__(self, settings: Settings, workers: int = 2, keep: int = 1000) -> None:
        self.settings = settings
        self._pool = _DaemonPool(workers, "samvid-job")
        _LIVE.add(self)
        self._jobs: dict[str, JobStatus] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._latest: dict[tuple[str, int | str], str] = {}  # (key, order) -> newest job id
        # key -> the jobs waiting for the one running on it, in the order they came. A job
        # reaches the pool only when the one before it ends: waiting in a pool thread would
        # hold it, and two busy clips would stall every other clip.
        self._waiting: dict[str, deque[tuple[JobStatus, threading.Event, dict[str, Any]]]] = {}
        self._lock = threading.Lock()
        self._keep = keep

    def submit(self, kind: str, key: str, payload: dict[str, Any], order: int | str = 0) -> JobStatus:
        status = JobStatus(id=uuid.uuid4().hex, kind=kind, key=key)
        event = threading.Event()
        with self._lock:
            # The newest job of the same request on the key, whatever came in between.
            previous = self._latest.get((key, order))
            if previous is not None and previous in self._cancel:
                self._cancel[previous].set()  # superseded
                if self._jobs[previous].state == QUEUED:  # it never starts: say so now
                    self._jobs[previous].state = CANCELLED
            self._latest[(key, order)] = status.id
            self._jobs[status.id], self._cancel[status.id] = status, event
            self._forget_old()
            busy = key in self._waiting
            if busy:
                self._waiting[key].append((status, event, payload))
            else:
                self._waiting[key] = deque()
        if not busy:
            self._pool.submit(self._run, status, event, payload)
        return status

    def _run(self, status: JobStatus, event: threading.Event, payload: dict[str, Any]) -> None:
        try:
            if event.is_set():
                status.state = CANCELLED
                return
            status.state, status.attempts = RUNNING, 1
            try:
                status.result = run_payload(
                    status.kind, payload, _ThreadContext(status, event), self.settings
                )
                status.state = CANCELLED if event.is_set() else DONE
            except Exception as exc:  # noqa: BLE001 - reported on the job, not raised
                log_failure(status.id, exc)
                status.state, status.error = FAILED, _message(exc)
            except BaseException as exc:  # SystemExit in a runner: the job fails, the thread goes on
                log_failure(status.id, exc)
                status.state, status.error = FAILED, f"{type(exc).__name__}: {exc}"
            finally:
                status.updated = time.time()
        finally:
            with self._lock:  # the next job of this key, if any, takes its turn
                waiting = self._waiting[status.key]
                following = waiting.popleft() if waiting else None
                if following is None:
                    del self._waiting[status.key]
            if following is not None:
                self._pool.submit(self._run, *following)

    def stop(self, grace: float = 2.0) -> None:
        """Cancel every unfinished job, as the process stops: running jobs end at their next
        frame (waited for up to ``grace`` seconds, then abandoned), queued ones never start.
        Said in the log: their clips are left part-filled until they are submitted again."""
        with self._lock:
            queued = [j for j in self._jobs.values() if j.state == QUEUED]
            running = [j for j in self._jobs.values() if j.state == RUNNING]
            for job in queued + running:
                self._cancel[job.id].set()
            for job in queued:  # each reads cancelled when its turn comes
                job.state = CANCELLED
        if not (queued or running):
            return
        named = [f"{j.kind} {j.key} {j.id}" for j in (running + queued)[:20]]
        log.warning("stopping with %d running and %d queued job(s): cancelled (%s); "
                    "submit them again once samvid runs", len(running), len(queued),
                    ", ".join(named) + (", ..." if len(running) + len(queued) > 20 else ""))
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(j.state == RUNNING for j in running):
            time.sleep(0.05)
        left = [j for j in running if j.state == RUNNING]
        if left:
            log.warning("abandoning %d job(s) still running: %s", len(left), ", ".join(j.id for j in left))

    def get(self, job_id: str) -> JobStatus:
        with self._lock:
            if job_id not in self._jobs:
                raise NotFound(f"no job {job_id!r}")
            return self._jobs[job_id]

    def cancel(self, job_id: str) -> JobStatus:
        with self._lock:  # one lookup: a finished job may be forgotten at any moment
            status = self._jobs.get(job_id)
            if status is None:
                raise NotFound(f"no job {job_id!r}")
            self._cancel[job_id].set()
            if status.state == QUEUED:
                status.state = CANCELLED
        return status

    def frames_propagated(self) -> int:
        """Frames written by jobs of other processes: none, they run in this one (its
        counter, ``samvid.metrics.FRAMES_PROPAGATED``, counts them)."""
        return 0

    def states(self) -> dict[str, int]:
        with self._lock:
            counts = dict.fromkeys((QUEUED, RUNNING, DONE, FAILED, CANCELLED), 0)
            for job in self._jobs.values():
                counts[job.state] += 1
            return counts

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.state in FINAL]
        for job in sorted(finished, key=lambda j: j.updated)[: max(0, len(self._jobs) - self._keep)]:
            self._jobs.pop(job.id, None)
            self._cancel.pop(job.id, None)
        # One entry per request ever submitted otherwise; a forgotten job is superseded by nothing.
        self._latest = {same: job_id for same, job_id in self._latest.items() if job_id in self._jobs}


def log_failure(job_id: str, exc: BaseException) -> None:
    """Log why a job failed; call it where the exception is handled. A failure the user
    can act on (no mask on the frame, Label Studio away) is its message; anything else is
    a bug in samvid and keeps its traceback."""
    if isinstance(exc, SamvidError):
        log.warning("job %s failed: %s", job_id, _message(exc))
    else:
        log.exception("job %s failed", job_id)


def _message(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return text[:500]
