"""Jobs on Redis: an RQ queue run by any number of ``samvid worker`` processes.

RQ carries the work; samvid keeps its own small status record per job (JSON in
Redis) so progress, cancellation and supersession read the same as with threads.
Jobs of one clip run one at a time, in the order they were submitted (the clip's line);
a worker that takes a job whose clip is busy puts it back on the queue after a moment
and takes another, so a busy clip never holds up the others. A worker refreshes a
liveness key every few seconds from the moment it takes a job,
also while the job waits for its clip; a job whose worker stopped refreshing
(``kill -9``, a lost machine) is requeued -- once if it had started running, then it
is marked failed -- visibly, never silently lost.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timezone
from itertools import islice
from typing import Any

from samvid.errors import NotFound, QueueUnavailable
from samvid.jobs import (
    CANCELLED,
    DONE,
    FAILED,
    FINAL,
    QUEUED,
    RUNNING,
    JobStatus,
    _message,
    log_failure,
    run_payload,
)
from samvid.redis_connect import PasswordRefused as PasswordRefused  # where the worker imports it from
from samvid.redis_connect import connect
from samvid.settings import Settings
from samvid.studio.credentials import with_shared_credentials

log = logging.getLogger(__name__)

QUEUE = "samvid"
STATUS_TTL = 7 * 24 * 3600
ALIVE_TTL = 10  # seconds without a heartbeat before a job a worker took counts as orphaned
# Seconds a queued job may lack RQ's entry before it counts as lost: submit saves the record,
# then enqueues, and a client riding out a Redis restart retries for ~40 s in between.
SUBMIT_GRACE = 120
HEARTBEAT = 2
MAX_ATTEMPTS = 2
# Why a job was requeued, on its record: a worker that stopped heart-beating, or one stopped part-way.
DIED, STOPPED = "its worker died", "its worker was stopped"
CLAIM_TTL = 30  # seconds a reaper may hold an orphan it is requeueing, should it die meanwhile
REAP_EVERY = 5.0  # seconds between two reaps of one process (a worker's reaper; GET /jobs)
BATCH = 500  # job records read per round trip
# Transactions a submit tries that a dropped connection interrupts (one lost to another submit of
# the same request is tried again: that one went through).
SUBMIT_TRIES = 10
SUBMIT_SECONDS = 60.0  # and how long it tries at most, however many of its tries other submits took
SOCKET_TIMEOUT = 5.0  # seconds a command may wait for Redis's answer
TURN_WAIT = 1.0  # seconds a worker waits for a job's clip before it puts the job back on the queue


def redis_client(url: str, patient: bool = True):
    """A client that rides out a Redis restart: reconnects with backoff for ~40 s per command.
    One not ``patient`` (a ``--burst`` worker, run by a script that waits for it) gives up
    after ~3.5 s: a burst worker whose Redis went away made a few more commands as it quit,
    each waiting the 40 s out, and exited after 80 s."""
    # Without a socket timeout a Redis that takes connections but never answers (a dropped
    # network, a stopped container) hung every submit and poll for ever. RQ raises it past
    # a worker's blocking dequeue (minutes) for the connections the worker opens after.
    return connect(url, socket_seconds=SOCKET_TIMEOUT, retry=_retry(patient), retry_on_error=list(_transient()),
                   health_check_interval=10)


def patient_client(client: Any) -> Any:
    """A client of ``client``'s Redis, with its settings, that rides out a restart: a job run
    by a ``--burst`` worker, whose own client gives up in seconds, failed across a restart
    of a few seconds that a waiting worker's job rides out."""
    import redis

    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, "retry": _retry(patient=True)}
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs))


def _transient() -> tuple[type[Exception], ...]:
    """What a client retries. A refused connection surfaces as OSError inside redis-py: retried
    too, or a restart fails every call made while the server is down. A command that timed out
    is not: Redis may have run it (an enqueue would run the job twice), and eight more waits
    would hold a request for minutes."""
    import redis

    return (redis.ConnectionError, OSError)


def _retry(patient: bool) -> Any:
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    return Retry(ExponentialBackoff(cap=8, base=0.25), 8 if patient else 3, supported_errors=_transient())


def same_request(order: int | str) -> str:
    """A short name for a job's order, for a key: jobs of one key with the same one are the
    same request (an order may be a whole propagation request as JSON)."""
    return hashlib.sha1(json.dumps(order).encode()).hexdigest()[:16]


