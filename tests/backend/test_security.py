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


@pytest.mark.parametrize("host", [
    "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    "[64:ff9b:1::a00:1]",  # local-use NAT64 of 10.0.0.1
    "[2002:a9fe:a9fe::1]",  # 6to4 of 169.254.169.254
    "[::a9fe:a9fe]",  # IPv4-compatible 169.254.169.254
    "[::ffff:100.64.0.1]",  # IPv4-mapped shared (carrier-grade NAT) space
    "[::ffff:0:a9fe:a9fe]",  # SIIT IPv4-translated 169.254.169.254
])
def test_an_ipv6_address_carrying_a_private_ipv4_address_is_refused(host):
    from samvid.errors import ForbiddenSource

    source = ImageSource("http://127.0.0.1:1")
    with pytest.raises(ForbiddenSource, match="non-public address"):
        source._check_host(f"http://{host}/latest/meta-data")  # what fetch checks before connecting


@pytest.mark.parametrize("host", ["[64:ff9b::808:808]", "[2002:808:808::1]", "[::ffff:8.8.8.8]"])
def test_an_ipv6_address_carrying_a_public_ipv4_address_is_not_refused(host):
    ImageSource("http://127.0.0.1:1")._check_host(f"http://{host}/frame.png")


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
    app = create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter()))
    client = app.test_client()
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
    # The job retries Label Studio at 127.0.0.1:9 in the background: stopped, its lines are in too
    # (and it no longer retries after the test, to the end of the run).
    app.extensions["samvid.jobs"].stop()
    everything = caplog.text + "".join(texts) + repr(settings)
    assert token not in everything and password not in everything


def test_label_studio_basic_auth_with_a_non_ascii_password_passes(images):
    import requests
    from requests.auth import HTTPBasicAuth

    settings = Settings.from_env({}, model="standin", local_roots=(images,), auth_user="ls",
                                 auth_password="pässwörd", precompute_on_open=False)
    client = create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter())).test_client()
    # Label Studio 1.23 sends requests' HTTPBasicAuth (latin-1); browsers and curl UTF-8.
    from_studio = requests.Request("GET", "http://x/", auth=HTTPBasicAuth("ls", "pässwörd")).prepare()
    for header in (from_studio.headers["Authorization"], basic_auth_header("ls", "pässwörd")):
        assert client.get("/versions", headers={"Authorization": header}).status_code == 200
    wrong = requests.Request("GET", "http://x/", auth=HTTPBasicAuth("ls", "passwörd")).prepare()
    assert client.get("/versions", headers={"Authorization": wrong.headers["Authorization"]}).status_code == 401


def test_a_redirect_to_a_malformed_url_is_an_image_error(other_host):
    from samvid.errors import ImageError

    _Recorder.redirect_to = "http://127.0.0.1:99999/x.png"
    source = ImageSource("http://127.0.0.1:1", allowed_hosts=("127.0.0.1",))
    with pytest.raises(ImageError, match="99999"):
        source.fetch(f"{other_host}/img.png")


def _public_and_private(monkeypatch) -> None:
    """Name lookups without the network: *.internal is private, anything else public."""
    import socket

    def lookup(host, *args, **kwargs):
        address = "10.0.0.5" if str(host).endswith(".internal") else "52.216.8.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", lookup)


def test_allowed_hosts_are_allowed_in_addition_to_public_ones(monkeypatch):
    from samvid.errors import ForbiddenSource

    _public_and_private(monkeypatch)
    source = ImageSource("http://localhost:8080", allowed_hosts=("minio.internal",))
    source._check_host("http://minio.internal/frames/1.png")  # listed: private, allowed
    # Where Label Studio's cloud storage resolve redirects to: public, never listed.
    source._check_host("https://bucket.s3.amazonaws.com/frame.png?X-Amz-Signature=abc")
    with pytest.raises(ForbiddenSource, match="SAMVID_ALLOWED_HOSTS"):
        source._check_host("http://other.internal/x.png")


def _open_backend(images, **settings):
    config = Settings.from_env({}, model="standin", local_roots=(images,), precompute_on_open=False, **settings)
    app = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter()))
    return app, app.test_client()


def test_setup_from_an_unknown_host_does_not_lift_the_private_address_check(images, other_host, caplog):
    import logging

    app, client = _open_backend(images)  # no LABEL_STUDIO_API_KEY, no auth: both documented
    with caplog.at_level(logging.WARNING, logger="samvid.service"):
        client.post("/setup", json={"project": "1.1", "hostname": other_host, "access_token": "anyone"})
    body = predict_body(f"{other_host}/img.png", [keypoint(2, 2, 4, 4)])
    assert client.post("/predict", json=body).status_code == 403
    assert _Recorder.seen == []  # nothing was fetched from the private address
    assert app.extensions["samvid.service"].settings.label_studio_url == "http://localhost:8080"
    assert "LABEL_STUDIO_URL" in caplog.text and "SAMVID_AUTH_USER" in caplog.text


