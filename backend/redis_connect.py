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
from samvid.redact import redis_url_for_messages

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
    says it: "ok", "password refused", "refused (NoPermissionError)" (Redis answered with an
    error: an ACL without the command, LOADING), "unreachable (TimeoutError)"."""
    if exc is None:
        return "ok"
    if isinstance(exc, PasswordRefused):
        return "password refused"
    if replied(exc):
        return f"refused ({type(exc).__name__})"
    return f"unreachable ({type(exc).__name__})"


def replied(exc: BaseException) -> bool:
    """Whether ``exc`` is Redis's own error reply (NOPERM, LOADING, READONLY), not a Redis
    that did not answer: running and reached, it refused the command."""
    import redis

    # LOADING is redis-py's BusyLoadingError, a ConnectionError: Redis answered it all the same.
    return isinstance(exc, (redis.ResponseError, redis.BusyLoadingError))


# How long the check whether Redis answers without a password waits (a bare user refused).
CHECK_SECONDS = 0.5


class PasswordRefused(QueueUnavailable):
    """Redis wants a password the URL lacks, or refused the one it gives (NOAUTH, WRONGPASS)."""

    def __init__(self, url: str, exc: Exception, *, answers_without: bool = False) -> None:
        """``answers_without``: the URL names a user with no password (``redis://X@host``),
        and Redis answered a PING sent without AUTH: it has no password to give."""
        from urllib.parse import urlsplit

        self.shown = redis_url_for_messages(url)
        self.example = _with_password(url)
        try:
            user, password = urlsplit(url).username, urlsplit(url).password
        except ValueError:
            user = password = None
        self.bare_user = bool(user) and password is None
        # An ACL user's pair (bob:pw): WRONGPASS is an unknown user as much as a wrong password.
        self.acl_user = bool(user) and password is not None and user != "default"
        self.answers_without = answers_without
        # Redis without a password refuses one given all the same ("called without any
        # password configured"): the opposite advice.
        self.none_wanted = "without any password configured" in str(exc) or "no password is set" in str(exc)
        super().__init__(self.told("REDIS_URL"))

    def told(self, given_as: str) -> str:
        """The message, naming where the URL was given (``--redis-url``, ``REDIS_URL``)."""
        if self.answers_without:
            # Only its default user is known to need none: an ACL user may well want one.
            return (f"Redis at {self.shown} answers without a password (its default user), but {given_as} "
                    "names a user (***@) with none: drop it from the URL, or for an ACL user give "
                    "USER:PASSWORD@ (a password alone is written :PASSWORD@)")
        if self.none_wanted:
            return f"Redis at {self.shown} has no password, but {given_as} gives one: drop it from the URL"
        if self.acl_user:
            return (f"Redis at {self.shown}: user or password refused: give them in {given_as} "
                    f"as {self.example}")
        told = (f"Redis at {self.shown} wants a password (or refused this one): give it in {given_as} "
                f"as {self.example}")
        # redis-py sends X of a bare "X@" as a user name, with "" as its password.
        return told + (" (a bare X@ is read as a user name, not a password)" if self.bare_user else "")


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
            # A bare "X@" (a password missing its ":") is AUTH X "": WRONGPASS whether Redis
            # has a password or not. Which one, a PING without AUTH tells.
            # Half a second to connect and as long to answer at most: Redis just answered, and a
            # wrong password is said at once.
            without = bool(connection.username) and not connection.password and _answers_without_auth(
                self.url, min(connection.socket_connect_timeout or CHECK_SECONDS, CHECK_SECONDS),
                min(connection.socket_timeout or CHECK_SECONDS, CHECK_SECONDS))
            raise PasswordRefused(self.url, exc, answers_without=without) from exc
        finally:
            connection.health_check_interval = interval
        # The handshake just answered: no PING before the first command. The health check
        # still finds a connection stale after a quiet spell (a Redis restart since).
        connection.next_health_check = time.time() + interval  # redis-py compares it with time.time()


def _answers_without_auth(url: str, connect_seconds: float | None, seconds: float | None) -> bool:
    """Whether Redis at ``url`` answers PONG to one PING on a fresh connection that sends no
    AUTH (the URL's user left out), waiting ``connect_seconds`` to connect and ``seconds`` for
    the answer; never retried."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    scheme, _, rest = url.partition("://")
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    plain = f"{scheme}://{rest[:end].rpartition('@')[2]}{rest[end:]}"
    try:
        pool = redis.ConnectionPool.from_url(plain, socket_connect_timeout=connect_seconds,
                                             socket_timeout=seconds, retry=Retry(NoBackoff(), 0))
        connection = pool.make_connection()
    except (ValueError, redis.RedisError):
        return False
    try:
        connection.connect()
        connection.send_command("PING", check_health=False)
        return connection.read_response() in (b"PONG", "PONG", True)
    except (OSError, redis.RedisError):
        return False
    finally:
        connection.disconnect()
