"""Label Studio's URL and token as learned from ``/setup``, shared between processes.

When ``LABEL_STUDIO_API_KEY`` is not set, the backend adopts the token Label Studio
sends on ``/setup``, with the URL it names, as a pair: the token only ever goes to the
host that sent it. One process answers ``/setup``; with ``REDIS_URL`` the pair is
stored in Redis so that every gunicorn worker and every ``samvid worker`` uses it too.
Redis already holds the jobs, so it is trusted with the token as much as they are.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from dataclasses import dataclass

from samvid.images import is_same_origin
from samvid.redis_connect import PasswordRefused, connect, state_of
from samvid.settings import DEFAULT_STUDIO_URL, Settings, studio_token_problem

log = logging.getLogger(__name__)

KEY = "samvid:studio-credentials"
# Past this age /health checks Redis's state again: with LABEL_STUDIO_API_KEY set no request
# reads the token, and the state stayed what the read at start found.
RECHECK_SECONDS = 10.0
# How long /health waits for the check it started: a Redis that answers shows in that /health;
# one that does not (frozen: up to the 2 s socket timeout) in a later one, never holding it up.
HEALTH_WAIT_SECONDS = 0.25


@dataclass(frozen=True)
class StudioCredentials:
    url: str
    token: str

    @classmethod
    def from_setup(cls, host: object, token: object) -> StudioCredentials | None:
        """The pair of a ``/setup`` body, or None unless both are usable.

        >>> StudioCredentials.from_setup("http://ls:8080", "t"), StudioCredentials.from_setup("ls", "t")
        (StudioCredentials(url='http://ls:8080', token='t'), None)
        """
        if not (isinstance(host, str) and host.startswith(("http://", "https://")) and len(host) < 2048):
            return None
        # Checked as LABEL_STUDIO_API_KEY is: else every request to Label Studio failed.
        if not (isinstance(token, str) and token and studio_token_problem(token) is None):
            return None
        return cls(host, token)

    def applied_to(self, settings: Settings) -> Settings:
        return dataclasses.replace(settings, label_studio_url=self.url, label_studio_api_key=self.token)


class SharedCredentials:
    """The pair in Redis (``REDIS_URL``): written by the process that learned it."""

    def __init__(self, redis_url: str) -> None:
        # Read before every request but a liveness check's: a Redis that stops answering (a
        # dropped network, not a refused connection) must cost seconds, not hang them all.
        self.redis = connect(redis_url, socket_seconds=2)
        self._refused: bytes | str | None = None  # the bad value last warned about
        # Why the last read failed (a RedisError, PasswordRefused), None after one that
        # answered: no token because Redis did not answer is not no token at all.
        self.failure: Exception | None = None
        self.read = False  # whether a read was made yet (``state`` knows nothing before)
        self._read_at = 0.0  # time.monotonic() of the last read
        self._checking = threading.Lock()  # held while a background check runs: one at a time

    @property
    def state(self) -> str:
        """Redis's state as the last read found it, as ``/health`` says it ("ok", "password
        refused", "refused (NoPermissionError)", "unreachable (TimeoutError)"): known at no
        cost beyond that read."""
        return state_of(self.failure) if self.read else "not read yet"

    def state_for_health(self) -> str:
        """``state``; where the last read is older than ``RECHECK_SECONDS``, after a check of
        Redis started in the background and waited for ``HEALTH_WAIT_SECONDS`` at most: a
        liveness check must answer while Redis is frozen, and then says the state before."""
        if time.monotonic() - self._read_at > RECHECK_SECONDS and self._checking.acquire(blocking=False):
            check = threading.Thread(target=self._check, name="samvid-redis-check", daemon=True)
            check.start()
            check.join(HEALTH_WAIT_SECONDS)
        return self.state

    def _check(self) -> None:
        """``check`` without a word in the log (said in /health: a health probe every few
        seconds would fill the log while Redis is away)."""
        try:
            self.check()
        finally:
            self._checking.release()

    def check(self) -> Exception | None:
        """The read ``fetch`` makes, its outcome kept and returned (None: Redis answered), the
        token left unread: the state it finds is the one the next request's read would find
        (a PING passed for an ACL user that may not GET the token)."""
        return self._get()[1]

    def _get(self) -> tuple[object, Exception | None]:
        """The token key's value and the failure of its read (None: Redis answered), the
        outcome kept for ``state``."""
        import redis

        try:
            raw, failure = self.redis.get(KEY), None
        except (redis.RedisError, PasswordRefused) as exc:
            raw, failure = None, exc
        self.failure, self.read, self._read_at = failure, True, time.monotonic()
        return raw, failure

    def publish(self, credentials: StudioCredentials) -> None:
        self.redis.set(KEY, json.dumps(dataclasses.asdict(credentials)))

    def fetch(self) -> StudioCredentials | None:
        raw, failure = self._get()
        if isinstance(failure, PasswordRefused):  # a password to give, not an outage to wait out
            log.warning("cannot read the shared Label Studio token: %s", failure.message)
            return None
        if failure is not None:  # no token yet is what the caller already has
            log.warning("cannot read the shared Label Studio token (%s)", type(failure).__name__)
            return None
        if not isinstance(raw, (bytes, str)):
            return None
        try:
            data = json.loads(raw)
            # Checked as a /setup pair is: an older samvid stored any token it was sent.
            found = StudioCredentials.from_setup(data["url"], data["token"])
            if found is None:
                raise ValueError("no usable url and token")
            return found
        except (ValueError, KeyError, TypeError) as exc:
            # Written by hand or by another version: unread, it failed every request (500).
            # Read before every request: one warning per value, not one per request.
            if raw == self._refused:
                return None
            self._refused = raw
            log.warning("the shared Label Studio token in Redis (%s) is unreadable (%s): ignored; "
                        "connect the model again in Label Studio to replace it", KEY, type(exc).__name__)
            return None


def url_given(settings: Settings) -> bool:
    """Whether LABEL_STUDIO_URL names the Label Studio (set, even to the default value):
    the admin's choice, which no ``/setup`` pair may replace with another address."""
    return settings.label_studio_url_given or settings.label_studio_url != DEFAULT_STUDIO_URL


def fits(credentials: StudioCredentials, settings: Settings) -> bool:
    """Whether a pair learned elsewhere may be used beside ``settings``: a pair stored in
    Redis before LABEL_STUDIO_URL was set (it never expires) repointed every process."""
    return not url_given(settings) or is_same_origin(settings.label_studio_url, credentials.url)


def with_shared_credentials(settings: Settings) -> Settings:
    """``settings`` with the pair another process learned, when none is configured and
    ``REDIS_URL`` is set (what a ``samvid worker`` uses for each job)."""
    if settings.label_studio_api_key or not settings.redis_url:
        return settings
    shared = SharedCredentials(settings.redis_url).fetch()
    return shared.applied_to(settings) if shared is not None and fits(shared, settings) else settings
