"""One writer at a time of samvid's prediction on a frame task.

Two things write a frame's propagated masks: the propagation job, and ``/predict`` when
an annotator opens the frame right after a human frame before the job got there. Label
Studio's API has no "replace" call, so each write is several calls (list, then write over
the newest or post, delete the others); two writers interleaving those leave two
predictions (issue 21 item 3). Every samvid write of a
frame's prediction therefore runs under this lock, and ``/predict``, whose answer Label
Studio stores after the fact, holds it until that answer is stored
(``propagation.handoff``).

Without Redis the lock is an ``flock`` on a file under the temp folder: it holds across
threads and across the processes (gunicorn workers) of one user on one machine. With ``REDIS_URL``
it is a Redis lock, so ``samvid worker`` processes on other machines take it too.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import logging
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from samvid.errors import ConfigError, QueueUnavailable
from samvid.redis_connect import PasswordRefused, connect

STRIPES = 1024  # lock files per Label Studio server: bounded, rare false sharing
# A Redis lock lives this long unless its holder renews it (every third of it): a worker
# killed mid-write frees the frame within seconds, a write waiting out a Label Studio
# restart keeps it as long as it lives.
HOLD_SECONDS = 10.0
REDIS_RETRY_SECONDS = 60.0  # how long a write waits for Redis to come back
# Each Redis call waits this long for its answer: a Redis that stops answering (a network
# cut, a frozen host) must end in the retries above, not hang the write (and a click) for ever.
REDIS_SOCKET_SECONDS = 5.0

log = logging.getLogger(__name__)


class FrameLocks:
    """``retry_seconds`` and ``socket_seconds`` bound the wait for a Redis that is away: a
    job rides out a restart; a write an annotator's open waits on gives up within seconds."""

    def __init__(self, studio_url: str, redis_url: str = "", retry_seconds: float = REDIS_RETRY_SECONDS,
                 socket_seconds: float = REDIS_SOCKET_SECONDS) -> None:
        self.namespace = hashlib.sha1(canonical_studio_url(studio_url).encode()).hexdigest()[:12]
        self.redis_url = redis_url
        self.retry_seconds, self.socket_seconds = retry_seconds, socket_seconds

    def ensure_reachable(self) -> None:
        """Raise ``QueueUnavailable`` unless the lock can be taken now: with Redis, one PING
        answered within ``socket_seconds``, not retried. For a caller about to compute what
        it would write under the lock (a frame's masks on open): with Redis away the lock
        fails after the compute, and the compute, and the annotator's wait, were for nothing."""
        if not self.redis_url:
            return  # a file lock on this machine: always there
        import redis

        connection = self._connection()
        try:
            connection.ping()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise QueueUnavailable(
                f"cannot reach Redis (REDIS_URL) for a frame's write lock ({type(exc).__name__}); "
                "check that Redis runs and answers") from exc
        finally:
            connection.close()

    def _connection(self) -> Any:
        """A client that answers within ``socket_seconds`` or fails, and says a refused
        password as ``PasswordRefused`` (never retried: no wait makes it right)."""
        return connect(self.redis_url, socket_seconds=self.socket_seconds)

    @contextmanager
    def hold(self, task_id: int) -> Iterator[None]:
        if self.redis_url:
            with self._redis(task_id):
                yield
            return
        # One folder per user: another user's (mode 0755, files 0600) refused every write here
        # with PermissionError. Writers run by different users share a lock through Redis only.
        folder = Path(tempfile.gettempdir()) / f"samvid-frame-locks-{os.getuid()}"
        with contextlib.suppress(FileExistsError):  # a file or a link there: refused below, not a raw error
            folder.mkdir(mode=0o700)
        _check_private(folder)
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

        connection = self._connection()
        lock = connection.lock(f"samvid:frame-write:{self.namespace}:{int(task_id)}",
                               timeout=HOLD_SECONDS, sleep=0.05, thread_local=False)
        _riding_out_redis(lock.acquire, self.retry_seconds)
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(HOLD_SECONDS / 3):
                try:
                    lock.extend(HOLD_SECONDS, replace_ttl=True)
                except (redis.exceptions.RedisError, PasswordRefused) as exc:
                    log.warning("could not renew a frame's write lock (%s)", exc)

        renewer = threading.Thread(target=renew, daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            try:
                _riding_out_redis(lock.release, self.retry_seconds)
            except redis.exceptions.LockError:
                pass  # expired: held past HOLD_SECONDS, someone else may hold it now


DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_studio_url(url: str) -> str:
    """One spelling per Label Studio server, which names its frame locks.

    Every writer of a frame takes its lock, and a writer's URL is what its user typed:
    ``http://127.0.0.1:8080`` in a shell, ``http://localhost:8080`` in the backend's
    environment. Named by the URL as given, their locks did not exclude each other. Case,
    a default port, trailing slashes, userinfo, query and fragment name no other server,
    and every loopback name (localhost, 127.0.0.0/8, ::1) is this machine. The common form
    (``http://localhost:8080``, ``https://ls.example``) is its own canonical form, so a
    worker of the version before takes the same locks.

    >>> canonical_studio_url("HTTP://127.0.0.2:80/ls/"), canonical_studio_url("https://[::1]:8080")
    ('http://localhost/ls', 'https://localhost:8080')
    """
    try:
        parts = urlsplit(url.strip())
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:  # not a URL (refused by settings first): its own namespace, as before
        return url.rstrip("/")
    if not host:
        return url.rstrip("/")
    host = _canonical_host(host)
    netloc = host if port is None or port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def _canonical_host(host: str) -> str:
    """``localhost`` for every loopback name; an IP address in one notation; a name in lower case."""
    host = host.lower().rstrip(".")  # urlsplit lower-cases it already; "localhost." is localhost
    if host == "localhost":
        return host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "localhost"
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def _check_private(folder: Path) -> None:
    """Refuse a lock folder that is not this user's alone. Its name under the shared temp
    folder is predictable: another user who made it first (or may write in it) could hold
    a frame's lock, and every samvid write of that frame waited for ever."""
    info = os.lstat(folder)
    if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o022:
        return
    raise ConfigError(
        f"{folder}, where samvid keeps its frame write locks, is not a folder of this user's "
        "alone (another user made it or may write in it, and could hold frame writes for ever): "
        "remove it, or set TMPDIR to a folder of your own")


def _riding_out_redis(fn: Callable[[], object], seconds: float | None = None) -> None:
    """``fn()``, tried again while Redis is unreachable (a restart), for up to ``seconds``:
    a job rides out a Redis restart rather than failing at its next frame."""
    import redis

    seconds = REDIS_RETRY_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + seconds
    delay = 0.25
    while True:
        try:
            fn()
            return
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            if time.monotonic() + delay > deadline:
                raise QueueUnavailable(
                    f"cannot reach Redis (REDIS_URL) for a frame's write lock ({type(exc).__name__}, "
                    f"tried for {seconds:g} s); check that Redis runs and answers"
                ) from exc
            log.warning("Redis unreachable while taking a frame's write lock (%s); retry in %.2f s", exc, delay)
            time.sleep(delay)
            delay = min(2 * delay, 2.0)
