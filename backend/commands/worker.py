"""``samvid worker``: run propagation jobs from the Redis queue (``REDIS_URL``).

Start any number, on any machines that reach Redis and Label Studio. Each worker
runs one job at a time in its own process (no fork per job, so a model stays
loaded between jobs) and requeues jobs whose worker died.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from datetime import timedelta
from typing import Any

from samvid.errors import ConfigError, QueueUnavailable
from samvid.redact import redis_url_for_messages
from samvid.settings import Settings, redis_for_jobs

log = logging.getLogger("samvid.worker")
# Seconds between two of the running job's heartbeats to RQ itself (rq's forking worker's
# default): a job outliving rq's worker TTL (~7 min) without them reads abandoned to RQ.
RQ_BEAT = 30.0
# Seconds the worker waits, as it quits, for its reaper and rq's command listener to notice
# (each may be retrying a Redis that went away).
LISTENER_GRACE = 10.0
LISTEN_WAIT = 0.2  # seconds rq's command listener waits for a command before it looks again


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis-url", help="Redis to take jobs from (default: REDIS_URL)")
    parser.add_argument("--burst", action="store_true",
                        help="exit when the queue is empty: status 0 (jobs that failed included: see "
                             "their status), or 2 if Redis cannot be reached or goes away before then")
    parser.add_argument("--name", help="worker name shown in RQ (default: host and pid)")


def run(args: argparse.Namespace) -> int:
    # The frames a worker writes go to a count in Redis that /metrics adds to the server's own.
    # Given the server's PROMETHEUS_MULTIPROC_DIR too (one environment file for both), they
    # went to its files as well, and /metrics counted them twice. Dropped before anything
    # imports prometheus_client, which picks where its values live as it is imported.
    for name in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
        os.environ.pop(name, None)
    settings = Settings.from_env(redis_url=args.redis_url)
    if not settings.redis_url:
        raise ConfigError("samvid worker needs a Redis: set REDIS_URL or --redis-url")
    with redis_for_jobs(settings.redis_url):  # the jobs read it; --redis-url alone was lost
        return _work(args, settings)


def _work(args: argparse.Namespace, settings: Settings) -> int:
    import redis
    from rq import Queue, SimpleWorker
    from rq.exceptions import StopRequested
    from rq.utils import now

    from samvid.jobs import FAILED, QUEUED
    from samvid.redis_jobs import QUEUE, REAP_EVERY, PasswordRefused, RedisJobs, redis_client

    burst = bool(args.burst)

    class RedisAway(Exception):
        """Redis refused a --burst worker as it took a job: not a ConnectionError, which rq's
        loop of taking a job retries for ever."""

    class BurstQueue(Queue):
        @classmethod
        def dequeue_any(cls, *a: Any, **kw: Any) -> Any:
            try:
                return super().dequeue_any(*a, **kw)
            except redis.ConnectionError as exc:
                raise RedisAway(exc) from exc

    class Worker(SimpleWorker):
        stop_asked = False  # SIGTERM or Ctrl+C, as against rq quitting on its own
        # --burst: the queue read empty (or ``rq suspend``). rq also quits, in the same way,
        # on a Redis that stopped answering, and exit 0 told a script the queue was done.
        drained = False
        _beat: tuple[threading.Thread, threading.Event] | None = None

        _running: str | None = None  # the id of the job this worker runs, if any
        _cold = False  # a second signal stopped the running job part-way
        _requeueing = False  # that job is stopping and being requeued: a signal now would leave it half done

        # rq says nothing above its debug level as it stops: a user's Ctrl-C looked ignored
        # while a long job ran on, and a second one within 1 s is dropped, also silently.
        def request_stop(self, signum: int, frame: object) -> None:
            self.stop_asked = True
            if self._running is not None:
                log.warning("stopping after job %s ends (or at once when idle); Ctrl-C again, more than 1 s "
                            "later, stops now and requeues it", self._running)
            else:
                log.warning("stopping (no job running)")
            super().request_stop(signum, frame)

        # rq's cold stop, told in one line: rq logged a warning and then the job's traceback,
        # ending in the SystemExit it raises itself, as if the job had failed.
        def request_force_stop(self, signum: int, frame: Any) -> None:
            if self._requeueing:  # another SystemExit mid-requeue left the job "running", queued nowhere
                log.warning("stopping job %s, then requeueing it (kill -9 %d ends the worker now)",
                            self._running, os.getpid())
                return
            if self._cold:  # stopping already, past the requeue: this one ends it
                raise SystemExit()
            shutdown_at = self._shutdown_requested_date
            # rq's rule, for its worker pools' duplicate signals: one within 1 s of the first is dropped
            if shutdown_at is not None and now() - shutdown_at < timedelta(seconds=1):
                log.warning("second stop signal ignored: less than 1 s after the first (send it again)")
                return
            if self._running is not None:
                log.warning("stopping now: job %s is stopped part-way", self._running)
            else:
                log.warning("stopping now")
            self._cold = True
            # Until the job is requeued (or ends): a signal in between left it "running", queued nowhere.
            self._requeueing = self._running is not None
            raise SystemExit()

        def handle_exception(self, job: Any, *exc_info: Any) -> None:
            if not (self._cold and isinstance(exc_info[1], (SystemExit, KeyboardInterrupt))):
                super().handle_exception(job, *exc_info)

        # Requeued at once, saying so, rather than failed in RQ and requeued by a reaper
        # ALIVE_TTL later as "its worker died" (its record read "running" until then).
        def handle_job_failure(self, job: Any, queue: Any, started_job_registry: Any = None,
                               exc_string: str = "") -> None:
            left: str | None = None  # the state the stopped job was left in
            if self._cold:
                try:
                    left = jobs.requeue_stopped(job.id)
                except Exception as exc:  # noqa: BLE001 - rq fails it, and a reaper requeues it later
                    log.warning("could not requeue job %s at once (a reaper will): %s", job.id, exc)
                finally:
                    self._requeueing = False
            if left in (None, FAILED):  # not stopped, ended meanwhile, Redis away, its last attempt
                super().handle_job_failure(job, queue, started_job_registry, exc_string)  # rq's own way
                return
            if left == QUEUED:  # else cancelled, its RQ entry deleted: said as it was
                log.warning("job %s requeued: the next worker runs it again", job.id)
            with self.connection.pipeline() as pipeline:
                self.cleanup_execution(job, pipeline=pipeline)
                pipeline.execute()

        _taking = False

        # rq retries a refused Redis for ever while it takes a job: a worker that waits for
        # jobs rides out a Redis restart so, but --burst, run by a script, then never ended.
        def dequeue_job_and_maintain_ttl(self, *args: Any, **kwargs: Any) -> Any:
            self.drained = False
            self._taking = burst
            try:
                taken = super().dequeue_job_and_maintain_ttl(*args, **kwargs)
            except RedisAway as exc:
                log.warning("Redis refused the --burst worker as it took a job: %s", exc)
                raise StopRequested() from exc  # rq quits its loop; drained stays False
            finally:
                self._taking = False
            self.drained = taken is None
            return taken

        def heartbeat(self, *args: Any, **kwargs: Any) -> None:
            try:
                super().heartbeat(*args, **kwargs)
            except redis.ConnectionError as exc:
                if not self._taking:
                    raise
                raise RedisAway(exc) from exc

        # rq stops its thread listening for commands (``rq`` shutdown, kill-horse) only once
        # its goodbye to Redis went through: with Redis away the thread went on retrying, and
        # logging each retry, for as long as the process lived (a test, an embedding script).
        def teardown(self) -> None:
            stop.set()  # the reaper ends its reap alongside rq's goodbye, not after it
            try:
                super().teardown()
            except BaseException:
                listening = self.pubsub_thread
                if listening is not None:
                    listening.stop()
                    listening.join(LISTENER_GRACE)
                raise

        # rq's listener waits up to 60 s for a command before it looks whether it was stopped:
        # on a Redis that stopped answering nothing cuts that wait short.
        def subscribe(self) -> None:
            self.pubsub = self.connection.pubsub()
            self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
            self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]  # rq: None
                sleep_time=LISTEN_WAIT, daemon=True, exception_handler=self._pubsub_exception_handler)

        # rq's own closes the connection after a 1 s wait for the listener, which on a busy
        # machine was still reading from it: a worker stopped by SIGTERM logged its traceback.
        # No UNSUBSCRIBE first: closing ends the subscription, and sent to a Redis that had just
        # gone it rode out ~40 s of reconnects, then read as Redis lost (exit 2 after a clean stop).
        def unsubscribe(self) -> None:
            if self.pubsub_thread is not None and self.pubsub is not None:
                self.pubsub_thread.stop()
                self.pubsub_thread.join(LISTENER_GRACE)
                self.pubsub.close()

        def check_for_suspension(self, burst: bool) -> None:
            try:
                super().check_for_suspension(burst)
            except StopRequested:  # suspended in burst mode: asked for, not a failure
                self.drained = True
                raise

        # rq's forking worker tells RQ its job lives while the job runs; its SimpleWorker,
        # which runs the job in its own thread, tells it once, as the job starts. A job past
        # rq's worker TTL (~7 min: a long clip) then read as abandoned: another worker's
        # maintenance moved the running job to RQ's failed jobs, where it stayed once done,
        # and rq forgot the worker.
        def execute_job(self, job: Any, queue: Any) -> Any:
            self._running = job.id
            stop = threading.Event()
            beat = threading.Thread(target=self._tell_rq_alive, args=(job, stop), daemon=True,
                                    name="samvid-rq-heartbeat")
            self._beat = (beat, stop)
            beat.start()
            try:
                return super().execute_job(job, queue)
            finally:
                self._running, self._requeueing = None, False
                self._stop_beat()

        def handle_execution_ended(self, job: Any, queue: Any, heartbeat_ttl: int) -> None:
            self._stop_beat()  # before rq ends the execution: a later beat brought it back
            super().handle_execution_ended(job, queue, heartbeat_ttl)

        # A job whose clip is busy goes back on the queue through rq's retry, which counts a
        # failed job each time: a worker beside a busy clip showed thousands a day in
        # ``rq info``, none of them a failure.
        def handle_job_retry(self, job: Any, queue: Any, retry: Any, started_job_registry: Any) -> None:
            if self._taken_back(started_job_registry):
                # A reaper requeued the job while this worker stalled past its heartbeat (a
                # freeze, Redis away): it is on the queue again, and putting it back too left
                # two copies, one of them taken only to end at once. Or rq's cleanup counted
                # the run abandoned and moved it to its failed jobs. Either way not put back here.
                log.warning("job %s was taken from this worker while it held it (requeued by a reaper, or "
                            "counted abandoned by rq); not putting it back on the queue", job.id)
                with self.connection.pipeline() as pipeline:
                    self.cleanup_execution(job, pipeline=pipeline)
                    pipeline.execute()
                return
            self._putting_back = True
            try:
                super().handle_job_retry(job, queue, retry, started_job_registry)
            finally:
                self._putting_back = False

        def _taken_back(self, started_job_registry: Any) -> bool:
            """Whether this worker's run of its job left RQ's started jobs (the reaper's
            requeue removes it; so does rq's cleanup of a run it counts abandoned)."""
            execution = getattr(self, "execution", None)  # rq 2.x: one per run of a job
            return execution is not None and self.connection.zscore(
                started_job_registry.key, execution.composite_key) is None

        def increment_failed_job_count(self, pipeline: Any | None = None) -> None:
            if not getattr(self, "_putting_back", False):
                super().increment_failed_job_count(pipeline)

        def _stop_beat(self) -> None:
            if self._beat is not None:
                beat, stop = self._beat
                stop.set()
                beat.join()
                self._beat = None

        def _tell_rq_alive(self, job: Any, stop: threading.Event) -> None:
            while not stop.wait(RQ_BEAT):
                if self.execution is None:
                    continue  # not started yet
                try:
                    self.maintain_heartbeats(job)
                except Exception as exc:  # noqa: BLE001 - Redis away: the job goes on; try again
                    log.warning("could not tell RQ that job %s still runs: %s", job.id, exc)

    # --burst: each command made after Redis went away gives up in seconds, not rq's taking of
    # a job and its goodbye 40 s each; a worker waiting for jobs rides out a restart.
    jobs = RedisJobs(settings.redis_url, patient=not burst)
    # Redis answered, and refused what the URL asks of a connection (a password, a database
    # past its "databases"): "cannot reach Redis" sent users looking at the network.
    given_as = "--redis-url" if args.redis_url else "REDIS_URL"
    try:
        jobs.redis.ping()
    except PasswordRefused as exc:
        raise ConfigError(exc.told(given_as)) from exc
    except redis.ResponseError as exc:
        raise ConfigError(_refused_by_redis(jobs.redis, settings.redis_url, given_as, exc)) from exc
    except Exception as exc:  # noqa: BLE001 - any connection failure reads the same to a user
        raise ConfigError(f"cannot reach Redis at {redis_url_for_messages(settings.redis_url)}: {exc}") from exc
    from samvid.tracker.engines import start_configured

    # SAMVID_TRACKER, SAMVID_PRECISION and SAMVID_DEVICE, checked and loaded now. A worker
    # loads no click model, so its ``auto`` (for jobs not resolved by a server, such as
    # samvid prelabel's) tracks with SAMVID_TRACKER_MODEL when set, else flow.
    log.info("propagation engine: %s", start_configured(settings, None))
    stop = threading.Event()

    def reaper() -> None:
        while not stop.wait(REAP_EVERY):
            try:
                jobs.reap()
            except Exception as exc:  # noqa: BLE001 - keep reaping after a Redis hiccup
                log.warning("reaping orphaned jobs failed: %s", exc)

    reaping = threading.Thread(target=reaper, daemon=True, name="samvid-reaper")
    reaping.start()
    log.info("worker waiting for jobs on %s (queue %r)", redis_url_for_messages(settings.redis_url), QUEUE)
    # rq's own client: rq raises its socket timeout past its blocking dequeue (~415 s). On
    # the reaper's client that let a Redis that stopped answering hold each reap for minutes.
    connection = redis_client(settings.redis_url, patient=not burst)
    queue_class = BurstQueue if burst else Queue
    worker = Worker([queue_class(QUEUE, connection=connection)], connection=connection, name=args.name,
                    queue_class=queue_class)
    unanswered = QueueUnavailable(
        f"the worker stopped taking jobs: Redis at {redis_url_for_messages(settings.redis_url)} did not "
        f"answer within {worker.connection_timeout} s or failed (rq's log above says which); start the "
        "worker again once Redis answers, or run it under a supervisor that restarts it on failure")
    try:
        worker.work(burst=args.burst, with_scheduler=False, logging_level="WARNING")
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        # Still away as rq quit: its goodbye to Redis raised, a traceback instead of the reason.
        raise unanswered from exc
    except ValueError as exc:
        # rq refuses a name whose registration has not expired: a worker killed without a
        # goodbye (OOM, docker kill) keeps its name for its TTL, about 7 minutes.
        if "exists an active worker" not in str(exc):
            raise
        raise ConfigError(f"a worker named {args.name!r} is registered in Redis (still running, "
                          "or killed less than ~7 min ago): pick another --name or wait") from exc
    finally:
        stop.set()
        reaping.join(LISTENER_GRACE)
    if not worker.stop_asked and not (args.burst and worker.drained):
        # rq quits, and returned as if stopped, when Redis does not answer within its socket
        # timeout: exit 0 read as a clean stop, and nothing restarted the worker.
        raise unanswered
    return 0


def _refused_by_redis(client: Any, url: str, given_as: str, exc: Exception) -> str:
    """Why the Redis at ``url`` (given as ``given_as``) refused a connection it answered."""
    shown = redis_url_for_messages(url)
    if "DB index is out of range" not in str(exc):
        return f"Redis at {shown} refused a connection as {given_as} asks for it: {exc}"
    db = client.connection_pool.connection_kwargs.get("db", 0)
    count = _databases(client)
    if not count:
        return (f"Redis at {shown} has no database {db} (how many it has is not known: CONFIG is refused "
                f"to this user); give a lower number in {given_as}, such as 0")
    return (f"Redis at {shown} has databases 0 to {count - 1} (its \"databases\" setting), no database {db}: "
            f"give one of those in {given_as}")


def _databases(client: Any) -> int | None:
    """How many databases ``client``'s Redis has, asked on database 0 (every Redis has one),
    or None where CONFIG is refused (managed Redis often renames or forbids it)."""
    import redis

    pool = client.connection_pool
    first = redis.Redis(connection_pool=redis.ConnectionPool(
        connection_class=pool.connection_class, **{**pool.connection_kwargs, "db": 0}))
    try:
        answer: Any = first.config_get("databases")  # a dict: this client is not asyncio's
        return int(answer["databases"])
    except Exception:  # noqa: BLE001 - only a detail of the message: it is still told without
        return None
    finally:
        first.close()
        first.connection_pool.disconnect()
