"""What the predictor logs of an image it could not read: where the image is, never the
signature of a presigned URL (its query), which lets anyone reading the log fetch it."""

from __future__ import annotations

import io
import logging
import threading
from http.server import BaseHTTPRequestHandler

import numpy as np
from PIL import Image
from services import http_server, wait_until

from samvid.core.prompts import Prompt
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.settings import Settings

SIGNED = "?X-Amz-Credential=AKIA%2Fkey&X-Amz-Signature=S3CRETSIG"


def _once_then_forbidden() -> type[BaseHTTPRequestHandler]:
    """An image store whose /once/ links work once (then expire: 403) and /forbid/ ones never."""
    served: set[str] = set()
    lock = threading.Lock()
    buf = io.BytesIO()
    Image.fromarray(np.full((30, 40, 3), 128, np.uint8)).save(buf, "PNG")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                first = self.path.startswith("/once/") and self.path not in served
                served.add(self.path)
            body = buf.getvalue() if first else b""
            self.send_response(200 if first else 403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def test_a_presigned_image_that_fails_is_logged_without_its_signature(monkeypatch, caplog) -> None:
    import samvid.predictor

    caplog.set_level(logging.DEBUG, logger="samvid")
    with http_server(_once_then_forbidden()) as url:
        config = Settings.from_env({"SAMVID_ALLOWED_HOSTS": "127.0.0.1"}, model="standin",
                                   precompute_on_open=False)
        predictor = Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10))
        # A task opened whose link expired: its warm-up fails.
        predictor.precompute(f"{url}/forbid/k.png{SIGNED}").result(timeout=30)
        # A frame read once, whose link expired before it is read again.
        once = f"{url}/once/a.png{SIGNED}"
        predictor.embedding(once, timeout=10)
        monkeypatch.setattr(samvid.predictor, "HTTP_REF_SECONDS", 0.0)
        predictor.predict(once, Prompt(((20.0, 15.0),), (1,)), (40, 30))
        wait_until(lambda: "again failed" in caplog.text, timeout=30, what="the re-read's failure logged")
    failures = [r.getMessage() for r in caplog.records if r.name == "samvid.predictor"]
    assert any(f"precompute of {url}/forbid/k.png failed" in m for m in failures), failures
    assert any(f"reading {url}/once/a.png again failed" in m for m in failures), failures
    assert "S3CRETSIG" not in caplog.text and "X-Amz" not in caplog.text
