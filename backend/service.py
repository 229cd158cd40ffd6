"""What the HTTP routes act on, owned by one object: the settings, the predictor, the job
queue, the automatic-masks cache, the metrics and the Label Studio connection.

The routes (``samvid.app``) parse a request, call the service and answer; the service
keeps the state consistent when it changes. The one change at run time is Label
Studio's token learned from ``/setup`` (``adopt_studio``), which must reach every
process that talks to Label Studio:

- with ``REDIS_URL`` it is stored in Redis; every gunicorn worker picks it up before its
  next request (``sync_studio``) and every ``samvid worker`` before its next job;
- with one process (``samvid serve``'s default) that process has it;
- with several gunicorn workers and no Redis it could reach one worker only, so it is
  refused, and the log says to set ``LABEL_STUDIO_API_KEY`` or ``REDIS_URL``.

Which Label Studio that is, is configuration, not a request's to choose: Label Studio's
host is trusted past the private-address check (``samvid.images``) and receives the
API calls of propagation. So ``/setup`` supplies a token for ``LABEL_STUDIO_URL`` (or its
default, ``http://localhost:8080``, which is what Label Studio 1.23 names itself unless
told otherwise); it may name another host only when it was authenticated
(``SAMVID_AUTH_USER``) and ``LABEL_STUDIO_URL`` is not set. Without auth, anyone who can
reach the port could otherwise point samvid at an internal address.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from samvid.automatic import AutoRegionsCache
from samvid.errors import QueueUnavailable
from samvid.images import ImageSource, is_same_origin
from samvid.jobs import Jobs, ThreadJobs
from samvid.metrics import Metrics
from samvid.predictor import Predictor
from samvid.redact import redis_url_for_messages, server_url_for_messages
from samvid.redis_connect import PasswordRefused, replied
from samvid.settings import (
    DEFAULT_STUDIO_URL,
    Settings,
    studio_token_problem,
    studio_url_problem,
)
from samvid.studio.client import Studio
from samvid.studio.credentials import SharedCredentials, StudioCredentials, url_given

log = logging.getLogger(__name__)


@dataclass
class Service:
    settings: Settings
    predictor: Predictor
    jobs: Jobs
    metrics: Metrics
    auto_cache: AutoRegionsCache
    shared: SharedCredentials | None  # where a token from /setup is shared (REDIS_URL)
    processes: int = 1  # HTTP worker processes serving this app (gunicorn --workers)
    # LABEL_STUDIO_API_KEY was set: /setup's token is never used then. Otherwise the
    # latest /setup wins (Label Studio may have been restarted with a new token).
    configured: bool = False
    # LABEL_STUDIO_URL as started with; set: /setup never replaces it.
    start_url: str = DEFAULT_STUDIO_URL
    url_configured: bool = False
    # Why the token /setup last sent was not used ("" when it was, or none came): propagation's
    # "no Label Studio API key" said "connect this backend" to a user who just had.
    setup_refused: str = ""

    @classmethod
    def start(cls, settings: Settings | None = None, predictor: Predictor | None = None,
              jobs: Jobs | None = None, *, processes: int = 1) -> Service:
        """Load what is not given: settings from the environment, the model, the propagation
        engine (``SAMVID_TRACKER=auto`` resolved; ``samvid serve`` loaded it already)."""
        from samvid.tracker.engines import start_configured

        settings = settings or Settings.from_env()
        predictor = predictor or Predictor.from_settings(settings)
        settings = dataclasses.replace(settings, tracker=start_configured(settings, predictor.segmenter))
        jobs = jobs or make_jobs(settings)
        shared = SharedCredentials(settings.redis_url) if settings.redis_url else None
        metrics = Metrics(predictor, jobs.states, jobs.frames_propagated)
        service = cls(settings, predictor, jobs, metrics, AutoRegionsCache(),
                      shared, processes, configured=bool(settings.label_studio_api_key),
                      start_url=settings.label_studio_url,
                      url_configured=url_given(settings))
        if shared is not None and service.configured:
            # Redis holds jobs and the embedding cache, not the token here: its state, said so.
            if (failure := shared.check()) is not None:
                log.warning("%s", failure.message if isinstance(failure, PasswordRefused) else
                            f"Redis at {redis_url_for_messages(settings.redis_url)}: {shared.state}")
        elif shared is not None:
            # One read at start, whatever the token: a refused password is logged as the
            # backend starts, and /health has Redis's state from then on.
            service._take_up(shared.fetch())
        return service

    # -- Label Studio --------------------------------------------------------------------

    def studio(self, retry_delays: tuple[float, ...] = ()) -> Studio:
        """A client of the Label Studio this service uses (StudioError when no token)."""
        return Studio(self.settings.label_studio_url, self.settings.label_studio_api_key,
                      retry_delays=retry_delays)

    def adopt_studio(self, host: object, token: object) -> bool:
        """Use the token of a ``/setup`` call when none is configured, with the URL it
        names where that is allowed (see the module's docstring); whether adopted."""
        if self.configured:
            return False  # configured credentials always win
        credentials = StudioCredentials.from_setup(host, token)
        if credentials is None or studio_url_problem(credentials.url):
            if host is None and token is None:
                return False  # a config check (a script's), offering no token
            # Said, as every token not adopted is: else propagation just never starts.
            return self._refuse(
                f"{_setup_problem(host, token)}; set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY, or start "
                "Label Studio with LABEL_STUDIO_HOST set to its http:// or https:// address")
        if is_same_origin(self.start_url, credentials.url):
            credentials = StudioCredentials(self.start_url, credentials.token)  # the URL as configured
        elif self.url_configured:
            return self._refuse(
                f"it names Label Studio at {server_url_for_messages(credentials.url)[:200]!r}, not LABEL_STUDIO_URL "
                f"({server_url_for_messages(self.start_url)}); "
                "set LABEL_STUDIO_API_KEY to a token of the Label Studio at LABEL_STUDIO_URL")
        elif not self.settings.auth_user:
            return self._refuse(
                f"it names Label Studio at {server_url_for_messages(credentials.url)[:200]!r} and /setup is not "
                "authenticated, so anyone could have sent it; set LABEL_STUDIO_URL to your Label Studio's address (and "
                "LABEL_STUDIO_API_KEY), or SAMVID_AUTH_USER and SAMVID_AUTH_PASSWORD and connect Label "
                "Studio with basic auth")
        if self.unshared_setup:
            return self._refuse(self.unshared_setup)
        if self.shared is not None:
            self._publish(credentials)
        self._use(credentials)
        self.setup_refused = ""
        log.info("using Label Studio at %s with the token from /setup", server_url_for_messages(credentials.url))
        return True

    @property
    def unshared_setup(self) -> str:
        """Why no ``/setup`` token can be used by this process, known at start for every
        process alike ("" when one can): ``setup_refused`` is the process's that answered."""
        if self.configured or self.shared is not None or self.processes <= 1:
            return ""
        return (f"with {self.processes} worker processes and no REDIS_URL it would reach one of them only; "
                "set LABEL_STUDIO_API_KEY, or REDIS_URL so the workers share it")

    def _refuse(self, reason: str) -> bool:
        """Log why /setup's token is not used, and keep it for propagation's 503; False."""
        log.warning("not using the token from /setup: %s", reason)
        self.setup_refused = reason
        return False

    def _publish(self, credentials: StudioCredentials) -> None:
        """Share the token through Redis; QueueUnavailable (a 503 saying what to check) when
        Redis is away: the other processes could not use it, and nothing queues without Redis."""
        import redis

        assert self.shared is not None
        try:
            self.shared.publish(credentials)
        except PasswordRefused as exc:
            self.setup_refused = f"it could not be shared through Redis: {exc.message}"
            raise QueueUnavailable(f"cannot share Label Studio's token through Redis: {exc.message}, "
                                   "then connect the model again") from exc
        except redis.RedisError as exc:
            if replied(exc):  # Redis runs: its reply (an ACL without SET, READONLY) says what to fix
                reply = f"{type(exc).__name__}: {str(exc)[:200]}"
                self.setup_refused = f"Redis refused to store it ({reply})"
                raise QueueUnavailable(f"Redis refused to store Label Studio's token ({reply}); fix that, "
                                       "then connect the model again") from exc
            self.setup_refused = (f"it could not be shared through Redis ({type(exc).__name__}); connect the "
                                  "model again in Label Studio (Settings > Model) once Redis answers")
            raise QueueUnavailable(f"cannot reach Redis to share Label Studio's token ({type(exc).__name__}); "
                                   "check that Redis runs and that REDIS_URL points at it, then "
                                   "connect the model again") from exc

    def sync_studio(self) -> None:
        """Take up the token another process learned last (one Redis read)."""
        if self.configured or self.shared is None:
            return
        self._take_up(self.shared.fetch())

    def _take_up(self, credentials: StudioCredentials | None) -> None:
        """Use ``credentials`` read from Redis, unless configured ones win or they are in use."""
        if self.configured:
            return
        current = StudioCredentials(self.settings.label_studio_url, self.settings.label_studio_api_key)
        if credentials is None or credentials == current:
            return
        if self.url_configured and not is_same_origin(self.start_url, credentials.url):
            return  # stored before LABEL_STUDIO_URL was set: not that Label Studio's token
        self._use(credentials)

    def _use(self, credentials: StudioCredentials) -> None:
        self.settings = credentials.applied_to(self.settings)
        self.predictor.source = ImageSource.from_settings(self.settings)
        if isinstance(self.jobs, ThreadJobs):
            self.jobs.settings = self.settings


def _setup_problem(host: object, token: object) -> str:
    """Why a ``/setup`` body's hostname and access_token are no usable pair (never the token)."""
    if not isinstance(token, str) or not token:
        return "it carries no access_token"
    if problem := studio_token_problem(token):
        return f"its access_token {problem}"
    if not isinstance(host, str) or not host:
        return "it names no hostname"
    problem = studio_url_problem(host) or "give an http:// or https:// URL"
    return f"its hostname {server_url_for_messages(host)[:200]!r} is no Label Studio address: {problem}"


def make_jobs(settings: Settings) -> Jobs:
    if settings.redis_url:
        from samvid.redis_jobs import RedisJobs

        return RedisJobs(settings.redis_url)
    return ThreadJobs(settings)
