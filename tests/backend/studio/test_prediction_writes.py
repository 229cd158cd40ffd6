"""Writing a frame's prediction is safe to retry: against the real Label Studio behind a
connection that drops the answer to the first write (Label Studio stored it, samvid never
heard), the frame still ends with exactly one samvid prediction."""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from clips import import_clip, predictions
from ls_requests import BRUSH_CONFIG
from services import http_server

from samvid.studio.client import Studio

pytestmark = pytest.mark.studio


@contextmanager
def answer_dropping_proxy(target: str, drops: int = 1) -> Iterator[str]:
    """A proxy on 127.0.0.1 to ``target`` that forwards the first ``drops`` prediction
    writes but hangs up instead of answering them; everything else passes through."""
    left = {"drops": drops}

    class Handler(http.server.BaseHTTPRequestHandler):
        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            reply = httpx.request(self.command, target + self.path, headers=headers, content=body, timeout=60)
            if self.command == "POST" and self.path.startswith("/api/predictions") and left["drops"] > 0:
                left["drops"] -= 1
                self.close_connection = True  # stored upstream; the answer is lost
                return
            self.send_response(reply.status_code)
            for k, v in reply.headers.items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(reply.content)))
            self.end_headers()
            self.wfile.write(reply.content)

        do_GET = do_POST = do_DELETE = do_PATCH = _forward

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Handler) as url:
        yield url


def test_a_write_whose_answer_is_lost_leaves_one_prediction(label_studio) -> None:
    clip = import_clip(label_studio, BRUSH_CONFIG, name="lost-answer", n=2)
    task = clip.task_ids[1]
    with answer_dropping_proxy(label_studio.url) as url:
        studio = Studio(url, label_studio.token, retry_delays=(0.2, 0.2, 0.2))
        studio.replace_predictions(task, "samvid-track", [], "samvid-track:flow", 0.5, write_empty=True)
    ours = [p for p in predictions(label_studio, task) if p["model_version"].startswith("samvid-track")]
    assert len(ours) == 1, ours