def _k(kind: str, ident: str) -> str:
    return f"samvid:{kind}:{ident}"


# Writes the key (its value and, give or take its TTL, unchanged): a transaction WATCHing it
# that reaches Redis after this fails its WATCH, as it would after a concurrent submit.
_FENCE = """
if redis.call('exists', KEYS[1]) == 1 then return redis.call('expire', KEYS[1], ARGV[1]) end
redis.call('set', KEYS[1], '')
return redis.call('del', KEYS[1])
"""

# The frames all workers wrote, added as they write them: the counter of the process that
# wrote them is no one's to scrape, and the backend's /metrics adds this to its own.
FRAMES_WRITTEN = _k("metrics", "frames_propagated")


@contextmanager
def _reachable() -> Iterator[None]:
    """Redis away past the client's retries (a restart is ridden out) is one error the
    server answers 503, not a 500 with a traceback. The URL may hold a password: not shown."""
    import redis

    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise QueueUnavailable(f"cannot reach the Redis job queue ({exc}); check that Redis runs "
                               "and that REDIS_URL points at it") from exc
    except redis.ResponseError as exc:
        if not _busy(exc):
            raise
        raise QueueUnavailable(f"the Redis job queue is busy running a script ({exc}); try again "
                               "once it answers") from exc


def _busy(exc: Exception) -> bool:
    """Whether Redis refused a command while a script ran past its time limit (BUSY): an
    answer, but not the command's."""
    import redis

    # Inside a transaction redis-py words it "Command # 1 (...) of pipeline caused error: BUSY ...".
    text = str(exc)
    return isinstance(exc, redis.ResponseError) and (text.startswith("BUSY") or "caused error: BUSY" in text)


@dataclass
class _Tries:
    """What one submit's tries carry from one to the next."""

    previous: str | None = None  # the request's newest job as the last try that read it found it
    interrupted: int = 0  # tries a dropped connection interrupted (SUBMIT_TRIES at most)
    retry: bool = False  # a try failed before: its transaction may reach Redis yet


def _text(raw: bytes | None) -> str | None:
    return raw.decode() if raw is not None else None


