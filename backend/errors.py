"""Failures a user can act on.

Each exception carries the HTTP status the server answers with and a message
that says what to do. They are raised anywhere and turned into HTTP or CLI
responses at the edges only (``samvid.app`` and ``samvid.cli``).
"""

from __future__ import annotations


class SamvidError(Exception):
    """Base class. ``status`` is the HTTP status the server answers with."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(SamvidError):
    """The request is malformed: not JSON, wrong types, missing fields."""


class PromptError(SamvidError):
    """A click or box cannot be used: outside the image, zero area, too many."""


class ConfigError(SamvidError):
    """The labeling config lacks what samvid needs (an image, a mask control)."""


class ImageError(SamvidError):
    """The image could not be fetched or decoded."""

    status = 422


class ImageUnreachable(ImageError):
    """The image's host could not be reached or failed (5xx): worth trying again later."""


class ForbiddenSource(SamvidError):
    """An image or video source is outside what samvid may read."""

    status = 403


class TooLarge(SamvidError):
    """A request, download or image exceeds a configured limit."""

    status = 413


class ModelUnavailable(SamvidError):
    """The configured model cannot be loaded (no weights, no network)."""

    status = 503


class NoEverythingMode(SamvidError):
    """The configured segmenter has no automatic ("segment everything") mode."""


class TimedOut(SamvidError):
    """A request did not finish within its time limit (SAMVID_REQUEST_TIMEOUT)."""

    status = 504


class NotFound(SamvidError):
    status = 404


class StudioError(SamvidError):
    """Label Studio could not be reached or refused a call."""

    status = 502


class VideoError(SamvidError):
    """A video cannot be opened or decoded."""

    status = 422
