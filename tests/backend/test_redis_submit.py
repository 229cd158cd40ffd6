"""Submitting a Redis job when the connection drops after Redis ran the submit's transaction
(a network cut, a failover, a proxy's timeout): the reply is lost and the client retries.

Real redis-server behind a small TCP proxy on 127.0.0.1 that passes the transaction on to
Redis and drops the connection once Redis has answered it, before the answer reaches the client.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from samvid.jobs import CANCELLED, QUEUED
from samvid.redis_jobs import QUEUE, RedisJobs

pytestmark = pytest.mark.redis
RUNS: list[dict] = []


def recorded_job(payload: dict, ctx: Any, settings: Any) -> dict:
    RUNS.append(payload)
    return {"ran": True}


class ReplyLosingProxy:
    """Forwards bytes between clients and Redis. Once ``armed``, the next transaction (MULTI ...
    EXEC) reaches Redis, and its connection drops as Redis answers the EXEC."""

    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        self.armed = threading.Event()
        self.lost = 0  # replies to EXECs Redis ran that never reached the client
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            server = socket.create_connection(("127.0.0.1", self.redis_port))
            dropping = threading.Event()
            threading.Thread(target=self._to_redis, args=(client, server, dropping), daemon=True).start()
            threading.Thread(target=self._to_client, args=(server, client, dropping), daemon=True).start()

    def _to_redis(self, client: socket.socket, server: socket.socket, dropping: threading.Event) -> None:
        tail = b""
        while data := _receive(client):
            if b"\r\nEXEC\r\n" in tail + data and self.armed.is_set():
                self.armed.clear()
                dropping.set()
            tail = data[-7:]  # one byte short of the marker: an EXEC already passed on never counts
            server.sendall(data)
        _close(server)

    def _to_client(self, server: socket.socket, client: socket.socket, dropping: threading.Event) -> None:
        answered = b""
        while data := _receive(server):
            if not dropping.is_set():
                client.sendall(data)
                continue
            # Before EXEC's reply (an array: "*"), Redis only says OK and QUEUED: once it
            # starts, Redis has run the transaction.
            answered += data
            if b"*" in answered:
                self.lost += 1
                break
        _close(client)


def _receive(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


@pytest.fixture
def proxy(redis_server):
    lossy = ReplyLosingProxy(redis_server.port)
    try:
        yield lossy
    finally:
        lossy.close()


def run_queue(url: str) -> None:
    from rq import Queue, SimpleWorker

    worker_redis = RedisJobs(url).redis
    SimpleWorker([Queue(QUEUE, connection=worker_redis)], connection=worker_redis).work(burst=True, max_jobs=10)


def test_a_submit_whose_reply_is_lost_supersedes_the_same_request_before_it_and_runs_once(
        redis_server, proxy, monkeypatch):
    from samvid.jobs import RUNNERS

    monkeypatch.setitem(RUNNERS, "recorded", f"{__name__}:recorded_job")
    RUNS.clear()
    jobs, direct = RedisJobs(proxy.url), RedisJobs(redis_server.url)
    before = jobs.submit("recorded", "1:clip:forward", {"name": "before"}, order=5)
    proxy.armed.set()
    again = jobs.submit("recorded", "1:clip:forward", {"name": "again"}, order=5)
    assert proxy.lost == 1, "the proxy lost no reply: the test tested nothing"
    assert (direct.get(before.id).state, direct.get(again.id).state) == (CANCELLED, QUEUED)
    assert direct.queue.job_ids == [before.id, again.id]
    run_queue(redis_server.url)
    assert RUNS == [{"name": "again"}]
    assert len(direct.queue) == 0


def test_the_same_request_submitted_by_many_at_once_leaves_one_job_to_run(redis_server):
    """Webhooks of one request on many server threads at once: one job is left queued, whichever."""
    queues = [RedisJobs(redis_server.url) for _ in range(8)]
    start = threading.Barrier(len(queues))
    submitted: list = []

    def submit(queue: RedisJobs) -> None:
        start.wait(10)
        submitted.append(queue.submit("gated", "1:clip", {}, order="same request"))

    threads = [threading.Thread(target=submit, args=(queue,)) for queue in queues]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    states = sorted(queues[0].get(job.id).state for job in submitted)
    assert states == [CANCELLED] * (len(queues) - 1) + [QUEUED]
    assert len(queues[0].queue) == len(queues)
