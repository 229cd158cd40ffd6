"""Faults: Label Studio away for a while (the retry policy of background jobs)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from services import free_port

from samvid.errors import StudioError
from samvid.studio.client import Studio


class _Answer(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802
        body = json.dumps({"ok": True}).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _serve_later(port: int, delay: float, status: int = 200) -> HTTPServer:
    _Answer.status = status
    holder: dict[str, HTTPServer] = {}

    def start():
        time.sleep(delay)
        holder["server"] = HTTPServer(("127.0.0.1", port), _Answer)
        holder["server"].serve_forever()

    threading.Thread(target=start, daemon=True).start()
    return holder


def test_label_studio_away_for_a_while_is_ridden_out():
    port = free_port()
    holder = _serve_later(port, delay=1.0)
    studio = Studio(f"http://127.0.0.1:{port}", "token", retry_delays=(0.5, 0.5, 0.5, 0.5, 0.5))
    try:
        assert studio.request("GET", "/api/anything", "read") == {"ok": True}
    finally:
        holder["server"].shutdown()


def test_label_studio_away_for_too_long_fails_visibly():
    studio = Studio(f"http://127.0.0.1:{free_port()}", "token", retry_delays=(0.1, 0.1))
    t = time.monotonic()
    with pytest.raises(StudioError, match="cannot reach Label Studio"):
        studio.request("GET", "/api/anything", "read")
    assert time.monotonic() - t < 5


def test_a_refusal_is_not_retried():
    port = free_port()
    holder = _serve_later(port, delay=0, status=403)
    time.sleep(0.3)
    studio = Studio(f"http://127.0.0.1:{port}", "token", retry_delays=(5.0,))
    t = time.monotonic()
    try:
        with pytest.raises(StudioError):
            studio.request("GET", "/api/anything", "read")
        assert time.monotonic() - t < 2
    finally:
        holder["server"].shutdown()