class RedisJobs:
    _reaped_at = float("-inf")  # when this process last reaped (time.monotonic)

    def __init__(self, url: str, patient: bool = True) -> None:
        from rq import Queue

        self.redis = redis_client(url, patient)
        self.queue = Queue(QUEUE, connection=self.redis)

    # -- status records --------------------------------------------------------
    _time_refused = False  # a Redis user without TIME (+@fast in its ACL): ``_now``

    def _now(self) -> float:
        """Redis's clock: the times a reaper weighs against it are saved on it (``_save``),
        as a worker's clock a minute ahead had its dead job requeued a minute late. This
        machine's where Redis refuses TIME (an ACL without it, a renamed command), said once."""
        import redis

        if not self._time_refused:
            try:
                seconds, micros = self.redis.time()
                return seconds + micros / 1e6
            except redis.ResponseError as exc:
                if _busy(exc):
                    raise
                self._time_refused = True
                log.warning("Redis refuses TIME (%s): job times are taken from this machine's clock; keep "
                            "the machines' clocks in step, or allow TIME to the Redis user (+time)", exc)
        return time.time()

    def _save(self, status: JobStatus) -> None:
        status.updated = self._now()
        self.redis.set(_k("job", status.id), json.dumps(status.record()), ex=STATUS_TTL)

    def _load(self, job_id: str) -> JobStatus:
        raw = self.redis.get(_k("job", job_id))
        if raw is None:
            raise NotFound(f"no job {job_id!r}")
        return JobStatus.from_dict(json.loads(raw))

    # -- the Jobs interface ----------------------------------------------------
    @_reachable()
    def submit(self, kind: str, key: str, payload: dict[str, Any], order: int | str = 0) -> JobStatus:
        status = JobStatus(id=uuid.uuid4().hex, kind=kind, key=key)
        status.created = self._now()  # beside ``updated``; and a clip's line is ordered by it
        # Its record is written before its id is published as the newest: the same request
        # submitted at the same moment (two webhooks) must find it to cancel it, and no
        # later write of ours may overwrite the "cancelled" it then saves.
        self._save(status)
        # The newest job of each request: the same request again supersedes it, whatever
        # other jobs of the key (another direction, another frame) came in between.
        previous = self._enqueue(status, payload, _k("latest", f"{key}:{same_request(order)}"))
        if previous is not None:
            self._supersede(previous)
        return status

    def _enqueue(self, status: JobStatus, payload: dict[str, Any], same: str) -> str | None:
        """Enqueue the job, line it up and make it its request's newest (``same``), all in one
        transaction run once; return the job it replaced as the newest."""
        import redis

        tries = _Tries()
        deadline = time.monotonic() + SUBMIT_SECONDS
        while tries.interrupted < SUBMIT_TRIES and time.monotonic() < deadline:
            try:
                if self._enqueue_once(status, payload, same, tries):
                    return tries.previous
            except redis.TimeoutError:
                # Sent but not answered in time (not retried): it may have run all the same,
                # and a 503 for a queued job leaves its request's job before it running too.
                # Around the whole try: the pipeline's UNWATCH as it ends may time out too, as
                # may the reads after a WatchError.
                if self._ran_late(status.id, same, deadline):
                    return tries.previous
                raise
        raise redis.ConnectionError(f"the submit of job {status.id} was interrupted {tries.interrupted} times")

    def _enqueue_once(self, status: JobStatus, payload: dict[str, Any], same: str, tries: _Tries) -> bool:
        """One try of ``_enqueue``'s transaction: True once the job is in (by this try or an
        earlier one's that reached Redis late), False when none of it ran and it is tried again."""
        import redis

        read = False  # whether this try read the request's newest job under WATCH
        with self.redis.pipeline(transaction=True) as pipe:
            try:
                # Read under WATCH, not as GETSET's reply: the client reran a transaction whose
                # reply was lost (the connection dropped after Redis ran it); the rerun's GETSET
                # read this job's own id, the request's job before it was never superseded and
                # ran alongside, and RQ's queue held this job twice. Watching, redis-py raises
                # WatchError instead of rerunning it; so does a concurrent submit of the request.
                pipe.watch(same)
                current = _text(pipe.get(same))
                read = True
                if current == status.id or (tries.retry and self._in_rq(status.id)):
                    # An earlier try's transaction reached Redis late (the request's newest
                    # since, or not): it replaced what that try read (WATCH lets one try
                    # run, and only on the value it read).
                    return True
                tries.previous = current
                self._queue_up(pipe, status, payload, same)
                pipe.execute()
                return True
            except redis.WatchError:
                # RQ's entry is written in the transaction: there, it ran and only its reply
                # was lost; else none of it ran, and it is tried again.
                if self._in_rq(status.id):
                    return True
                # Another submit of the request got in first (it went through: the tries end);
                # else the connection dropped, which counts.
                newest = _text(self.redis.get(same))
                if not read or newest == tries.previous:
                    tries.interrupted += 1
                tries.retry = True
                return False
            except redis.TimeoutError:
                # Its WATCH ends with its connection (a timeout on it dropped it already),
                # not with an UNWATCH as the pipeline ends: that waited out a stalled Redis
                # once more.
                if pipe.connection is not None:
                    pipe.connection.disconnect()
                pipe.watching = False
                raise

    def _ran_late(self, job_id: str, same: str, deadline: float) -> bool:
        """Whether a submit's transaction that timed out went in. It may run yet (still on its
        way, or Redis busy): once Redis answers the fence, it has run or fails its WATCH, so
        what RQ then holds is the end of it. Both are asked again until Redis answers (they
        may run twice): a fence left unanswered, a Redis stalled past two socket timeouts,
        let the transaction run after the submit was refused."""
        import redis

        fenced = False
        while True:
            try:
                if not fenced:
                    self.redis.eval(_FENCE, 1, same, STATUS_TTL)
                    fenced = True
                return self._in_rq(job_id)
            except (redis.TimeoutError, redis.ConnectionError, redis.ResponseError) as exc:
                if isinstance(exc, redis.ResponseError) and not _busy(exc):
                    raise
                if _busy(exc):
                    time.sleep(0.1)  # answered at once while a script runs: not a fence answered
                if time.monotonic() >= deadline:
                    raise QueueUnavailable(
                        f"Redis did not answer the submit of job {job_id} within {SUBMIT_SECONDS:g} s ({exc}): "
                        "the job may still be queued and run. Check that Redis (REDIS_URL) answers; "
                        "submitting the same request again then replaces that job") from exc

    def _queue_up(self, pipe: Any, status: JobStatus, payload: dict[str, Any], same: str) -> None:
        # RQ's enqueue first, as it starts the transaction itself: rq 2.0 refused a pipeline
        # already in one (every submit failed), later ones refuse commands queued before it.
        # In the same transaction as its place in the line: a job in the line without RQ's
        # entry is then one whose entry was deleted, never one still being enqueued, and
        # the line drops it at once (see _first_in_line).
        self.queue.enqueue(
            execute, status.id, status.kind, status.key, payload, job_id=status.id, job_timeout=-1,
            result_ttl=3600, failure_ttl=STATUS_TTL, pipeline=pipe,
        )
        # One such key per clip ever propagated: it expires with the job records, or a
        # long-lived Redis grows with every clip.
        pipe.set(same, status.id, ex=STATUS_TTL)
        # Its place in its clip's line: a worker runs it only once the jobs before it ended.
        pipe.zadd(_k("line", status.key), {status.id: status.created})
        pipe.expire(_k("line", status.key), STATUS_TTL)

    def _supersede(self, job_id: str) -> None:
        """Stop the job: a running one at its next frame; a queued one never starts, and its
        record says so now, not once a worker is free to take it."""
        try:
            self.cancel(job_id)
        except NotFound:  # its record expired: long over
            pass

    @_reachable()
    def get(self, job_id: str) -> JobStatus:
        # A reap reads every job record kept (a week of them): on each poll of each client
        # it made one GET of a job cost seconds. Workers reap every REAP_EVERY anyway.
        now = time.monotonic()
        if now - self._reaped_at >= REAP_EVERY:
            self._reaped_at = now
            self.reap()
        return self._load(job_id)

    @_reachable()
    def cancel(self, job_id: str) -> JobStatus:
        status = self._load(job_id)
        self.redis.set(_k("cancel", job_id), 1, ex=STATUS_TTL)
        if status.state == QUEUED:
            # Left on RQ's queue: the worker that takes it reads "cancelled" and ends it at
            # once, and RQ expires it as a finished job. RQ's own cancel keeps a cancelled
            # job, and its registry entry, in Redis for ever.
            status.state = CANCELLED
            self._save(status)
        return status

    @_reachable()
    def frames_propagated(self) -> int:
        """Frames other processes' jobs wrote (``samvid worker``s; ``samvid.metrics`` reads it):
        the workers' count less what this process added to it, which its own counter holds
        (a worker run in the process serving /metrics counted them twice)."""
        where = _PUBLISHED.where(self.redis)
        while True:
            # The total is read outside the lock (a slow Redis held every add behind it), between
            # two reads of this process's record: an add in between (the lock covers an add and
            # its record) would make the pair disagree, and the counter go down for a scrape.
            with _PUBLISHED.lock:
                before = _PUBLISHED.frames.get(where, 0)
            total = int(self.redis.get(FRAMES_WRITTEN) or 0)
            with _PUBLISHED.lock:
                if _PUBLISHED.frames.get(where, 0) == before:
                    return max(0, total - before)

    @_reachable()
    def states(self) -> dict[str, int]:
        counts = dict.fromkeys((QUEUED, RUNNING, DONE, FAILED, CANCELLED), 0)
        for status in self._records():
            # A state of another samvid version sharing the Redis (a rolling upgrade) is counted
            # as it is: a KeyError failed every /metrics scrape.
            counts[status.state] = counts.get(status.state, 0) + 1
        return counts

    def _records(self) -> Iterator[JobStatus]:
        """Every job record kept, ``BATCH`` to a round trip (one each made a scan of a
        busy week thousands of round trips)."""
        keys = self.redis.scan_iter(_k("job", "*"), count=BATCH)
        while batch := list(islice(keys, BATCH)):
            for raw in self.redis.mget(batch):
                if raw is not None:  # expired since the scan
                    yield JobStatus.from_dict(json.loads(raw))

    def reap(self) -> list[str]:
        """Requeue or fail the jobs whose worker stopped heart-beating."""
        orphaned = []
        now = self._now()
        for status in self._records():
            if not self._orphaned(status, now):
                continue
            # Every worker runs a reaper and the backend reaps on each GET /jobs: without a
            # claim, two reapers that see the same orphan both requeue it and it runs twice.
            # Whoever claims it looks again, as another may have requeued it since we looked.
            claim = _k("reaping", status.id)
            if not self.redis.set(claim, 1, nx=True, ex=CLAIM_TTL):
                continue
            try:
                try:
                    status = self._load(status.id)
                except NotFound:  # its record expired meanwhile
                    continue
                if self._orphaned(status, self._now()):
                    orphaned.append(status.id)
                    self._requeue_or_fail(status)
            finally:
                self.redis.delete(claim)
        return orphaned

    def _first_in_line(self, key: str, job_id: str) -> bool:
        """Whether every job submitted on the clip before this one has ended (dropping from
        the line the ones that did: the line holds ids only, their records say how they are)."""
        line = _k("line", key)
        while head := self.redis.zrange(line, 0, 0):
            first = head[0].decode()
            if first == job_id:
                return True
            raw = self.redis.get(_k("job", first))
            # A job still queued whose RQ entry is gone (deleted from RQ, evicted) never runs:
            # it held the clip's later jobs back until the reapers' grace (minutes) failed it.
            # Submit lines a job up and enqueues it at once, so it cannot be one on its way.
            if raw is not None and json.loads(raw)["state"] not in FINAL and self._in_rq(first):
                return False
            self.redis.zrem(line, first)  # over (or its record expired, or lost): its turn is past
        return True

    def _in_rq(self, job_id: str) -> bool:
        from rq.job import Job

        return bool(Job.exists(job_id, connection=self.redis))

    def _orphaned(self, status: JobStatus, now: float) -> bool:
        """Whether a worker took the job and stopped heart-beating for it ``ALIVE_TTL`` ago."""
        if status.state in FINAL or self.redis.exists(_k("alive", status.id)):
            return False
        if status.state == RUNNING:
            since: float | None = status.updated
        else:
            # Still queued, but a worker may hold it, waiting for its clip's lock while
            # another job on the clip runs. RQ counts it as started by that worker; were the
            # worker to die, nothing else would ever run it or fail it. Or RQ failed it
            # before it ran: the same.
            since = self._taken_at(status)
        # A worker's heartbeat sets the alive key as soon as it takes the job: a job taken
        # (or last saved running) less than ALIVE_TTL ago may not have had its first beat.
        # ``now`` and the records' times are Redis's clock; RQ's start time of a job taken
        # but not yet running is the taking worker's (a machine's clock off by more than
        # ALIVE_TTL misjudges that moment: docs/deploy.md).
        return since is not None and now - since >= ALIVE_TTL

    def _taken_at(self, status: JobStatus) -> float | None:
        """When a worker took the job off the queue, if one holds it now or RQ gave up on
        it before it ran (RQ's view); for a job without RQ's entry, the end of the submit's
        grace; None while it waits on the queue."""
        from rq.exceptions import NoSuchJobError
        from rq.job import Job
        from rq.job import JobStatus as RQState

        try:
            job = Job.fetch(status.id, connection=self.redis)
        except NoSuchJobError:
            # RQ's entry deleted or evicted (or never written: Redis went away mid-submit):
            # no worker will ever take it, and it read "queued" for ever. Counted from its
            # last save plus the submit's grace (see SUBMIT_GRACE): a healthy job whose
            # enqueue is still being retried must not be failed.
            return status.updated + SUBMIT_GRACE
        state = job.get_status(refresh=False)
        if state == RQState.CANCELED:
            # Cancelled in RQ itself (a dashboard, ``rq cancel``): nothing will run it, and,
            # first in its clip's line, it held every later job of the clip back for ever.
            return 0.0
        if state in (RQState.FAILED, RQState.STOPPED):
            # Failed by RQ while samvid's record says queued: its worker died right after
            # taking it (RQ then fails it as "stuck in intermediate queue"), or ``execute``
            # raised before it ran (Redis away). Nothing else would ever run it: long taken.
            return 0.0
        if state != RQState.STARTED or job.started_at is None:
            return None
        started = job.started_at
        if started.tzinfo is None:
            # rq 2.0 reads it back naive, in UTC: taken as local time, a job a dead worker took
            # west of Greenwich was reaped hours late (its clip held meanwhile), east too soon.
            started = started.replace(tzinfo=timezone.utc)
        return started.timestamp()

    def requeue_stopped(self, job_id: str) -> str | None:
        """Requeue a job its worker stopped part-way (a cold stop), as a reaper would once
        its heartbeat lapsed, but at once and saying why: the state it leaves the job in
        (queued; failed on its last attempt; cancelled), None if it had ended meanwhile."""
        claim = _k("reaping", job_id)  # not requeued twice alongside a reaper
        if not self.redis.set(claim, 1, nx=True, ex=CLAIM_TTL):
            return None
        try:
            status = self._load(job_id)
            if status.state in FINAL:
                return None
            self._requeue_or_fail(status, why=STOPPED)
            self.redis.delete(_k("alive", job_id))
            return status.state
        finally:
            self.redis.delete(claim)

    def _requeue_or_fail(self, status: JobStatus, why: str = DIED) -> None:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job
        from rq.job import JobStatus as RQState
        from rq.registry import FailedJobRegistry, StartedJobRegistry

        try:
            job = Job.fetch(status.id, connection=self.redis)
        except NoSuchJobError:
            job = None
        if self.redis.exists(_k("cancel", status.id)):
            # Cancelled or superseded after its worker died: requeued, it read "queued" again
            # until a worker was free to take it and end it -- for ever with no worker left.
            log.warning("job %s lost its worker after it was cancelled; cancelled", status.id)
            if job is not None:
                job.delete()  # its payload too: nothing will run it, and nothing else expires it
            status.state, status.error = CANCELLED, None
            self._save(status)
            return
        if job is not None and job.get_status(refresh=False) == RQState.CANCELED:
            log.warning("job %s was cancelled in RQ; cancelled", status.id)
            status.state, status.error = CANCELLED, None
            self._save(status)
            return
        if job is None:
            # RQ's entry, which holds the payload, was deleted (an RQ dashboard, ``rq empty``,
            # eviction): nothing can run it again. Raising here failed every reap, and so
            # every GET /jobs/<id>, for as long as the record lived.
            lost = "its worker died and " if status.state == RUNNING else ""
            log.error("job %s: %sits RQ entry is gone; failed", status.id, lost)
            status.state = FAILED
            status.error = f"{lost}its queue entry is gone from Redis; submit it again"
            self._save(status)
            return
        if status.state == QUEUED and job.get_status(refresh=False) in (RQState.FAILED, RQState.STOPPED):
            # RQ failed it before samvid ran it: a worker that died as it took it, or one that
            # cannot run it at all (another samvid version). Counted apart from ``attempts``
            # (runs), or the latter is requeued every reap for ever.
            refusals = _k("refused", status.id)
            count = self.redis.incr(refusals)
            self.redis.expire(refusals, STATUS_TTL)
            if count > MAX_ATTEMPTS:
                result = job.latest_result()
                trace = (result.exc_string if result is not None else None) or ""
                reason = (trace.strip().splitlines() or ["no reason recorded"])[-1][:200]
                log.error("job %s: workers failed it %d times before it ran (%s); failed", status.id, count, reason)
                status.state = FAILED
                status.error = (f"workers failed it {count} times before it ran ({reason}); check the "
                                "workers' logs and that they run this samvid version")
                self._save(status)
                return  # RQ's failed registry keeps its traceback
        StartedJobRegistry(queue=self.queue).remove_executions(job)  # RQ must not fail it later
        FailedJobRegistry(queue=self.queue).remove(job)  # nor list it as failed once it runs
        # A job whose worker died before it ran (it waited for its clip) has lost no attempt.
        if status.state == QUEUED or status.attempts < MAX_ATTEMPTS:
            if why != DIED:  # the stopped worker has said so, in its one line
                pass
            elif status.state == QUEUED:
                log.warning("job %s lost its worker before it ran; requeued", status.id)
            else:
                log.warning("job %s lost its worker; requeued (attempt %d)", status.id, status.attempts + 1)
            status.state, status.error = QUEUED, f"{why}; requeued"
            # Saved before it is enqueued: a worker that takes it at once must not have its
            # "running" overwritten with this "queued".
            self._save(status)
            self.queue.enqueue_job(job)
        else:
            log.error("job %s lost its worker %d times; failed", status.id, status.attempts)
            status.state = FAILED
            status.error = f"its worker died {status.attempts} times; giving up" if why == DIED else \
                f"its worker died or was stopped {status.attempts} times; giving up"
            self._save(status)


