"""The propagation job's entry point (``run_job``, named in ``samvid.jobs.RUNNERS``)
and the propagator the backend and the CLI use (``propagator_for``)."""

from __future__ import annotations

from typing import Any

from samvid.images import ImageSource
from samvid.jobs import JobContext
from samvid.propagation.propagator import Propagator
from samvid.propagation.request import PropagationRequest
from samvid.settings import Settings
from samvid.studio.client import Studio, backoff
from samvid.studio.frame_locks import FrameLocks


def run_job(payload: dict[str, Any], ctx: JobContext, settings: Settings) -> dict[str, Any]:
    """The job entry point (threads or ``samvid worker``); credentials come from ``settings``."""
    def waiting(text: str) -> None:
        # A job cancelled (or superseded) while it waits out an unreachable Label Studio
        # stops at the next retry, not after the whole wait (minutes, its clip held).
        if ctx.cancelled():
            raise _Cancelled
        ctx.note(text)

    studio = Studio(settings.label_studio_url, settings.label_studio_api_key,
                    retry_delays=backoff(settings.studio_retry_seconds), on_retry=waiting)
    try:
        return propagator_for(studio, settings).run(PropagationRequest.from_payload(payload), ctx)
    except _Cancelled:
        return {"cancelled": True}


class _Cancelled(BaseException):
    """Raised out of a Label Studio retry once the job is cancelled; never leaves ``run_job``.
    Not an Exception (as asyncio's CancelledError): a frame read that catches every error
    as an unreadable frame would pass over it and go on."""


def propagator_for(studio: Studio, settings: Settings) -> Propagator:
    """A propagator whose frame locks are the backend's: with ``REDIS_URL`` they live in
    Redis, so a batch or CLI run and the backend's jobs never write one frame at once."""
    return Propagator(studio, ImageSource.from_settings(settings), FrameLocks(studio.url, settings.redis_url))
