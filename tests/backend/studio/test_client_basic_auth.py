"""A ``user:password@`` in Label Studio's URL (a proxy's, or pasted with it) is never sent
in place of samvid's API token: httpx made it Basic auth, which replaced the
``Authorization: Token`` header, and Label Studio, which reads only the token, refused every
call. Against a tiny local server that records what it is sent, no real Label Studio."""

from __future__ import annotations

import http.server
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from services import http_server

from samvid.errors import StudioError
from samvid.studio.client import Studio


@contextmanager
def recording_studio(status: int = 200) -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    """A server on 127.0.0.1 answering every GET with ``status`` and a project's JSON; yields
    its address and the (path, Authorization header) of each request."""
    seen: list[tuple[str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path.split("?")[0], self.headers.get("Authorization")))
            body = json.dumps({"id": 1, "title": "street", "label_config": "<View/>"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Handler) as url:
        yield url, seen


def test_label_studio_gets_the_api_token_and_not_the_urls_user_and_password() -> None:
    with recording_studio() as (url, seen):
        studio = Studio(url.replace("http://", "http://proxyuser:proxyPW@"), "k3y")
        studio.check()  # a raw call
        studio.sdk.projects.get(id=1)  # a call of label-studio-sdk, on the client samvid gives it
    assert seen == [("/api/current-user/whoami", "Token k3y"), ("/api/projects/1/", "Token k3y")]


def test_a_refused_key_with_a_user_and_password_in_the_url_says_they_were_not_sent() -> None:
    # A proxy asking for basic auth refuses with 401 too: "check the key" alone misled.
    with recording_studio(401) as (url, _):
        with pytest.raises(StudioError, match="refused the API key .*user:password@ is not sent") as caught:
            Studio(url.replace("http://", "http://proxyuser:proxyPW@"), "k3y").check()
        assert "proxyPW" not in caught.value.message
        with pytest.raises(StudioError) as plain:
            Studio(url, "k3y").check()
        assert "user:password@" not in plain.value.message


def test_a_refused_key_at_an_upper_case_url_without_user_and_password_says_nothing_of_them() -> None:
    with recording_studio(401) as (url, _):
        with pytest.raises(StudioError) as refused:
            Studio(url.replace("http://", "HTTP://"), "k3y").check()
    assert "user:password@" not in refused.value.message
