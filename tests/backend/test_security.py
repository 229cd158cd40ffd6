"""Who may call the backend, and where its token may go."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
from ls_requests import keypoint, png_bytes, predict_body, write_png

from samvid.app import create_app
from samvid.auth import basic_auth_header, basic_auth_ok
from samvid.errors import ConfigError
from samvid.images import ImageSource
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.settings import Settings


@pytest.fixture
def secured(images):
    settings = Settings.from_env({}, model="standin", local_roots=(images,), auth_user="ls",
                                 auth_password="s3cret pass", precompute_on_open=False)
    app = create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter()))
    return app.test_client()


def test_every_route_but_health_needs_basic_auth(secured):
    assert secured.get("/health").status_code == 200
    for method, path in [("post", "/predict"), ("post", "/setup"), ("post", "/webhook"),
                         ("post", "/propagate"), ("get", "/jobs/x"), ("get", "/metrics"),
                         ("get", "/versions")]:
        resp = getattr(secured, method)(path, json={})
        assert resp.status_code == 401, path
        assert resp.headers["WWW-Authenticate"].startswith("Basic")


def test_the_right_credentials_pass_and_wrong_ones_do_not(secured, images):
    frame = str(write_png(images / "f.png", 32, 32))
    body = predict_body(frame, [keypoint(10.5, 10.5, 32, 32)])
    ok = secured.post("/predict", json=body, headers={"Authorization": basic_auth_header("ls", "s3cret pass")})
    assert ok.status_code == 200
    for user, password in [("ls", "wrong"), ("other", "s3cret pass"), ("ls", "s3cret pass ")]:
        bad = secured.post("/predict", json=body, headers={"Authorization": basic_auth_header(user, password)})
        assert bad.status_code == 401


@pytest.mark.parametrize("header", [None, "", "Bearer x", "Basic !!!", "Basic " + "é", "Basic bHM="])
def test_malformed_auth_headers_are_refused(header):
    assert not basic_auth_ok(header, "ls", "pw")


def test_half_configured_auth_is_a_config_error():
    with pytest.raises(ConfigError):
        Settings.from_env({"SAMVID_AUTH_USER": "ls"})


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []
    redirect_to: str | None = None

    def do_GET(self):  # noqa: N802 - http.server's naming
        type(self).seen.append(dict(self.headers))
        if type(self).redirect_to:
            self.send_response(302)
            self.send_header("Location", type(self).redirect_to)
            self.end_headers()
            return
        body = png_bytes(np.zeros((4, 4, 3), np.uint8))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def other_host():
    _Recorder.seen, _Recorder.redirect_to = [], None
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_the_label_studio_token_never_goes_to_another_host(other_host):
    source = ImageSource("http://127.0.0.1:1", api_key="TOKEN", allowed_hosts=("127.0.0.1",))
    assert source.fetch(f"{other_host}/img.png")
    assert all("Authorization" not in h for h in _Recorder.seen)


def test_a_redirect_to_a_private_address_is_refused(other_host):
    from samvid.errors import ForbiddenSource

    _Recorder.redirect_to = "http://169.254.169.254/latest/meta-data"
    source = ImageSource("http://127.0.0.1:1", api_key="TOKEN", allowed_hosts=("127.0.0.1",))
    with pytest.raises(ForbiddenSource):
        source.fetch(f"{other_host}/img.png")


def test_metrics_report_latency_and_cache(client, images):
    frame = str(write_png(images / "m.png", 32, 32))
    for _ in range(2):
        client.post("/predict", json=predict_body(frame, [keypoint(10.5, 10.5, 32, 32)]))
    text = client.get("/metrics").get_data(as_text=True)
    assert 'samvid_request_seconds_count{route="/predict",status="200"} 2.0' in text
    assert 'samvid_embedding_cache_total{result="hit"}' in text
    assert "samvid_jobs{" in text


def test_secrets_never_reach_the_logs_or_error_messages(images, caplog):
    import logging

    token, password = "TOKEN-" + "a1" * 19, "pass-word-do-not-log"
    settings = Settings.from_env({}, model="standin", local_roots=(images,), auth_user="ls",
                                 auth_password=password, label_studio_url="http://127.0.0.1:9",
                                 label_studio_api_key=token)
    client = create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter())).test_client()
    auth = {"Authorization": basic_auth_header("ls", password)}
    caplog.set_level(logging.DEBUG)
    bodies = [
        predict_body("/data/upload/1/x.png", [keypoint(5, 5, 64, 48)]),  # fetch from LS fails
        predict_body("http://127.0.0.1:9/x.png?token=" + token, [keypoint(5, 5, 64, 48)]),
    ]
    texts = [client.post("/predict", json=b, headers=auth).get_data(as_text=True) for b in bodies]
    texts.append(client.post("/predict", json=bodies[0], headers={"Authorization": basic_auth_header("ls", "x")}).get_data(as_text=True))
    texts.append(client.post("/setup", json={"access_token": token, "hostname": "http://x"}, headers=auth).get_data(as_text=True))
    texts.append(client.post("/propagate", json={"project": 1, "clip": "c", "frame": 0}, headers=auth).get_data(as_text=True))
    everything = caplog.text + "".join(texts) + repr(settings)
    assert token not in everything and password not in everything
