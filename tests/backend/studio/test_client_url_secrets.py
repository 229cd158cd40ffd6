"""A ``user:password@`` in Label Studio's URL or in an ML backend's URL is a secret: every
message and log line that names the server says ``***@`` instead, and a Label Studio error
body quoted in a message (which echoes the address it was sent) has the password taken out.
Against closed ports and a tiny local server, no real Label Studio."""

from __future__ import annotations

import http.server
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from services import free_port, http_server

from samvid.cli import main
from samvid.commands import propagate
from samvid.errors import StudioError
from samvid.redact import text_without_url_password
from samvid.studio.client import Studio

PASSWORD = "s3cretPW"
# Reply of the fake Label Studio to "METHOD /path": status and JSON body.
Reply = Callable[[str, str, bytes], "tuple[int, object]"]


@contextmanager
def fake_studio(reply: Reply) -> Iterator[tuple[str, str]]:
    """A server on 127.0.0.1 answering every request with ``reply(method, path, body)``;
    yields its address and the same address with a user and ``PASSWORD`` in it."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _serve(self) -> None:
            sent = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, body = reply(self.command, self.path.split("?")[0], sent)
            content = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Handler) as url:
        yield url, url.replace("http://", f"http://lsu:{PASSWORD}@")


def refusal(*quoted: str) -> dict[str, object]:
    """Label Studio's 400 for an ML backend it cannot reach: it quotes the address sent."""
    return {"status_code": 400, "detail": "Validation error", "validation_errors": {
        "url": [f"Can't connect to ML backend {url}, specify correct url" for url in quoted]}}


def backend_url(password: str = PASSWORD) -> str:
    return f"http://bu:{password}@127.0.0.1:{free_port()}"


def test_an_unreachable_label_studio_is_named_without_its_password() -> None:
    url = f"http://lsu:{PASSWORD}@127.0.0.1:{free_port()}"  # nothing listens there

    with pytest.raises(StudioError) as caught:
        Studio(url, "key").check()

    assert f"cannot reach Label Studio at http://***@127.0.0.1:{url.rsplit(':', 1)[1]}" in caught.value.message
    assert PASSWORD not in caught.value.message


def test_a_refused_api_key_names_label_studio_without_its_password() -> None:
    with fake_studio(lambda method, path, sent: (401, {"detail": "Invalid token."})) as (plain, url):
        with pytest.raises(StudioError) as caught:
            Studio(url, "key").check()

    assert caught.value.message.startswith(
        f"Label Studio at {plain.replace('http://', 'http://***@')} refused the API key (401)")
    assert PASSWORD not in caught.value.message


def test_label_studio_quoting_its_own_address_in_an_error_is_said_without_the_password() -> None:
    def failing(method: str, path: str, sent: bytes) -> tuple[int, object]:
        return 500, {"detail": f"Server error at {url}/api/current-user/whoami"}

    with fake_studio(failing) as (plain, url):
        with pytest.raises(StudioError) as caught:
            Studio(url, "key").check()

    assert PASSWORD not in caught.value.message
    assert f"{plain.replace('http://', 'http://***@')}/api/current-user/whoami" in caught.value.message


def test_a_refused_backend_is_named_and_quoted_without_its_password() -> None:
    backend = backend_url()

    def refusing(method: str, path: str, sent: bytes) -> tuple[int, object]:
        return (400, refusal(backend)) if method == "POST" else (200, [])

    with fake_studio(refusing) as (studio_url, _), pytest.raises(StudioError) as caught:
        Studio(studio_url, "key").connect_backend(1, backend)

    shown = backend.replace(f"bu:{PASSWORD}@", "***@")
    assert caught.value.message.startswith(f"Label Studio refused to connect the ML backend at {shown} ")
    assert f"(400: Can't connect to ML backend {shown}, specify correct url)" in caught.value.message
    assert PASSWORD not in caught.value.message


