"""``samvid worker``: run propagation jobs from the Redis queue (``REDIS_URL``).

Start any number, on any machines that reach Redis and Label Studio. Each worker
runs one job at a time in its own process (no fork per job, so a model stays
loaded between jobs) and requeues jobs whose worker died.
"""

from __future__ import annotations

import argparse
import logging
import threading

from samvid.errors import ConfigError
from samvid.settings import Settings, redis_for_jobs, redis_url_for_messages

log = logging.getLogger("samvid.worker")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis-url", help="Redis to take jobs from (default: REDIS_URL)")
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    parser.add_argument("--name", help="worker name shown in RQ (default: host and pid)")


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env(redis_url=args.redis_url)
    if not settings.redis_url:
        raise ConfigError("samvid worker needs a Redis: set REDIS_URL or --redis-url")
    with redis_for_jobs(settings.redis_url):  # the jobs read it; --redis-url alone was lost
        return _work(args, settings)


def _work(args: argparse.Namespace, settings: Settings) -> int:
    from rq import Queue, SimpleWorker

    from samvid.redis_jobs import QUEUE, REAP_EVERY, RedisJobs

    jobs = RedisJobs(settings.redis_url)
    try:
        jobs.redis.ping()
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

    threading.Thread(target=reaper, daemon=True, name="samvid-reaper").start()
    log.info("worker waiting for jobs on %s (queue %r)", redis_url_for_messages(settings.redis_url), QUEUE)
    worker = SimpleWorker([Queue(QUEUE, connection=jobs.redis)], connection=jobs.redis, name=args.name)
    try:
        worker.work(burst=args.burst, with_scheduler=False, logging_level="WARNING")
    except ValueError as exc:
        # rq refuses a name whose registration has not expired: a worker killed without a
        # goodbye (OOM, docker kill) keeps its name for its TTL, about 7 minutes.
        if "exists an active worker" not in str(exc):
            raise
        raise ConfigError(f"a worker named {args.name!r} is registered in Redis (still running, "
                          "or killed less than ~7 min ago): pick another --name or wait") from exc
    finally:
        stop.set()
    return 0