class _Published:
    """How many of this process's frames (``FRAMES_PROPAGATED``) it added to the workers' count
    (``FRAMES_WRITTEN``), by Redis (a process may use several: tests do). One record for the
    process, not one per job: a job's last add that failed (Redis away) was lost for good,
    the next job starting from the counter as it was then; two jobs in threads of one
    process each added the other's frames."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # an add and its record as one, and a read of both
        self.frames: dict[str, int] = {}

    @staticmethod
    def where(connection: Any) -> str:
        """Which Redis (and database) the connection's count lives in."""
        kwargs = connection.connection_pool.connection_kwargs
        return f"{kwargs.get('path') or kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"


_PUBLISHED = _Published()


def publish_frames(connection: Any) -> None:
    """Add the frames this process wrote and has not added yet to the workers' count."""
    import redis

    from samvid.metrics import frames_propagated_here

    where = _PUBLISHED.where(connection)
    with _PUBLISHED.lock:
        unpublished = int(frames_propagated_here()) - _PUBLISHED.frames.get(where, 0)
        if unpublished <= 0:
            return
        try:
            connection.incrby(FRAMES_WRITTEN, unpublished)
        except redis.RedisError as exc:  # not the job's failure: they go with the next add
            log.warning("could not add %d written frames to /metrics' count: %s", unpublished, exc)
            return
        _PUBLISHED.frames[where] = _PUBLISHED.frames.get(where, 0) + unpublished