def test_a_password_where_a_long_refusal_is_cut_short_leaves_no_part_behind() -> None:
    # The quote is cut at 300 characters, inside the password: its first half was kept.
    backend = backend_url(password="x" * 10 + PASSWORD)
    padding = "p" * (300 - len("Can't connect to ML backend http://bu:") - 12)

    def refusing(method: str, path: str, sent: bytes) -> tuple[int, object]:
        body = {"validation_errors": {"url": [f"{padding}Can't connect to ML backend {backend}"]}}
        return (400, body) if method == "POST" else (200, [])

    with fake_studio(refusing) as (studio_url, _), pytest.raises(StudioError) as caught:
        Studio(studio_url, "key").connect_backend(1, backend)

    assert "xxxxx" not in caught.value.message and "s3cr" not in caught.value.message


def test_a_percent_encoded_password_quoted_decoded_is_hidden_too() -> None:
    backend = f"http://bu:pa%40ss{PASSWORD}@127.0.0.1:{free_port()}"

    def refusing(method: str, path: str, sent: bytes) -> tuple[int, object]:
        return (400, {"detail": f"backend refused basic auth pa@ss{PASSWORD}"}) if method == "POST" else (200, [])

    with fake_studio(refusing) as (studio_url, _), pytest.raises(StudioError) as caught:
        Studio(studio_url, "key").connect_backend(1, backend)

    assert PASSWORD not in caught.value.message and "(400: backend refused basic auth ***)" in caught.value.message


def moved_backend(old: str, patch: tuple[int, object]) -> Reply:
    """Label Studio with one backend titled "samvid" at ``old``, answering its update with ``patch``."""
    def reply(method: str, path: str, sent: bytes) -> tuple[int, object]:
        if method == "GET" and path.startswith("/api/ml"):
            return 200, [{"id": 3, "url": old, "title": "samvid", "is_interactive": True}]
        if method == "PATCH" and path.startswith("/api/ml/3"):
            return patch
        return 200, []  # the webhooks: none
    return reply


def test_a_moved_backend_is_logged_without_either_password(caplog: pytest.LogCaptureFixture) -> None:
    old, new = backend_url("0ldPW"), backend_url()
    moved = (200, {"id": 3, "url": new, "title": "samvid", "is_interactive": True})

    with fake_studio(moved_backend(old, moved)) as (studio_url, _), \
            caplog.at_level(logging.INFO, logger="samvid.studio.client"):
        assert Studio(studio_url, "key").connect_backend(1, new) == 3

    said = "\n".join(r.getMessage() for r in caplog.records)
    assert (f"ML backend 3 moved from {old.replace('bu:0ldPW@', '***@')} "
            f"to {new.replace(f'bu:{PASSWORD}@', '***@')}") in said
    assert PASSWORD not in said and "0ldPW" not in said


def test_a_refused_move_of_a_backend_is_said_without_either_password() -> None:
    old, new = backend_url("0ldPW"), backend_url()

    with fake_studio(moved_backend(old, (400, refusal(new, old)))) as (studio_url, _), \
            pytest.raises(StudioError) as caught:
        Studio(studio_url, "key").connect_backend(1, new)

    message = caught.value.message
    assert message.startswith(f"Label Studio refused to move the ML backend from "
                              f"{old.replace('bu:0ldPW@', '***@')} to {new.replace(f'bu:{PASSWORD}@', '***@')} ")
    assert PASSWORD not in message and "0ldPW" not in message


@pytest.mark.parametrize("change", ["move", "authorize"])
def test_a_refused_change_of_the_backends_webhook_is_said_without_the_backends_password(change: str) -> None:
    # Label Studio's webhook to a backend is the backend's address, password and all; its
    # refusal to move the webhook (or to give it the backend's basic auth) quoted it whole.
    old, new = backend_url("0ldPW"), backend_url()
    connected = old if change == "move" else new

    def reply(method: str, path: str, sent: bytes) -> tuple[int, object]:
        if path.startswith("/api/ml"):
            backend = {"id": 3, "url": new if method == "PATCH" else connected, "title": "samvid",
                       "is_interactive": True}
            return 200, [backend] if method == "GET" else backend
        if method == "GET":
            return 200, [{"id": 5, "project": 1, "url": f"{connected}/webhook"}]
        return 400, {"validation_errors": {"url": [f"{connected}/webhook is not allowed, nor {new}/webhook"]}}

    with fake_studio(reply) as (studio_url, _), pytest.raises(StudioError) as caught:
        Studio(studio_url, "key").connect_backend(1, new, user="bu" if change == "authorize" else None,
                                                  password="pw")

    message = caught.value.message
    assert message.startswith("Label Studio refused to " + (
        "move the backend's webhook" if change == "move" else "set webhook headers"))
    assert f"{new.replace(f'bu:{PASSWORD}@', '***@')}/webhook" in message
    assert PASSWORD not in message and "0ldPW" not in message


