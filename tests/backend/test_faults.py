"""Faults: Label Studio away for a while (the retry policy of background jobs)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
from services import free_port

from samvid.errors import ConfigError, ImageError, ImageUnreachable, StudioError
from samvid.propagation import TaskFrames
from samvid.settings import Settings
from samvid.studio.client import Studio, Task, backoff


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


def test_backoff_doubles_to_ten_seconds_and_adds_up_to_the_budget():
    assert backoff(120) == (0.5, 1.0, 2.0, 4.0, 8.0, *[10.0] * 10, 4.5)
    assert sum(backoff(120)) == 120
    assert backoff(0) == ()
    assert backoff(1) == (0.5, 0.5)


class _FlakyImages:
    """An image source whose host is away for the first ``away`` fetches."""

    def __init__(self, away: int, error=ImageUnreachable) -> None:
        self.away, self.error, self.fetches = away, error, 0

    def fetch(self, ref, task_id=None) -> bytes:
        self.fetches += 1
        if self.fetches <= self.away:
            raise self.error("cannot fetch http://ls/data/1.png: ConnectionError")
        return b"png"

    def decode(self, data: bytes) -> np.ndarray:
        return np.zeros((4, 4, 3), np.uint8)


def test_a_frame_whose_host_is_away_is_fetched_again_until_it_answers():
    images = _FlakyImages(away=2)
    heard = []
    studio = Studio("http://127.0.0.1:9", "token", retry_delays=(0.01, 0.01, 0.01), on_retry=heard.append)
    frames = TaskFrames([Task(1, {"image": "/data/1.png"})], images, "image", studio)
    assert frames[0].shape == (4, 4, 3)
    assert images.fetches == 3
    assert len(heard) == 2 and "retry 1 of 3" in heard[0] and "ConnectionError" in heard[0]


def test_a_frame_that_stays_away_or_is_refused_is_reported_unreadable():
    studio = Studio("http://127.0.0.1:9", "token", retry_delays=(0.01,))
    away = TaskFrames([Task(1, {"image": "/data/1.png"})], _FlakyImages(away=9), "image", studio)
    with pytest.raises(ImageUnreachable):
        away[0]
    refused = _FlakyImages(away=1, error=ImageError)
    with pytest.raises(ImageError):
        TaskFrames([Task(1, {"image": "/data/1.png"})], refused, "image", studio)[0]
    assert refused.fetches == 1  # a refusal (4xx, bad bytes) is not retried


@pytest.mark.parametrize("value", ["-1", "nan", "1e9", "long"])
def test_studio_retry_budget_that_is_not_sane_is_refused_at_start(value):
    with pytest.raises(ConfigError, match="SAMVID_STUDIO_RETRY_SECONDS"):
        Settings.from_env({"SAMVID_STUDIO_RETRY_SECONDS": value})
