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


@pytest.mark.parametrize("stored", ["{}", "not json", '["a list"]', '{"url": "http://ls"}'])
def test_a_shared_token_that_cannot_be_read_is_ignored_not_a_failure_of_every_request(
        redis_server, stored: str) -> None:
    # Unread, it raised on every request but /health: each answered 500.
    shared = SharedCredentials(redis_server.url)
    shared.redis.set(KEY, stored)
    assert shared.fetch() is None
