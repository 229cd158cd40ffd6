"""The backend's failures a user can act on, and the shared ones of ``samvid.core``.

Each carries a message that says what to do. They are raised anywhere and turned
into responses at the edges only: the server maps each class to an HTTP status in
``samvid.http_errors``; ``samvid.cli`` prints the message and exits 2.
"""

from __future__ import annotations

from samvid.core.errors import (
    ModelUnavailable,
    PromptError,
    SamvidError,
    TrackingError,
    UnknownObject,
    VideoError,
)

__all__ = [
    "BadRequest", "ConfigError", "ForbiddenSource", "ImageError", "ImageUnreachable",
    "ModelUnavailable", "NoEverythingMode", "NotFound", "PromptError", "SamvidError",
    "StudioError", "TimedOut", "TooLarge", "TrackingError", "UnknownObject", "VideoError",
]


class BadRequest(SamvidError):
    """The request is malformed: not JSON, wrong types, missing fields."""


class ConfigError(SamvidError):
    """The labeling config lacks what samvid needs (an image, a mask control)."""


class ImageError(SamvidError):
    """The image could not be fetched or decoded."""


class ImageUnreachable(ImageError):
    """The image's host could not be reached or failed (5xx): worth trying again later."""


class ForbiddenSource(SamvidError):
    """An image or video source is outside what samvid may read."""


class TooLarge(SamvidError):
    """A request, download or image exceeds a configured limit."""


class NoEverythingMode(SamvidError):
    """The configured segmenter has no automatic ("segment everything") mode."""


class TimedOut(SamvidError):
    """A request did not finish within its time limit (SAMVID_REQUEST_TIMEOUT)."""


class NotFound(SamvidError):
    """A job, task or project that does not exist."""


class QueueUnavailable(SamvidError):
    """The Redis job queue (REDIS_URL) could not be reached."""


class StudioError(SamvidError):
    """Label Studio could not be reached or refused a call."""
