"""HTTP basic auth for the backend, as Label Studio sends it (``auth_method: BASIC_AUTH``)."""

from __future__ import annotations

import base64
import hmac

OPEN_PATHS = frozenset({"/", "/health"})  # load balancers and LS's connection check


def basic_auth_ok(header: str | None, user: str, password: str) -> bool:
    """True when ``header`` carries exactly ``user``/``password``, compared in constant time."""
    if not header:
        return False
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic":  # auth schemes are case-insensitive (RFC 7235 2.1)
        return False
    try:
        raw = base64.b64decode(credentials.strip(), validate=True)
    except ValueError:
        return False
    # Browsers and curl send UTF-8; Label Studio sends requests' HTTPBasicAuth, which
    # encodes latin-1 (RFC 7617 leaves it open): a non-ASCII password must pass from both.
    # Both readings are tried: some latin-1 bytes are valid UTF-8 too ("Ã©" reads as "é").
    readings = [raw.decode("latin-1")]
    try:
        readings.insert(0, raw.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    return any([_credentials_match(given, user, password) for given in readings])  # a list: no short cut


def _credentials_match(given: str, user: str, password: str) -> bool:
    given_user, sep, given_password = given.partition(":")
    # Both comparisons always run, so timing does not tell which half was wrong.
    user_ok = hmac.compare_digest(given_user.encode(), user.encode())
    password_ok = hmac.compare_digest(given_password.encode(), password.encode())
    return bool(sep) and user_ok and password_ok


def basic_auth_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