class _RedisContext:
    def __init__(self, jobs: RedisJobs, status: JobStatus) -> None:
        self.jobs, self.status = jobs, status
        self._last = 0.0

    def progress(self, frames_done: int, frames_total: int, fps: float) -> None:
        self.status.frames_done, self.status.frames_total, self.status.fps = frames_done, frames_total, fps
        noted, self.status.note = self.status.note, None
        if noted or time.monotonic() - self._last > 0.5 or frames_done == frames_total:
            self._last = time.monotonic()
            self.jobs._save(self.status)
            publish_frames(self.jobs.redis)  # a long job's frames show in /metrics as it runs

    def note(self, text: str) -> None:
        self.status.note = text
        self.jobs._save(self.status)

    def cancelled(self) -> bool:
        return bool(self.jobs.redis.exists(_k("cancel", self.status.id)))


def _can_put_back() -> bool:
    """Whether this RQ requeues a job that returns ``Retry`` (rq 2.x since it grew
    ``handle_job_retry(..., retry, ...)``); an older one waits for the clip in the worker."""
    from rq.worker import BaseWorker

    handle = getattr(BaseWorker, "handle_job_retry", None)
    return handle is not None and "retry" in inspect.signature(handle).parameters


def execute(job_id: str, kind: str, key: str, payload: dict[str, Any]) -> Any:
    """Run in a ``samvid worker``: one job per key at a time, in the order submitted, with a
    heartbeat. A job whose clip stays busy for ``TURN_WAIT`` goes back on the queue (RQ's
    ``Retry``): waiting in the worker held it, and as many jobs waiting for one busy clip as
    there were workers stopped every other clip's jobs."""
    from rq import Retry, get_current_job

    job = get_current_job()
    assert job is not None, "execute runs inside an RQ job"
    connection = patient_client(job.connection)  # not a --burst worker's own, which gives up in seconds
    jobs = RedisJobs.__new__(RedisJobs)
    jobs.redis = connection
    from rq import Queue

    jobs.queue = Queue(QUEUE, connection=connection)
    status = jobs._load(job_id)
    line = _k("line", key)
    if status.state in FINAL:
        connection.zrem(line, job_id)
        return status.result or {}
    # Lined up at submit; again here for a job submitted by an older samvid, or should the
    # line have expired, at the moment it was submitted.
    connection.zadd(line, {job_id: status.created}, nx=True)
    # An RQ that cannot put a job back (before ``handle_job_retry(retry=...)``) waits for the
    # clip in the worker, for its lock alone as before the line: a job that waited there for
    # the line's head held its worker, and with the head requeued behind such jobs (its
    # worker died) every worker waited for a job none would take (a reviewer's find, rq 2.0).
    ordered = _can_put_back()
    put_back = time.monotonic() + TURN_WAIT if ordered else float("inf")
    stop = threading.Event()
    # thread_local=False: the heartbeat thread must see the token this thread acquires, or
    # it can neither check nor extend the lock (redis-py keeps it per thread by default).
    lock = connection.lock(_k("lock", key), timeout=ALIVE_TTL, sleep=0.2, thread_local=False)
    # Held while the heartbeat takes the clip lock back, and while the job stops it: a take-back
    # after the job released the lock held the clip, for no job, until it expired.
    turn = threading.Lock()
    beat = threading.Thread(target=_heartbeat, args=(connection, job_id, lock, stop, turn), daemon=True)
    beat.start()
    try:
        while True:
            if connection.exists(_k("cancel", job_id)):
                status.state, status.error = CANCELLED, None
                jobs._save(status)
                connection.zrem(line, job_id)
                return {}
            if not ordered or jobs._first_in_line(key, job_id):
                if lock.acquire(blocking_timeout=min(1.0, TURN_WAIT)):
                    break
            else:
                stop.wait(0.2)
            if time.monotonic() >= put_back:
                # Back at the end of the queue, still "queued" and in its place in the line;
                # the worker takes the next job, maybe another clip's.
                return Retry(max=sys.maxsize)
        try:
            # Read again now the clip is ours: while this worker waited, the job may have been
            # requeued (its heartbeats missed while Redis was away) and run to its end by
            # another worker; running it again here did its work twice.
            status = jobs._load(job_id)
            if status.state in FINAL:
                return status.result or {}
            # An earlier worker's death (the reaper's "requeued") is no error of this run,
            # and a client reading ``error`` would report a job that then succeeds as failed;
            # ``attempts`` keeps the count.
            status.state, status.attempts, status.error = RUNNING, status.attempts + 1, None
            # A run after a requeue starts over: the dead run's frames, rate and note (what it
            # waited for) read as this run's until its first report.
            status.frames_done, status.fps, status.note = 0, 0.0, None
            jobs._save(status)
            ctx = _RedisContext(jobs, status)
            if ctx.cancelled():
                status.state = CANCELLED
                return {}
            try:
                # The token a backend learned from /setup, when none is configured here.
                settings = with_shared_credentials(Settings.from_env())
                status.result = run_payload(kind, payload, ctx, settings)
                status.state = CANCELLED if ctx.cancelled() else DONE
            except Exception as exc:  # noqa: BLE001 - reported on the job record
                log_failure(job_id, exc)
                status.state, status.error = FAILED, _message(exc)
            return status.result or {}
        finally:
            with turn:
                stop.set()  # no extension or take-back may race the release
            beat.join(HEARTBEAT + 5)
            publish_frames(connection)  # those since its last report, a failed run's included
            jobs._save(status)
            if status.state in FINAL:  # not a worker stopped mid-run: requeued, it goes first
                connection.zrem(line, job_id)  # before the release: the next in line may go
            _release(lock, job_id, key)
    finally:
        stop.set()


