"""What the command line logs: samvid's own lines, not one per HTTP call it makes."""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import threading
from collections.abc import Iterator

import numpy as np
import pytest
import requests
from flask import Flask, Response
from PIL import Image
from services import ServedApp

from samvid.cli import QueryCut, configure_logging, main
from samvid.images import ImageSource
from samvid.settings import Settings


@pytest.fixture
def refusing_studio(monkeypatch) -> Iterator[str]:
    """A Label Studio that refuses every token, as LABEL_STUDIO_URL: a command calling it
    makes a request or two, then stops. Yields its URL."""
    app = Flask("refusing-studio")
    app.add_url_rule("/<path:anything>", "refuse", lambda anything: Response(
        '{"detail": "Invalid token."}', status=401, mimetype="application/json"), methods=["GET", "POST"])
    with ServedApp(app) as served:
        monkeypatch.setenv("LABEL_STUDIO_URL", served.url)
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", "not-a-token")
        yield served.url


PROPAGATE = ["propagate", "--project", "Street", "--clip", "walk", "--from-frame", "4"]


def test_a_command_calling_label_studio_logs_no_line_per_request(refusing_studio: str, caplog) -> None:
    # prelabel, import and up quieted httpx each; propagate, export and serve logged every call.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="httpx")
    assert main(PROPAGATE) == 2
    assert not [r for r in caplog.records if r.name.startswith("httpx")]


@pytest.mark.parametrize("flag", ["--verbose", "-v", "SAMVID_LOG_LEVEL=DEBUG"])
def test_debug_logging_keeps_the_http_lines(flag, refusing_studio: str, monkeypatch, caplog) -> None:
    # SAMVID_LOG_LEVEL=DEBUG is -v for a deployment (the README says so).
    if "=" in flag:
        monkeypatch.setenv(*flag.split("="))
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    assert main([*([] if "=" in flag else [flag]), *PROPAGATE]) == 2
    assert [r for r in caplog.records if r.name.startswith("httpx")]


@pytest.mark.parametrize("flag", ["-v", "SAMVID_LOG_LEVEL=DEBUG"])
def test_debug_logging_names_each_image_fetched_without_its_query(flag, refusing_studio: str, monkeypatch,
                                                                  caplog) -> None:
    # urllib3 logs every request's path and query at DEBUG: a presigned image's signature.
    if "=" in flag:
        monkeypatch.setenv(*flag.split("="))
    caplog.set_level(logging.DEBUG)
    main([*([] if "=" in flag else [flag]), *PROPAGATE])
    requests.get(f"{refusing_studio}/img/f0.png?X-Amz-Credential=AKIA&X-Amz-Signature=S3CRETSIG", timeout=10)
    urllib3_lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any('"GET /img/f0.png HTTP/1.1" 401' in line for line in urllib3_lines), urllib3_lines
    assert not [line for line in urllib3_lines if "X-Amz" in line]


@contextlib.contextmanager
def image_server_with_a_bad_header_line() -> Iterator[str]:
    """A server answering a PNG with a header line that has no colon: urllib3.connection logs
    "Failed to parse headers (url=...)" at WARNING, the default level's lines."""
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 9, np.uint8)).save(buf, "PNG")
    body = buf.getvalue()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)

    def serve() -> None:
        with contextlib.suppress(OSError):  # the socket closed at the end
            while True:
                conn, _ = server.accept()
                with conn:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: %d\r\n"
                                 b"X-Odd header without colon\r\n\r\n%s" % (len(body), body))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_RDWR)  # wakes the accept (a close alone does not)
        server.close()
        thread.join(5)


def test_no_urllib3_line_at_the_default_level_holds_a_presigned_images_signature(caplog) -> None:
    # A filter on urllib3.connectionpool does not see urllib3.connection's records.
    configure_logging(logging.INFO)
    caplog.set_level(logging.INFO)
    source = ImageSource.from_settings(Settings.from_env({"SAMVID_ALLOWED_HOSTS": "127.0.0.1"}, model="standin"))
    with image_server_with_a_bad_header_line() as url:
        source.fetch(f"{url}/img/f0.png?d=videos/a.png&X-Amz-Credential=AKIA&X-Amz-Signature=SIG_S3CRET", 1)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any(f"(url={url}/img/f0.png?d=videos/a.png): " in line for line in lines), lines
    assert not [line for line in lines if "AKIA" in line or "S3CRET" in line]


def test_a_logged_query_keeps_what_does_not_sign_it() -> None:
    # A local file's ?d= says which file a line is about.
    record = logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1, '%s "%s %s" %s', (
        "http://ls:8080", "GET", "/data/local-files/?d=v/a.png&token=S3CRET&X-Goog-Signature=S3CRET", 200), None)
    QueryCut().filter(record)
    assert record.getMessage() == 'http://ls:8080 "GET /data/local-files/?d=v/a.png" 200'
