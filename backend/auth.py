"""HTTP basic auth for the backend, as Label Studio sends it (``auth_method: BASIC_AUTH``)."""

from __future__ import annotations

import base64
import hmac

OPEN_PATHS = frozenset({"/", "/health"})  # load balancers and LS's connection check


def basic_auth_ok(header: str | None, user: str, password: str) -> bool:
    """True when ``header`` carries exactly ``user``/``password``, compared in constant time."""
    if not header or not header.startswith("Basic "):
        return False
    try:
        given = base64.b64decode(header[6:], validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    given_user, sep, given_password = given.partition(":")
    # Both comparisons always run, so timing does not tell which half was wrong.
    user_ok = hmac.compare_digest(given_user.encode(), user.encode())
    password_ok = hmac.compare_digest(given_password.encode(), password.encode())
    return bool(sep) and user_ok and password_ok


def basic_auth_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