def _release(lock: Any, job_id: str, key: str) -> None:
    from redis.exceptions import LockNotOwnedError

    try:
        lock.release()
    except LockNotOwnedError:
        # The job is over and its record says how; the clip lock had expired under it
        # (Redis away longer than ALIVE_TTL), so another job on the clip may have overlapped.
        log.error("job %s lost its lock on %s before it ended; another job on it may have run alongside",
                  job_id, key)


def _heartbeat(connection: Any, job_id: str, lock: Any, stop: threading.Event,
               turn: threading.Lock) -> None:
    """Keep the job's liveness key and its clip lock alive while this process lives."""
    token = None  # the job's token while it held the clip lock (``release`` clears the lock's)
    while not stop.is_set():
        try:
            connection.set(_k("alive", job_id), 1, ex=ALIVE_TTL)
            if lock.owned():  # once the job's thread has acquired it
                lock.extend(ALIVE_TTL, replace_ttl=True)
                token = lock.local.token
            elif token is not None:
                # Expired while Redis was away past ALIVE_TTL (a restart, a freeze) and the job
                # rode it out: taken back while free, or the next job on the clip ran alongside.
                with turn:
                    if stop.is_set():
                        break  # the job is over: its lock is released, not to be taken back
                    if lock.acquire(blocking=False, token=token):
                        log.warning("job %s took its clip lock %s back after Redis was away", job_id, lock.name)
                    else:
                        log.error("job %s lost its clip lock %s", job_id, lock.name)
                        token = None
        except Exception as exc:  # noqa: BLE001 - Redis away: keep beating, the job goes on
            log.warning("job %s: heartbeat failed: %s", job_id, exc)
        stop.wait(HEARTBEAT)
