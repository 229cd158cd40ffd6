"""samvid's Redis clients, one way: a handshake that says a refused password as such.

Every samvid client of Redis (the job queue, the embedding cache, the shared Label Studio
token, the frame write locks) is built here. redis-py's own handshake reported a Redis
that wants another password as ``AuthenticationError``, a ``ConnectionError``: each client
then said "cannot reach Redis", and the frame lock retried it as an outage. Here it is
``PasswordRefused``, whose message says to give the password and how, and which no
client's retries ride out. Kept apart from ``samvid.redis_jobs`` (which imports
``samvid.studio.credentials``) so every client imports it without a cycle.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from samvid.errors import QueueUnavailable
from samvid.settings import redis_url_for_messages

if TYPE_CHECKING:  # redis is imported where a client is made: it is needed only with REDIS_URL
    import redis


def connect(url: str, *, socket_seconds: float, **options: Any) -> redis.Redis:
    """A client of ``url`` whose commands wait ``socket_seconds`` at most for an answer (and
    as long to connect), and whose new connections raise ``PasswordRefused`` where Redis
    refuses the password; ``options`` go to redis-py (a retry policy, a health check)."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=socket_seconds, socket_connect_timeout=socket_seconds,
                                redis_connect_func=_Handshake(url), **options)


def state_of(exc: BaseException | None) -> str:
    """Redis's state as a client's last command found it (None: answered), as ``/health``
    says it: "ok", "password refused", "unreachable (TimeoutError)"."""
    if exc is None:
        return "ok"
    if isinstance(exc, PasswordRefused):
        return "password refused"
    return f"unreachable ({type(exc).__name__})"


class PasswordRefused(QueueUnavailable):
    """Redis wants a password the URL lacks, or refused the one it gives (NOAUTH, WRONGPASS)."""

    def __init__(self, url: str, exc: Exception) -> None:
        self.shown = redis_url_for_messages(url)
        self.example = _with_password(url)
        # Redis without a password refuses one given all the same ("called without any
        # password configured"): the opposite advice.
        self.none_wanted = "without any password configured" in str(exc) or "no password is set" in str(exc)
        super().__init__(self.told("REDIS_URL"))

    def told(self, given_as: str) -> str:
        """The message, naming where the URL was given (``--redis-url``, ``REDIS_URL``)."""
        if self.none_wanted:
            return f"Redis at {self.shown} has no password, but {given_as} gives one: drop it from the URL"
        return (f"Redis at {self.shown} wants a password (or refused this one): give it in {given_as} "
                f"as {self.example}")


def _with_password(url: str) -> str:
    """How ``url`` gives a password: itself as messages show it, the password's place filled
    in; where it has none, or a bare ``X@`` (redis-py's user X, most often a password written
    without its ":"), its host part with ``:PASSWORD@`` (X is not shown again)."""
    from urllib.parse import urlsplit

    shown = redis_url_for_messages(url)
    if ":***@" in shown:
        return shown.replace(":***@", ":PASSWORD@", 1)
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    # A bare "X@" may be shown hidden ("***@"): the rest is shown as it is.
    if parts is None or not parts.scheme or "***" in shown.removeprefix(f"{parts.scheme}://***@"):
        return "redis://:PASSWORD@host:port/db"
    where = parts.netloc.rpartition("@")[2]
    query = shown.partition("?")[2]
    return f"{parts.scheme}://:PASSWORD@{where}{parts.path}" + (f"?{query}" if query else "")


class _Handshake:
    """redis-py's handshake (AUTH, CLIENT SETINFO, SELECT) with the health check off. On a
    Redis that wants a password the URL lacks, redis-py 5.2's health check PINGed inside the
    handshake, the PING's NOAUTH (a ConnectionError) reconnected, which handshook again: a
    RecursionError instead of the reason. A refused password is ``PasswordRefused``, not a
    ConnectionError: the client's retries rode out a wrong password for ~40 s, to no end."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, connection: Any) -> None:
        import redis

        interval = connection.health_check_interval
        connection.health_check_interval = 0
        try:
            connection.on_connect()
            # Without a password redis-py's handshake returns, not raises, the NOAUTH of its
            # CLIENT SETINFO. The PING the health check would send first anyway, sent here.
            connection.send_command("PING", check_health=False)
            answer = connection.read_response()
            if isinstance(answer, Exception):
                raise answer
        except redis.AuthenticationError as exc:
            connection.disconnect()  # redis-py cleans up after its own errors only
            raise PasswordRefused(self.url, exc) from exc
        finally:
            connection.health_check_interval = interval
        # The handshake just answered: no PING before the first command. The health check
        # still finds a connection stale after a quiet spell (a Redis restart since).
        connection.next_health_check = time.time() + interval  # redis-py compares it with time.time()
