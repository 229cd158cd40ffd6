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


def test_tasks_opened_in_quick_succession_leave_the_encoder_to_the_frame_now_open(tmp_path) -> None:
    # An annotator pressing "next" opens tasks faster than they embed: each opening queued
    # an encoder run, and the frames left behind held the encoder for minutes.
    import threading

    class Gated(StandInSegmenter):
        def __init__(self) -> None:
            super().__init__(radius=10)
            self.gate, self.embedded = threading.Event(), []

        def embed(self, image: np.ndarray):  # type: ignore[no-untyped-def]
            self.gate.wait(10)  # the first frame's encoder runs while the others are opened
            self.embedded.append(int(image[0, 0, 0]))
            return super().embed(image)

    refs = []
    for i in range(6):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.full((30, 40, 3), i, np.uint8)).save(path)
        refs.append(str(path))
    config = Settings.from_env({}, model="standin", precompute_on_open=False, local_roots=(tmp_path,))
    segmenter = Gated()
    predictor = Predictor.from_settings(config, segmenter=segmenter)
    futures = [predictor.precompute(ref) for ref in refs]
    segmenter.gate.set()
    for future in futures:
        if not future.cancelled():
            future.result(timeout=10)
    assert segmenter.embedded[-1] == 5  # the frame open now is warmed
    assert len(segmenter.embedded) <= 2  # not one run per frame left behind


def test_an_http_frame_replaced_by_another_of_the_same_size_is_segmented_as_the_new_picture(
    monkeypatch,
) -> None:
    # No file stamp tells that an image over HTTP changed (cloud storage, a Label Studio on
    # another machine): the old picture's embedding was used until a restart.
    import samvid.predictor

    pictures = [np.full((30, 40, 3), 10, np.uint8), np.full((30, 40, 3), 200, np.uint8)]

    class Swappable(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            buf = io.BytesIO()
            Image.fromarray(pictures[0]).save(buf, "PNG")
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(buf.getvalue())))
            self.end_headers()
            self.wfile.write(buf.getvalue())

        def log_message(self, *args: object) -> None:
            pass

    class Keeping(StandInSegmenter):  # an embedding that shows which picture it was made of
        def embed(self, image: np.ndarray):  # type: ignore[no-untyped-def]
            found = super().embed(image)
            found.tensors["grey"] = image[:1, :1, 0].copy()
            return found

    with http_server(Swappable) as url:
        config = Settings.from_env({}, model="standin", precompute_on_open=False, label_studio_url=url)
        predictor = Predictor.from_settings(config, segmenter=Keeping(radius=10))
        ref = "/data/upload/1/frame_000010.png"
        assert predictor.embedding(ref)[0].tensors["grey"][0, 0] == 10
        pictures.pop(0)  # extracted again: the same name, the same size, another picture
        monkeypatch.setattr(samvid.predictor, "HTTP_REF_SECONDS", 0.0, raising=False)  # a while later
        assert predictor.embedding(ref)[0].tensors["grey"][0, 0] == 200


def test_a_mask_for_an_image_shown_at_another_resolution_comes_back_at_the_size_shown(tmp_path) -> None:
    # Label Studio decodes a brush into the image it shows (the original_width/height it
    # sent): a mask at the size samvid read wrapped its rows there, away from the click.
    from samvid.core.prompts import Prompt

    Image.fromarray(np.full((100, 200, 3), 90, np.uint8)).save(tmp_path / "a.png")
    config = Settings.from_env({}, model="standin", precompute_on_open=False, local_roots=(tmp_path,))
    predictor = Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10))
    shown = (400, 200)  # the same picture at twice the resolution
    mask = predictor.predict(str(tmp_path / "a.png"), Prompt(((300.0, 100.0),), (1,)), shown).prediction.mask
    assert mask.shape == (200, 400)
    ys, xs = np.nonzero(mask)
    assert abs(xs.mean() - 300) < 2 and abs(ys.mean() - 100) < 2
