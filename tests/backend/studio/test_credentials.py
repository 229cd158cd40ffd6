"""The Label Studio token shared through Redis: read before every request, so a Redis
that stops answering must not hang them."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from samvid.studio.credentials import KEY, SharedCredentials


def test_a_redis_that_accepts_but_never_answers_costs_seconds_not_a_hang() -> None:
    silent = socket.socket()  # listens (the kernel completes connections) and never replies
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    got: list[object] = []
    started = time.monotonic()
    reader = threading.Thread(target=lambda: got.append(SharedCredentials(url).fetch()), daemon=True)
    reader.start()
    reader.join(timeout=15)
    try:
        assert not reader.is_alive(), "reading the shared token hung on a silent Redis"
        assert got == [None] and time.monotonic() - started < 15  # no token: what the caller already has
    finally:
        silent.close()


@pytest.mark.parametrize("stored", ["{}", "not json", '["a list"]', '{"url": "http://ls"}',
                                    '{"url": "http://ls", "token": "t\\u20ac"}',
                                    '{"url": "http://ls", "token": "t\\n"}', '{"url": "ls", "token": "t"}'])
def test_a_shared_token_that_cannot_be_read_is_ignored_not_a_failure_of_every_request(
        redis_server, stored: str) -> None:
    # Unread, it raised on every request but /health: each answered 500.
    shared = SharedCredentials(redis_server.url)
    shared.redis.set(KEY, stored)
    assert shared.fetch() is None


def test_a_pair_stored_before_label_studio_url_was_set_repoints_no_process(redis_server) -> None:
    # The pair never expires: one a /setup shared while no address was set later moved
    # every backend and worker off the LABEL_STUDIO_URL their admin had set since.
    from samvid.app import create_app
    from samvid.auth import basic_auth_header
    from samvid.models.standin import StandInSegmenter
    from samvid.predictor import Predictor
    from samvid.settings import Settings
    from samvid.studio.credentials import StudioCredentials, with_shared_credentials

    SharedCredentials(redis_server.url).publish(StudioCredentials("http://10.0.0.5:8080", "old"))
    env = {"SAMVID_AUTH_USER": "ls", "SAMVID_AUTH_PASSWORD": "pw", "REDIS_URL": redis_server.url,
           "LABEL_STUDIO_URL": "http://localhost:8080"}
    config = Settings.from_env(env, model="standin", precompute_on_open=False, tracker="flow")
    app = create_app(config, Predictor.from_settings(config, segmenter=StandInSegmenter(radius=10)))
    service = app.extensions["samvid.service"]
    app.test_client().post("/setup", json={"hostname": "http://10.0.0.5:8080", "access_token": "t2"},
                           headers={"Authorization": basic_auth_header("ls", "pw")})
    assert service.settings.label_studio_url == "http://localhost:8080"
    assert service.predictor.source.label_studio_url == "http://localhost:8080"
    assert with_shared_credentials(Settings.from_env(env)).label_studio_url == "http://localhost:8080"
    # The same Label Studio's pair is taken up, as before.
    SharedCredentials(redis_server.url).publish(StudioCredentials("http://localhost:8080", "new"))
    assert with_shared_credentials(Settings.from_env(env)).label_studio_api_key == "new"


def test_a_bad_shared_token_is_warned_about_once_not_on_every_request(redis_server, caplog) -> None:
    # It is read before every request: a bad pair left in Redis logged a warning each time.
    shared = SharedCredentials(redis_server.url)
    shared.redis.set(KEY, '{"url": "ls", "token": "t"}')
    with caplog.at_level("WARNING", logger="samvid.studio.credentials"):
        assert [shared.fetch() for _ in range(3)] == [None] * 3
        shared.redis.set(KEY, "not json")  # another bad value is news
        assert shared.fetch() is None and shared.fetch() is None
    assert len([r for r in caplog.records if "unreadable" in r.getMessage()]) == 2


@pytest.mark.redis
@pytest.mark.parametrize("password", ["", "wrong-pw"])
def test_a_redis_that_refuses_the_password_is_said_as_such_not_as_an_outage(redis_server, caplog, password) -> None:
    import redis

    from samvid.redis_jobs import PasswordRefused

    redis.Redis.from_url(redis_server.url).config_set("requirepass", "x")
    url = redis_server.url.replace("redis://", f"redis://:{password}@") if password else redis_server.url
    shared = SharedCredentials(url)
    assert shared.state == "not read yet"
    with caplog.at_level("WARNING", logger="samvid.studio.credentials"):
        assert shared.fetch() is None
    assert isinstance(shared.failure, PasswordRefused) and shared.state == "password refused"
    assert "wants a password (or refused this one): give it in REDIS_URL as" in caplog.text
    assert "AuthenticationError" not in caplog.text


@pytest.mark.redis
def test_the_state_of_redis_is_what_the_last_read_found(redis_server) -> None:
    shared = SharedCredentials(redis_server.url)
    shared.fetch()
    assert shared.state == "ok" and shared.failure is None
    redis_server.stop()
    shared.fetch()
    assert shared.state == "unreachable (ConnectionError)"


@pytest.mark.redis
def test_a_bare_user_against_a_redis_without_a_password_says_to_drop_it(redis_server) -> None:
    """``redis://s3cret@host`` is redis-py's user "s3cret" with no password (a password whose ":"
    was left out): WRONGPASS from a Redis with no password, which was told "wants a password"
    (and, given as :PASSWORD@, then "has no password: drop it")."""
    from samvid.redis_jobs import PasswordRefused

    shown = redis_server.url.replace("redis://", "redis://***@")
    shared = SharedCredentials(redis_server.url.replace("redis://", "redis://s3cret@"))
    assert shared.fetch() is None and isinstance(shared.failure, PasswordRefused)
    assert shared.failure.message == (
        f"Redis at {shown} answers without a password (its default user), but REDIS_URL names a user (***@) "
        "with none: drop it from the URL, or for an ACL user give USER:PASSWORD@ (a password alone is written "
        ":PASSWORD@)")
    assert shared.failure.told("--redis-url").startswith(
        f"Redis at {shown} answers without a password (its default user), but --redis-url")


@pytest.mark.redis
def test_a_bare_user_against_a_redis_with_a_password_says_how_a_password_is_written(redis_server) -> None:
    import redis

    redis.Redis.from_url(redis_server.url).config_set("requirepass", "x")
    shared = SharedCredentials(redis_server.url.replace("redis://", "redis://s3cret@"))
    shared.fetch()
    example = redis_server.url.replace("redis://", "redis://:PASSWORD@")
    assert str(shared.failure) == (
        f"Redis at {redis_server.url.replace('redis://', 'redis://***@')} wants a password (or refused this one): "
        f"give it in REDIS_URL as {example} (a bare X@ is read as a user name, not a password)")


@pytest.mark.redis
def test_an_unknown_acl_user_is_told_user_or_password_refused(redis_server) -> None:
    # "wants a password (or refused this one)" for a user Redis does not know: the user is as
    # likely what is wrong, and the example keeps it.
    shared = SharedCredentials(redis_server.url.replace("redis://", "redis://bob:pw@"))
    shared.fetch()
    example = redis_server.url.replace("redis://", "redis://bob:PASSWORD@")
    assert str(shared.failure) == (f"Redis at {redis_server.url.replace('redis://', 'redis://bob:***@')}: "
                                   f"user or password refused: give them in REDIS_URL as {example}")


@pytest.mark.redis
def test_redis_refusing_the_read_is_said_as_its_reply_and_the_background_check_agrees(
        redis_server, monkeypatch) -> None:
    """An ACL user without GET: Redis answers NOPERM, which said "unreachable", and the
    background check's PING passed ("ok"): the state flipped with every check."""
    import redis

    import samvid.studio.credentials as credentials

    redis.Redis.from_url(redis_server.url).acl_setuser(
        "limited", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-get"])
    shared = SharedCredentials(redis_server.url.replace("redis://", "redis://limited:pw@"))
    shared.fetch()
    assert shared.state == "refused (NoPermissionError)"
    monkeypatch.setattr(credentials, "RECHECK_SECONDS", 0.0)
    assert shared.state_for_health() == "refused (NoPermissionError)"
    assert shared.check() is shared.failure and shared.state == "refused (NoPermissionError)"