def test_setup_never_replaces_a_configured_label_studio_url(images, other_host, caplog):
    import logging

    configured = "http://label-studio.example:8080"
    app, client = _open_backend(images, label_studio_url=configured, auth_user="ls", auth_password="pw")
    auth = {"Authorization": basic_auth_header("ls", "pw")}
    with caplog.at_level(logging.WARNING, logger="samvid.service"):
        client.post("/setup", json={"hostname": other_host, "access_token": "t"}, headers=auth)
    assert app.extensions["samvid.service"].settings.label_studio_url == configured
    assert app.extensions["samvid.service"].settings.label_studio_api_key == ""
    assert "LABEL_STUDIO_API_KEY" in caplog.text
    # The token for the configured Label Studio is taken, whichever way it is spelled.
    client.post("/setup", json={"hostname": configured + "/", "access_token": "t"}, headers=auth)
    assert app.extensions["samvid.service"].settings.label_studio_api_key == "t"


def test_an_authenticated_setup_names_label_studio_when_none_is_configured(images, other_host):
    app, client = _open_backend(images, auth_user="ls", auth_password="pw")
    auth = {"Authorization": basic_auth_header("ls", "pw")}
    client.post("/setup", json={"hostname": other_host, "access_token": "t"}, headers=auth)
    settings = app.extensions["samvid.service"].settings
    assert (settings.label_studio_url, settings.label_studio_api_key) == (other_host, "t")
    body = predict_body(f"{other_host}/img.png", [keypoint(2, 2, 4, 4)])
    assert client.post("/predict", json=body, headers=auth).status_code == 200  # Label Studio's host


@pytest.mark.parametrize("password", ["Ã©tude", "wortÂ\u00a0wort"])
def test_label_studio_basic_auth_passes_with_a_password_whose_latin1_bytes_read_as_utf8(images, password):
    import requests
    from requests.auth import HTTPBasicAuth

    settings = Settings.from_env({}, model="standin", local_roots=(images,), auth_user="ls",
                                 auth_password=password, precompute_on_open=False)
    client = create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter())).test_client()
    from_studio = requests.Request("GET", "http://x/", auth=HTTPBasicAuth("ls", password)).prepare()
    for header in (from_studio.headers["Authorization"], basic_auth_header("ls", password)):
        assert client.get("/versions", headers={"Authorization": header}).status_code == 200


def _rebinding(monkeypatch, name: str, answers: list[str]) -> None:
    """``name`` answers each lookup with the next of ``answers`` (the last one from then
    on), as a DNS server with a short TTL can; other names resolve as usual."""
    import socket

    real, asked = socket.getaddrinfo, []

    def lookup(host, port, *args, **kwargs):
        if host != name:
            return real(host, port, *args, **kwargs)
        asked.append(host)
        address = answers[min(len(asked), len(answers)) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", lookup)


def test_a_name_that_resolves_public_when_checked_and_private_when_fetched_is_refused(monkeypatch, other_host):
    from samvid.errors import ForbiddenSource

    port = other_host.rsplit(":", 1)[1]
    _rebinding(monkeypatch, "rebind.example", ["93.184.216.34", "127.0.0.1"])
    with pytest.raises(ForbiddenSource, match="non-public address 127.0.0.1"):
        ImageSource("http://label-studio:8080").fetch(f"http://rebind.example:{port}/img.png")
    assert _Recorder.seen == []  # the request never reached the private address


def test_a_checked_host_is_fetched_by_its_name(monkeypatch, other_host):
    import samvid.images

    port = other_host.rsplit(":", 1)[1]
    _rebinding(monkeypatch, "img.example", ["127.0.0.1"])
    monkeypatch.setattr(samvid.images, "_is_public", lambda address: True)  # loopback stands in for a public host
    assert ImageSource("http://label-studio:8080").fetch(f"http://img.example:{port}/img.png")
    assert [h["Host"] for h in _Recorder.seen] == [f"img.example:{port}"]


@pytest.mark.parametrize("url", [
    "ftp://user:s3cret@127.0.0.1/x.png",  # a scheme samvid does not read
    "http://user:s3cret@127.0.0.1:1/x.png",  # unreachable
    "http://user:s3cret@127.0.0.1:99999/x.png",  # malformed port
    "http://user:s3cret@[::1/x.png?sig=abc",  # malformed address
])
def test_a_password_in_an_image_url_never_reaches_the_error_message(url):
    from samvid.errors import ImageError

    with pytest.raises(ImageError) as raised:
        ImageSource("http://ls:8080", allowed_hosts=("127.0.0.1",)).fetch(url)
    message = raised.value.message
    assert "s3cret" not in message and ("127.0.0.1" in message or "[::1" in message)


def test_a_password_in_an_image_url_never_reaches_the_exports_problem_report():
    from samvid.export.images import ImageFetcher, ImageUnavailable

    with pytest.raises(ImageUnavailable) as raised:
        ImageFetcher("http://ls:8080", "token").fetch("http://user:s3cret@127.0.0.1:1/x.png?sig=abc")
    assert "s3cret" not in str(raised.value) and "sig=abc" not in str(raised.value)
    assert "127.0.0.1:1/x.png" in str(raised.value)
