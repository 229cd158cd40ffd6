"""The HTTP edge's one mapping from samvid's errors to response statuses.

Errors are raised in terms of what went wrong (``samvid.core.errors``,
``samvid.errors``); only the server knows they are answered over HTTP.
"""

from __future__ import annotations

from samvid.errors import (
    ForbiddenSource,
    ImageError,
    ModelUnavailable,
    NotFound,
    QueueUnavailable,
    SamvidError,
    StudioError,
    TimedOut,
    TooLarge,
    UnknownObject,
    VideoError,
)

# The most specific class wins (see ``http_status``); anything else a user can act on
# is a bad request (400): BadRequest, PromptError, ConfigError, NoEverythingMode,
# TrackingError.
HTTP_STATUS: dict[type[SamvidError], int] = {
    SamvidError: 400,
    ImageError: 422,  # and ImageUnreachable
    VideoError: 422,
    ForbiddenSource: 403,
    TooLarge: 413,
    ModelUnavailable: 503,
    QueueUnavailable: 503,
    TimedOut: 504,
    NotFound: 404,
    UnknownObject: 404,
    StudioError: 502,
}


def http_status(exc: SamvidError) -> int:
    """The status the server answers ``exc`` with: that of its nearest mapped class.

    >>> from samvid.errors import ImageUnreachable, TrackingError
    >>> http_status(ImageUnreachable("x")), http_status(TrackingError("x")), http_status(UnknownObject("x"))
    (422, 400, 404)
    """
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500  # not a SamvidError: a bug, not the user's to fix
