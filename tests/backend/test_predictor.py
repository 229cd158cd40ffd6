"""The predictor: an image reference names the image of the Label Studio in use now."""

from __future__ import annotations

import io
from http.server import BaseHTTPRequestHandler

import numpy as np
from PIL import Image
from services import http_server

from samvid.images import ImageSource
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.settings import Settings


def _serving(width: int, height: int) -> type[BaseHTTPRequestHandler]:
    buf = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 128, np.uint8)).save(buf, "PNG")
    data = buf.getvalue()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def test_a_reference_names_the_new_label_studios_image_once_its_address_changes() -> None:
    with http_server(_serving(40, 30)) as old, http_server(_serving(80, 60)) as new:
        config = Settings.from_env({}, model="standin", precompute_on_open=False, label_studio_url=old)
        predictor = Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10))
        ref = "/data/upload/1/a.png"
        assert predictor.embedding(ref)[0].image_size == (30, 40)
        # What /setup does when it names another Label Studio (samvid.service).
        predictor.source = ImageSource.from_settings(Settings.from_env({}, label_studio_url=new))
        embedding, cached = predictor.embedding(ref)
        assert embedding.image_size == (60, 80) and not cached


def test_a_new_token_for_the_same_label_studio_keeps_what_its_references_named() -> None:
    # Label Studio sends /setup with its token whenever a task without predictions opens:
    # each one made the next click download and hash its image again.
    fetched = []

    class Counting(_serving(40, 30)):  # type: ignore[misc, valid-type]
        def do_GET(self) -> None:
            fetched.append(self.path)
            super().do_GET()

    with http_server(Counting) as url:
        config = Settings.from_env({}, model="standin", precompute_on_open=False, label_studio_url=url)
        predictor = Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10))
        predictor.embedding("/data/upload/1/a.png")
        for token in ("t1", "t2"):
            predictor.source = ImageSource.from_settings(Settings.from_env(
                {}, label_studio_url=url, label_studio_api_key=token))
            assert predictor.embedding("/data/upload/1/a.png")[1]  # cached
    assert len(fetched) == 1
