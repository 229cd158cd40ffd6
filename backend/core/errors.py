"""Failures a user can act on, raised by the tracker, the segmenters and the backend.

Neutral: an error says what went wrong and what to do, not how it is answered. The
edges decide that: the server maps each class to an HTTP status
(``samvid.http_errors``), the command line prints the message and exits 2, a job
records it. The backend's own errors (``samvid.errors``) derive from ``SamvidError`` too.
"""

from __future__ import annotations


class SamvidError(Exception):
    """Base class: ``message`` is the one line a user reads."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PromptError(SamvidError):
    """A click or box cannot be used: outside the image, zero area, too many."""


class VideoError(SamvidError):
    """A video cannot be opened or decoded."""


class ModelUnavailable(SamvidError):
    """The configured model cannot be loaded (no weights, no network)."""


class TrackingError(SamvidError):
    """A tracking call cannot be done as asked: no frames, a mask that is empty or of
    another size, a frame outside the video, no mask before propagating, an unknown
    engine."""


class UnknownObject(TrackingError):
    """An object id the tracking state does not hold."""
