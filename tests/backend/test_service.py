"""The service behind the routes: a token learned from /setup reaches every process that
talks to Label Studio, or is refused where it could not."""

from __future__ import annotations

import logging

import pytest

from samvid.app import create_app
from samvid.errors import ConfigError
from samvid.jobs import ThreadJobs
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.service import Service
from samvid.settings import Settings
from samvid.studio.credentials import with_shared_credentials

LS = "http://label-studio.example:8080"


# Label Studio's /setup may name a host other than LABEL_STUDIO_URL only when it passed
# basic auth (samvid.service): these tests are about what happens once it is adopted.
AUTH = {"auth_user": "ls", "auth_password": "pw"}


def service(processes: int = 1, **settings: object) -> Service:
    config = Settings.from_env({}, model="standin", precompute_on_open=False, **{**AUTH, **settings})
    predictor = Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10))
    return Service.start(config, predictor, processes=processes)


def test_setup_token_reaches_the_predictor_and_the_thread_jobs() -> None:
    s = service()
    assert s.adopt_studio(LS, "token-1")
    assert (s.settings.label_studio_url, s.settings.label_studio_api_key) == (LS, "token-1")
    assert s.predictor.source.api_key == "token-1" and s.predictor.source.label_studio_url == LS
    assert isinstance(s.jobs, ThreadJobs) and s.jobs.settings.label_studio_api_key == "token-1"


def test_a_configured_token_wins_and_a_bad_pair_is_ignored() -> None:
    configured = service(label_studio_url=LS, label_studio_api_key="mine")
    assert not configured.adopt_studio("http://other:8080", "theirs")
    assert configured.settings.label_studio_api_key == "mine"
    fresh = service()
    assert not fresh.adopt_studio("not-a-url", "t") and not fresh.adopt_studio(LS, "")
    assert fresh.settings.label_studio_api_key == ""


def test_a_later_setup_replaces_an_adopted_token() -> None:
    s = service()
    assert s.adopt_studio(LS, "token-1") and s.adopt_studio(LS, "token-2")
    assert s.predictor.source.api_key == "token-2"


def test_several_workers_without_redis_refuse_the_token_and_say_what_to_set(caplog) -> None:
    s = service(processes=2)
    with caplog.at_level(logging.WARNING, logger="samvid.service"):
        assert not s.adopt_studio(LS, "token-1")
    assert s.settings.label_studio_api_key == ""
    assert "LABEL_STUDIO_API_KEY" in caplog.text and "REDIS_URL" in caplog.text


@pytest.mark.parametrize(("host", "token", "said"), [
    ("label-studio.example:8080", "s3cret", "'label-studio.example:8080' is no Label Studio address"),  # no http://
    (LS + " ", "s3cret", "holds a space"),
    (LS, "", "no access_token"),
    (None, "s3cret", "no hostname"),
    (LS, "s3cret\n", "its access_token holds a space, tab or line break"),  # a 422 saying InvalidHeader
    (LS, "s3cret\u20ac", "its access_token holds '\u20ac', which no token has"),  # a 500 on every image
])
def test_a_setup_token_that_cannot_be_used_is_logged_with_what_to_set(host, token, said, caplog) -> None:
    s = service()
    with caplog.at_level(logging.WARNING, logger="samvid.service"):
        assert not s.adopt_studio(host, token)
    assert said in caplog.text and "LABEL_STUDIO_API_KEY" in caplog.text
    assert "s3cret" not in caplog.text  # the token itself is never logged


@pytest.mark.parametrize("token", ["0123abcd\n", "0123 abcd", "\t0123abcd", "\u201c0123abcd\u201d", "0123ab\u00e9cd"])
def test_a_setup_token_is_refused_where_label_studio_api_key_would_be(token) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env({"LABEL_STUDIO_API_KEY": token})
    s = service()
    assert not s.adopt_studio(LS, token)
    assert s.settings.label_studio_api_key == "" and s.predictor.source.api_key == ""


def test_the_setup_route_adopts_through_the_service() -> None:
    from samvid.auth import basic_auth_header

    app = create_app(*_parts())
    app.testing = True
    auth = {"Authorization": basic_auth_header(AUTH["auth_user"], AUTH["auth_password"])}
    assert app.test_client().post("/setup", json={"hostname": LS, "access_token": "t"}, headers=auth).status_code == 200
    assert app.extensions["samvid.service"].settings.label_studio_api_key == "t"


def test_setup_while_redis_is_away_is_a_503_saying_what_to_check() -> None:
    import socket

    from samvid.auth import basic_auth_header

    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = Settings.from_env({}, model="standin", precompute_on_open=False,
                               redis_url=f"redis://127.0.0.1:{port}/0", **AUTH)
    app = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10)))
    app.testing = True
    auth = {"Authorization": basic_auth_header(AUTH["auth_user"], AUTH["auth_password"])}
    resp = app.test_client().post("/setup", json={"hostname": LS, "access_token": "t"}, headers=auth)
    assert resp.status_code == 503
    assert "REDIS_URL" in resp.get_json()["error"]
    assert app.extensions["samvid.service"].settings.label_studio_api_key == ""  # not half-adopted


