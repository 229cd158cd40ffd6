"""One writer at a time of samvid's prediction on a frame task.

Two things write a frame's propagated masks: the propagation job, and ``/predict`` when
an annotator opens the frame right after a human frame before the job got there. Label
Studio's API has no "replace" call, so each write is list, delete, post; two writers
interleaving those leave two predictions (issue 21 item 3). Every samvid write of a
frame's prediction therefore runs under this lock, and ``/predict`` writes its answer
itself, only when the frame still has no samvid prediction, instead of handing it to
Label Studio to store after the fact.

Without Redis the lock is an ``flock`` on a file under the temp folder: it holds across
threads and across the processes (gunicorn workers) of one machine. With ``REDIS_URL``
it is a Redis lock, so ``samvid worker`` processes on other machines take it too.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

STRIPES = 1024  # lock files per Label Studio server: bounded, rare false sharing
# A Redis lock lives this long unless its holder renews it (every third of it): a worker
# killed mid-write frees the frame within seconds, a write waiting out a Label Studio
# restart keeps it as long as it lives.
HOLD_SECONDS = 10.0
REDIS_RETRY_SECONDS = 60.0  # how long a write waits for Redis to come back

log = logging.getLogger(__name__)


class FrameLocks:
    def __init__(self, studio_url: str, redis_url: str = "") -> None:
        self.namespace = hashlib.sha1(studio_url.rstrip("/").encode()).hexdigest()[:12]
        self.redis_url = redis_url

    @contextmanager
    def hold(self, task_id: int) -> Iterator[None]:
        if self.redis_url:
            with self._redis(task_id):
                yield
            return
        folder = Path(tempfile.gettempdir()) / "samvid-frame-locks"
        folder.mkdir(exist_ok=True)
        path = folder / f"{self.namespace}-{int(task_id) % STRIPES}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    @contextmanager
    def _redis(self, task_id: int) -> Iterator[None]:
        import redis

        connection = redis.Redis.from_url(self.redis_url)
        lock = connection.lock(f"samvid:frame-write:{self.namespace}:{int(task_id)}",
                               timeout=HOLD_SECONDS, sleep=0.05, thread_local=False)
        _riding_out_redis(lock.acquire)
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(HOLD_SECONDS / 3):
                try:
                    lock.extend(HOLD_SECONDS, replace_ttl=True)
                except redis.exceptions.RedisError as exc:
                    log.warning("could not renew a frame's write lock (%s)", exc)

        renewer = threading.Thread(target=renew, daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            try:
                _riding_out_redis(lock.release)
            except redis.exceptions.LockError:
                pass  # expired: held past HOLD_SECONDS, someone else may hold it now


def _riding_out_redis(fn: Callable[[], object], seconds: float = REDIS_RETRY_SECONDS) -> None:
    """``fn()``, tried again while Redis is unreachable (a restart), for up to ``seconds``:
    a job rides out a Redis restart rather than failing at its next frame."""
    import redis

    deadline = time.monotonic() + seconds
    delay = 0.25
    while True:
        try:
            fn()
            return
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("Redis unreachable while taking a frame's write lock (%s); retry in %.2f s", exc, delay)
            time.sleep(delay)
            delay = min(2 * delay, 2.0)
