"""The HTTP edge's one table of statuses: the same answers as before the errors moved to
``samvid.core``, and the tracker's own errors answered as client errors."""

from __future__ import annotations

import pytest

from samvid import errors
from samvid.http_errors import http_status


@pytest.mark.parametrize("error, status", [
    (errors.BadRequest, 400), (errors.PromptError, 400), (errors.ConfigError, 400),
    (errors.NoEverythingMode, 400), (errors.ImageError, 422), (errors.ImageUnreachable, 422),
    (errors.VideoError, 422), (errors.ForbiddenSource, 403), (errors.TooLarge, 413),
    (errors.ModelUnavailable, 503), (errors.TimedOut, 504), (errors.NotFound, 404),
    (errors.StudioError, 502),
    # The tracker raises its own errors, never the server's: a bad tracking call is the
    # client's (400), an object the state does not hold is not found (404).
    (errors.TrackingError, 400), (errors.UnknownObject, 404),
])
def test_each_error_has_its_status(error, status):
    assert http_status(error("x")) == status