def _parts() -> tuple[Settings, Predictor]:
    config = Settings.from_env({}, model="standin", precompute_on_open=False, **AUTH)
    return config, Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10))


@pytest.mark.redis
def test_with_redis_every_worker_and_job_gets_the_token(redis_server) -> None:
    # Two gunicorn workers (two services) and a `samvid worker`, sharing one Redis.
    answered, other = service(2, redis_url=redis_server.url), service(2, redis_url=redis_server.url)
    assert other.settings.label_studio_api_key == ""
    assert answered.adopt_studio(LS, "token-1")
    other.sync_studio()  # what its next request does first
    assert (other.settings.label_studio_url, other.settings.label_studio_api_key) == (LS, "token-1")
    assert other.predictor.source.api_key == "token-1"
    worker = with_shared_credentials(Settings.from_env({}, redis_url=redis_server.url, **AUTH))
    assert (worker.label_studio_url, worker.label_studio_api_key) == (LS, "token-1")
    # Label Studio restarted with a new token: the next /setup replaces it everywhere.
    assert other.adopt_studio(LS, "token-2")
    answered.sync_studio()
    assert answered.settings.label_studio_api_key == "token-2"


def test_health_answers_at_once_while_redis_is_frozen(redis_server, caplog) -> None:
    """A liveness check needs neither Label Studio's token nor Redis: a Redis that takes
    connections and never answers (a frozen host) must not slow it or fill the log."""
    import os
    import signal
    import time

    config = Settings.from_env({}, model="standin", precompute_on_open=False, redis_url=redis_server.url, **AUTH)
    client = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10))).test_client()
    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with caplog.at_level(logging.WARNING):
            replies = [client.get(path) for path in ("/health", "/")]
        assert time.monotonic() - started < 1.0
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    assert [r.status_code for r in replies] == [200, 200]
    assert replies[0].get_json()["status"] == "UP"
    assert "Label Studio token" not in caplog.text


def _health(redis_url: str = "", **settings: object) -> tuple[dict, Service]:
    config = Settings.from_env({}, model="standin", precompute_on_open=False, redis_url=redis_url,
                               **{**AUTH, **settings})
    app = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10)))
    return app.test_client().get("/health").get_json(), app.extensions["samvid.service"]


@pytest.mark.redis
def test_health_says_redis_is_ok_and_stays_up_whatever_redis_says(redis_server) -> None:
    import socket

    assert _health(redis_server.url)[0]["redis"] == "ok"
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        away = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    said = _health(away)[0]
    # Label Studio's connect check wants "UP", and clicks need no Redis.
    assert (said["status"], said["redis"]) == ("UP", "unreachable (ConnectionError)")
    assert "redis" not in _health()[0]  # no REDIS_URL: nothing to say


@pytest.mark.redis
@pytest.mark.parametrize("password", ["", "wrong-pw"])
def test_a_backend_started_with_a_password_redis_refuses_says_so_at_start_and_in_health(
        redis_server, caplog, password) -> None:
    import redis

    redis.Redis.from_url(redis_server.url).config_set("requirepass", "x")
    url = redis_server.url.replace("redis://", f"redis://:{password}@") if password else redis_server.url
    with caplog.at_level(logging.WARNING):
        said, _ = _health(url)
    assert (said["status"], said["redis"]) == ("UP", "password refused")
    assert "wants a password (or refused this one): give it in REDIS_URL as" in caplog.text
    assert "AuthenticationError" not in caplog.text


@pytest.mark.redis
def test_a_password_redis_starts_wanting_at_run_time_shows_in_health_once_a_request_read_it(
        redis_server) -> None:
    """Redis keeps the connections it had authenticated: the change shows on new ones,
    such as those after a restart or a dropped connection."""
    import redis

    config = Settings.from_env({}, model="standin", precompute_on_open=False, redis_url=redis_server.url)
    client = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10))).test_client()
    assert client.get("/health").get_json()["redis"] == "ok"
    admin = redis.Redis.from_url(redis_server.url)
    admin.config_set("requirepass", "x")
    admin.client_kill_filter(_type="normal")  # every connection but this one's dropped
    assert client.get("/versions").status_code == 200  # reads the shared token first
    assert client.get("/health").get_json()["redis"] == "password refused"


@pytest.mark.redis
def test_health_with_an_api_key_set_checks_redis_again_in_the_background(redis_server, monkeypatch) -> None:
    """With LABEL_STUDIO_API_KEY set no request reads the shared token: /health's state
    stayed what the read at start found. A stale one is checked again, never waited on."""
    import time

    import samvid.studio.credentials as credentials

    config = Settings.from_env({}, model="standin", precompute_on_open=False, redis_url=redis_server.url,
                               label_studio_api_key="a-token")
    client = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10))).test_client()
    assert client.get("/health").get_json()["redis"] == "ok"
    monkeypatch.setattr(credentials, "RECHECK_SECONDS", 0.0)
    redis_server.stop()
    deadline = time.monotonic() + 10
    while (said := client.get("/health").get_json()["redis"]) == "ok" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert said.startswith("unreachable (")


