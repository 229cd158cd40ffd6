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
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STRIPES = 1024  # lock files per Label Studio server: bounded, rare false sharing
HOLD_SECONDS = 300.0  # a Redis lock outlives a write that waits out a Label Studio blip


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
        lock.acquire()
        try:
            yield
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:
                pass  # expired: held past HOLD_SECONDS, someone else may hold it now