def test_samvid_export_names_an_unreachable_label_studio_without_its_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://lsu:{PASSWORD}@127.0.0.1:{free_port()}"

    rc = main(["export", "--format", "coco", "--url", url, "--api-key", "key", "--project", "x",
               str(tmp_path / "out")])

    err = capsys.readouterr().err
    assert rc == 2 and "cannot reach Label Studio at http://***@127.0.0.1:" in err
    assert PASSWORD not in err


@pytest.mark.parametrize("command", [
    ["import", "--project", "demo project", "--upload"],
    ["propagate", "--project", "1", "--clip", "c", "--from-frame", "0"],
])
def test_a_bad_backend_url_is_refused_without_its_password(
        command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = tmp_path / "demo.mp4"
    video.write_bytes(b"")
    args = [*command, "--backend-url", f"ftp://bu:{PASSWORD}@127.0.0.1:1"]

    rc = main([*args, str(video)] if command[0] == "import" else args)

    err = capsys.readouterr().err
    assert rc == 2 and "--backend-url 'ftp://***@127.0.0.1:1'" in err
    assert PASSWORD not in err


def test_samvid_propagate_names_an_unreachable_backend_without_its_password(
        capsys: pytest.CaptureFixture[str]) -> None:
    backend = backend_url()

    rc = main(["propagate", "--project", "1", "--clip", "c", "--from-frame", "0", "--backend-url", backend])

    err = capsys.readouterr().err
    assert rc == 2 and f"cannot reach the samvid backend at {backend.replace(f'bu:{PASSWORD}@', '***@')}" in err
    assert PASSWORD not in err


def test_samvid_propagate_that_loses_touch_with_the_backend_says_where_to_follow_the_job_without_its_password(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # The backend took the job, then its job record answered 503 until the poll gave up.
    def taken_then_busy(method: str, path: str, sent: bytes) -> tuple[int, object]:
        if method == "POST":
            return 200, {"id": "j1", "state": "queued", "frames_done": 0, "frames_total": 1, "fps": 0}
        return 503, {"error": "busy"}

    monkeypatch.setattr(propagate, "POLL_RETRY_SECONDS", 1.0)
    with fake_studio(taken_then_busy) as (plain, backend):
        rc = main(["propagate", "--project", "1", "--clip", "c", "--from-frame", "0", "--backend-url", backend])

    err = capsys.readouterr().err
    assert rc == 2 and f"follow it with GET {plain.replace('http://', 'http://***@')}/jobs/j1 (DELETE cancels it)" in err
    assert PASSWORD not in err


@pytest.mark.parametrize(("url", "text", "said"), [
    ("http://bu:pw1@ml:9090", "no ML backend at http://bu:pw1@ml:9090/health",
     "no ML backend at http://***@ml:9090/health"),
    ("http://bu:pw12@ml:9090", "its password pw12 was refused", "its password *** was refused"),
    ("http://TOKEN1@ml:9090", "http://TOKEN1@ml:9090 took TOKEN1", "http://***@ml:9090 took ***"),  # a user alone: a token
    ("http://bu:s3/cr?et@ml:9090", "at http://bu:s3/cr?et@ml:9090", "at http://***@ml:9090"),
    ("http://ml:9090", "at http://ml:9090 as bu", "at http://ml:9090 as bu"),  # nothing to hide
])
def test_text_without_url_password(url: str, text: str, said: str) -> None:
    assert text_without_url_password(text, url) == said