@pytest.mark.redis
def test_health_waits_briefly_for_the_check_it_started_and_never_on_a_frozen_redis(redis_server, monkeypatch) -> None:
    """The background check's result was seen by the next /health only: with probes 15 s
    apart the state said was far older than the docs' "about 10 s"."""
    import os
    import signal
    import time

    import samvid.studio.credentials as credentials

    config = Settings.from_env({}, model="standin", precompute_on_open=False, redis_url=redis_server.url,
                               label_studio_api_key="a-token")
    client = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10))).test_client()
    monkeypatch.setattr(credentials, "RECHECK_SECONDS", 0.0)
    assert client.get("/health").get_json()["redis"] == "ok"
    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        said = client.get("/health").get_json()["redis"]
        assert time.monotonic() - started < 1.0  # the check waits out the 2 s socket timeout
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    assert said == "ok"  # the state before: this check has not answered yet
    time.sleep(2.5)  # that check ends: at Redis's answer, or its 2 s timeout
    redis_server.stop()
    assert client.get("/health").get_json()["redis"] == "unreachable (ConnectionError)"  # this /health's check


@pytest.mark.redis
def test_with_an_api_key_the_start_check_says_redis_state_not_the_token_it_never_uses(caplog) -> None:
    from services import free_port

    away = f"redis://127.0.0.1:{free_port()}/0"
    with caplog.at_level(logging.WARNING):
        said, _ = _health(away, label_studio_api_key="a-token")
    assert said["redis"] == "unreachable (ConnectionError)"
    assert f"Redis at {away}: unreachable (ConnectionError)" in caplog.text
    assert "Label Studio token" not in caplog.text


@pytest.mark.redis
def test_a_token_setup_sent_while_redis_was_away_is_refused_saying_to_connect_again(
        redis_server, monkeypatch) -> None:
    import redis

    from samvid.errors import QueueUnavailable

    s = service(redis_url=redis_server.url)

    def away(*_args: object) -> None:
        raise redis.TimeoutError("Timeout reading from socket")

    monkeypatch.setattr(s.shared, "publish", away)
    with pytest.raises(QueueUnavailable):
        s.adopt_studio(LS, "token-1")
    assert s.setup_refused == ("it could not be shared through Redis (TimeoutError); connect the model again "
                               "in Label Studio (Settings > Model) once Redis answers")


@pytest.mark.redis
def test_a_token_redis_refuses_to_store_is_refused_with_its_reply_not_as_an_outage(redis_server) -> None:
    import redis

    from samvid.errors import QueueUnavailable

    redis.Redis.from_url(redis_server.url).acl_setuser(
        "limited", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-set"])
    s = service(redis_url=redis_server.url.replace("redis://", "redis://limited:pw@"))
    with pytest.raises(QueueUnavailable) as raised:
        s.adopt_studio(LS, "token-1")
    assert raised.value.message.startswith("Redis refused to store Label Studio's token (NoPermissionError: ")
    assert "check that Redis runs" not in raised.value.message
    assert s.setup_refused.startswith("Redis refused to store it (NoPermissionError: ")


@pytest.mark.parametrize(("settings", "host", "said"), [
    ({}, "http://admin:PW_S3CRET@label-studio.example:8080", "using Label Studio at http://***@label-studio.example:8080"),
    ({"label_studio_url": "http://ls.example:8080"}, "http://admin:PW_S3CRET@label-studio.example:8080",
     "it names Label Studio at 'http://***@label-studio.example:8080', not LABEL_STUDIO_URL"),
    ({"auth_user": "", "auth_password": ""}, "http://admin:PW_S3CRET@label-studio.example:8080",
     "it names Label Studio at 'http://***@label-studio.example:8080' and /setup is not authenticated"),
    ({}, "ftp://admin:PW_S3CRET@label-studio.example:8080", "its hostname 'ftp://***@label-studio.example:8080'"),
    # An unencoded "/" in the password: urlparse's error quoted what came before it.
    ({}, "http://admin:PW_S3CRET/x@label-studio.example:8080",
     "its hostname 'http://***@label-studio.example:8080' is no Label Studio address: it is not a valid URL"),
    # ... and with digits before it, a valid host and port to urlparse: adopted and logged.
    ({}, "http://admin:12/PW_S3CRET@label-studio.example:8080", "using Label Studio at http://***@label-studio.example:8080"),
])
def test_a_setup_hostname_with_a_password_is_said_without_it(settings, host, said, caplog) -> None:
    # What /setup is refused for also answers propagation (setup_refused, a 503's body).
    s = service(**settings)
    with caplog.at_level(logging.INFO, logger="samvid.service"):
        s.adopt_studio(host, "token-1")
    assert said in caplog.text
    assert "PW_S3CRET" not in caplog.text and "PW_S3CRET" not in s.setup_refused
