"""Submitting a Redis job when the connection drops after Redis ran the submit's transaction
(a network cut, a failover, a proxy's timeout): the reply is lost and the client retries.

Real redis-server behind a small TCP proxy on 127.0.0.1 that passes the transaction on to
Redis and drops the connection once Redis has answered it, before the answer reaches the client.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from samvid.jobs import CANCELLED, QUEUED
from samvid.redis_jobs import QUEUE, RedisJobs

pytestmark = pytest.mark.redis
RUNS: list[dict] = []


def recorded_job(payload: dict, ctx: Any, settings: Any) -> dict:
    RUNS.append(payload)
    return {"ran": True}


class Relay:
    """Forwards bytes between clients and Redis; ``on_send(chunk, client, server)`` may hold a
    client's chunk back (returns False) and ``on_reply(chunk)`` may delay Redis's answer."""

    def __init__(self, redis_port: int, on_send: Any = None, on_reply: Any = None) -> None:
        self.redis_port = redis_port
        self.on_send, self.on_reply = on_send, on_reply
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.redis_port))
            threading.Thread(target=self._up, args=(client, server), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket) -> None:
        while data := _receive(client):
            if self.on_send is None or self.on_send(data, client, server):
                server.sendall(data)

    def _down(self, server: socket.socket, client: socket.socket) -> None:
        while data := _receive(server):
            if self.on_reply is not None:
                self.on_reply(data)
            try:
                client.sendall(data)
            except OSError:
                return


class ReplyLosingProxy(Relay):
    """Once ``armed``, the next transaction (MULTI ... EXEC) reaches Redis, and its connection
    drops as Redis answers the EXEC."""

    def __init__(self, redis_port: int) -> None:
        self.armed = threading.Event()
        self.lost = 0  # replies to EXECs Redis ran that never reached the client
        self.dropping: set[socket.socket] = set()  # the client sides whose EXEC's reply is lost
        super().__init__(redis_port)

    def _up(self, client: socket.socket, server: socket.socket) -> None:
        tail = b""
        while data := _receive(client):
            if b"\r\nEXEC\r\n" in tail + data and self.armed.is_set():
                self.armed.clear()
                self.dropping.add(client)
            tail = data[-7:]  # one byte short of the marker: an EXEC already passed on never counts
            server.sendall(data)
        _close(server)

    def _down(self, server: socket.socket, client: socket.socket) -> None:
        answered = b""
        while data := _receive(server):
            if client not in self.dropping:
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
    """Webhooks of one request on many server threads at once: one job is left queued, whichever,
    and none is refused (a submit that lost the race to another is no interrupted one)."""
    queues = [RedisJobs(redis_server.url) for _ in range(32)]
    start = threading.Barrier(len(queues))
    submitted: list = []

    def submit(queue: RedisJobs) -> None:
        start.wait(10)
        submitted.append(queue.submit("gated", "1:clip", {}, order="same request"))

    threads = [threading.Thread(target=submit, args=(queue,)) for queue in queues]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(submitted) == len(queues)
    states = sorted(queues[0].get(job.id).state for job in submitted)
    assert states == [CANCELLED] * (len(queues) - 1) + [QUEUED]
    assert len(queues[0].queue) == len(queues)


@pytest.mark.parametrize("unwatch", ["answered", "answered late"])
def test_a_submit_whose_transaction_reaches_redis_after_its_connection_dropped_supersedes_the_job_before(
        redis_server, monkeypatch, unwatch):
    """The client saw the connection drop and found no job entry; the transaction then ran
    (a proxy still delivering it), before the next try read the request's newest job. That
    try reads its own job and ends its pipeline with an UNWATCH, which Redis may answer too
    late: the job is queued all the same, so the submit asks whether it ran, no 503."""
    import samvid.redis_jobs as redis_jobs

    if unwatch == "answered late":  # a timeout the stall passes, not the WATCH's 0.3 s wait
        monkeypatch.setattr(redis_jobs, "SOCKET_TIMEOUT", 1.0)
    armed, held, unwatches, stalled = threading.Event(), [], [], []

    def on_send(data: bytes, client: socket.socket, server: socket.socket) -> bool:
        if b"EXEC" in data and armed.is_set():
            armed.clear()
            held.append((server, data))
            _close(client)  # the client's side drops; the server's stays, still to deliver
            return False
        if b"\r\nWATCH\r\n" in data and held:
            late, chunk = held.pop()
            late.sendall(chunk)
            time.sleep(0.3)  # Redis runs it before this try's WATCH
            unwatches.append(client)
        elif b"\r\nUNWATCH\r\n" in data and client in unwatches and unwatch == "answered late":
            stalled.append(client)
            time.sleep(2.5)  # past the socket timeout
        return True

    relay = Relay(redis_server.port, on_send=on_send)
    try:
        jobs, direct = RedisJobs(relay.url), RedisJobs(redis_server.url)
        before = jobs.submit("gated", "1:clip", {"n": 1}, order=5)
        armed.set()
        again = jobs.submit("gated", "1:clip", {"n": 2}, order=5)
        assert not held and unwatches, "no transaction was held back: the test tested nothing"
        assert stalled or unwatch == "answered", "no UNWATCH was held back: the test tested nothing"
        assert (direct.get(before.id).state, direct.get(again.id).state) == (CANCELLED, QUEUED)
        assert direct.queue.job_ids == [before.id, again.id]
    finally:
        relay.close()


def test_a_submit_answered_after_the_socket_timeout_still_supersedes_the_job_before(redis_server, monkeypatch):
    """Redis ran the transaction but answered late: the submit is no 503 (the job is queued)."""
    import samvid.redis_jobs as redis_jobs

    monkeypatch.setattr(redis_jobs, "SOCKET_TIMEOUT", 0.5)
    slow = threading.Event()

    def on_send(data: bytes, client: socket.socket, server: socket.socket) -> bool:
        if b"\r\nEXEC\r\n" in data and armed.is_set():
            armed.clear()
            slow.set()
        return True

    def on_reply(data: bytes) -> None:
        if slow.is_set():
            slow.clear()
            time.sleep(1.0)

    armed = threading.Event()
    relay = Relay(redis_server.port, on_send=on_send, on_reply=on_reply)
    try:
        jobs, direct = RedisJobs(relay.url), RedisJobs(redis_server.url)
        before = jobs.submit("gated", "1:clip", {"n": 1}, order=5)
        armed.set()
        again = jobs.submit("gated", "1:clip", {"n": 2}, order=5)
        assert not armed.is_set(), "no EXEC was slowed: the test tested nothing"
        assert (direct.get(before.id).state, direct.get(again.id).state) == (CANCELLED, QUEUED)
    finally:
        relay.close()


def test_a_submit_refused_for_a_timeout_leaves_no_job_that_runs_later(redis_server, monkeypatch):
    """The transaction reaches Redis only after the submit timed out and found no job: the
    client was told 503 (submit again), so the job must not be queued behind its back."""
    import samvid.redis_jobs as redis_jobs
    from samvid.errors import QueueUnavailable

    monkeypatch.setattr(redis_jobs, "SOCKET_TIMEOUT", 0.5)
    late: list[threading.Thread] = []

    def on_send(data: bytes, client: socket.socket, server: socket.socket) -> bool:
        if b"\r\nEXEC\r\n" in data and armed.is_set():
            armed.clear()
            deliver = threading.Timer(2.0, server.sendall, args=(data,))  # long after the submit gave up
            deliver.start()
            late.append(deliver)
            return False
        return True

    armed = threading.Event()
    relay = Relay(redis_server.port, on_send=on_send)
    try:
        jobs, direct = RedisJobs(relay.url), RedisJobs(redis_server.url)
        armed.set()
        with pytest.raises(QueueUnavailable):
            jobs.submit("gated", "1:clip", {"n": 1}, order=5)
        assert late, "no EXEC was held back: the test tested nothing"
        late[0].join(10)
        time.sleep(0.5)  # Redis has the transaction
        assert direct.queue.job_ids == []
    finally:
        relay.close()


# Keeps Redis busy for ARGV[1] microseconds: every other client's command waits (a stalled
# Redis: a slow disk, a long script), under the 5 s after which Redis answers BUSY instead.
STALL = """
local start = redis.call('TIME')
while true do
    local now = redis.call('TIME')
    if (now[1] - start[1]) * 1000000 + now[2] - start[2] > tonumber(ARGV[1]) then return 1 end
end
"""


def stall_as_exec_goes(redis_server: Any, seconds: float) -> tuple[Relay, threading.Event, list[threading.Thread]]:
    """A relay to Redis that, once armed, stalls Redis as the next transaction's EXEC reaches
    it: the EXEC, and the commands sent after it, wait the stall out unanswered."""
    import redis

    stalls: list[threading.Thread] = []
    stalling = redis.Redis.from_url(redis_server.url)

    def on_send(data: bytes, client: socket.socket, server: socket.socket) -> bool:
        if b"\r\nEXEC\r\n" in data and armed.is_set():
            armed.clear()
            stall = threading.Thread(target=stalling.eval, args=(STALL, 0, int(seconds * 1e6)))
            stall.start()
            stalls.append(stall)
            time.sleep(0.1)  # Redis is busy before the EXEC reaches it
        return True

    armed = threading.Event()
    return Relay(redis_server.port, on_send=on_send), armed, stalls


def test_a_submit_through_a_redis_stalled_past_two_socket_timeouts_leaves_its_request_one_job(
        redis_server, monkeypatch):
    """Redis answers neither the transaction nor the fence after it in time. Whether the submit
    went through or was refused, the request's job before it runs, or this one, never both."""
    import samvid.redis_jobs as redis_jobs
    from samvid.errors import QueueUnavailable

    monkeypatch.setattr(redis_jobs, "SOCKET_TIMEOUT", 0.5)
    relay, armed, stalls = stall_as_exec_goes(redis_server, 3.0)
    try:
        jobs, direct = RedisJobs(relay.url), RedisJobs(redis_server.url)
        before = direct.submit("gated", "1:clip", {"n": 0}, order=5)
        armed.set()
        try:
            submitted: str | None = jobs.submit("gated", "1:clip", {"n": 1}, order=5).id
        except QueueUnavailable:
            submitted = None
        assert stalls, "no EXEC was stalled: the test tested nothing"
        stalls[0].join(10)
        time.sleep(0.5)  # whatever the stalled Redis still had to run, it ran
        to_run = [job for job in direct.queue.job_ids if direct.get(job).state == QUEUED]
        assert to_run == [submitted or before.id]
    finally:
        relay.close()


def test_a_submit_refused_while_redis_stalls_past_its_time_says_its_job_may_still_run(redis_server, monkeypatch):
    """Nothing Redis answered tells whether the transaction ran or will: the 503 says so, and
    what to do, rather than that Redis is unreachable."""
    import samvid.redis_jobs as redis_jobs
    from samvid.errors import QueueUnavailable

    monkeypatch.setattr(redis_jobs, "SOCKET_TIMEOUT", 0.5)
    monkeypatch.setattr(redis_jobs, "SUBMIT_SECONDS", 1.5)
    relay, armed, stalls = stall_as_exec_goes(redis_server, 4.0)
    try:
        jobs = RedisJobs(relay.url)
        armed.set()
        with pytest.raises(QueueUnavailable) as refused:
            jobs.submit("gated", "1:clip", {"n": 1}, order=5)
        assert stalls, "no EXEC was stalled: the test tested nothing"
        assert stalls[0].is_alive(), "Redis answered before the submit gave up: the test tested nothing"
        assert "may still be queued and run" in refused.value.message
        assert "submitting the same request again" in refused.value.message
    finally:
        for stall in stalls:
            stall.join(10)
        relay.close()


def test_a_submit_through_a_redis_busy_past_its_script_limit_is_a_503_and_queues_nothing(
        redis_server, monkeypatch):
    """Past 5 s of a script Redis answers BUSY to every command, the fence included: that
    error escaped the submit as a 500 with a traceback."""
    import samvid.redis_jobs as redis_jobs
    from samvid.errors import QueueUnavailable

    monkeypatch.setattr(redis_jobs, "SOCKET_TIMEOUT", 0.5)
    relay, armed, stalls = stall_as_exec_goes(redis_server, 6.0)
    try:
        jobs = RedisJobs(relay.url)
        armed.set()
        with pytest.raises(QueueUnavailable):
            jobs.submit("gated", "1:clip", {"n": 1}, order=5)
        assert stalls, "no EXEC was stalled: the test tested nothing"
    finally:
        for stall in stalls:
            stall.join(10)
        relay.close()
    assert RedisJobs(redis_server.url).queue.job_ids == []


def test_a_submit_whose_transaction_redis_refuses_busy_is_a_503_and_queues_nothing(redis_server, monkeypatch):
    """A script that runs past Redis's limit as the transaction arrives: Redis answers its
    commands BUSY, which redis-py words "Command # 1 (...) of pipeline caused error: BUSY":
    that escaped as a 500."""
    import redis

    from samvid.errors import QueueUnavailable

    direct = redis.Redis.from_url(redis_server.url)
    direct.config_set("busy-reply-threshold", 500)  # ms; BUSY well before the socket timeout
    stalls: list[threading.Thread] = []
    queue_up = RedisJobs._queue_up

    def stalled(self, pipe, *args):  # the script starts between the read under WATCH and EXEC
        stall = threading.Thread(target=redis.Redis.from_url(redis_server.url).eval,
                                 args=(STALL, 0, 2_000_000))
        stall.start()
        stalls.append(stall)
        time.sleep(0.1)
        return queue_up(self, pipe, *args)

    monkeypatch.setattr(RedisJobs, "_queue_up", stalled)
    try:
        with pytest.raises(QueueUnavailable, match="busy running a script"):
            RedisJobs(redis_server.url).submit("gated", "1:clip", {"n": 1}, order=5)
    finally:
        for stall in stalls:
            stall.join(10)
    assert RedisJobs(redis_server.url).queue.job_ids == []


def test_a_submit_whose_every_read_of_its_request_drops_the_connection_gives_up_saying_so(redis_server):
    """The connection drops at the read under WATCH each time: the submit counted no try as
    interrupted and looped for ever, where it must end in a 503 (QueueUnavailable)."""
    from samvid.errors import QueueUnavailable

    watched: set[socket.socket] = set()  # kept: an id() is reused by a later socket

    def on_send(data: bytes, client: socket.socket, server: socket.socket) -> bool:
        if b"\r\nWATCH\r\n" in data:
            watched.add(client)
        elif b"\r\nGET\r\n" in data and client in watched:
            _close(client)
            return False
        return True

    relay = Relay(redis_server.port, on_send=on_send)
    try:
        RedisJobs(redis_server.url).submit("gated", "1:clip", {"n": 1}, order=5)  # the request's key exists
        jobs = RedisJobs(relay.url)
        outcome: list[BaseException | None] = []

        def submit() -> None:
            try:
                jobs.submit("gated", "1:clip", {"n": 2}, order=5)
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - reported below
                outcome.append(exc)

        worker = threading.Thread(target=submit, daemon=True)
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), "the submit is still looping"
        assert isinstance(outcome[0], QueueUnavailable)
        # Not Redis refusing the thousands of connections the loop opened meanwhile.
        assert "interrupted 10 times" in str(outcome[0])
    finally:
        relay.close()



def wanting_a_password(server: Any, password: str = "x") -> None:
    """``server`` asks every new connection for ``password`` from now on."""
    import redis

    redis.Redis.from_url(server.url).config_set("requirepass", password)


def test_a_submit_to_a_redis_that_wants_a_password_the_url_lacks_says_so_at_once(redis_server):
    """redis-py's health check PINGed inside the handshake, and its NOAUTH handshook again:
    a RecursionError of a thousand frames, not the reason."""
    from samvid.errors import QueueUnavailable

    wanting_a_password(redis_server)
    started = time.monotonic()
    with pytest.raises(QueueUnavailable) as refused:
        RedisJobs(redis_server.url).submit("gated", "1:clip", {})
    assert str(refused.value) == (f"Redis at {redis_server.url} wants a password (or refused this one): "
                                  f"give it in REDIS_URL as {redis_server.url.replace('redis://', 'redis://:PASSWORD@')}")
    assert time.monotonic() - started < 3, "a password Redis refused is not retried"


def test_a_submit_with_a_wrong_password_says_so_without_it(redis_server):
    from samvid.errors import QueueUnavailable

    wanting_a_password(redis_server)
    url = redis_server.url.replace("redis://", "redis://:wrong-pw@")
    with pytest.raises(QueueUnavailable) as refused:
        RedisJobs(url).submit("gated", "1:clip", {})
    assert "wants a password (or refused this one): give it in REDIS_URL" in str(refused.value)
    assert "wrong-pw" not in str(refused.value)


def test_a_submit_with_the_password_redis_wants_is_queued(redis_server):
    wanting_a_password(redis_server, "right-pw")
    jobs = RedisJobs(redis_server.url.replace("redis://", "redis://:right-pw@"))
    assert jobs.get(jobs.submit("gated", "1:clip", {}).id).state == QUEUED


def test_a_submit_giving_a_password_to_a_redis_without_one_says_to_drop_it(redis_server):
    from samvid.errors import QueueUnavailable

    url = redis_server.url.replace("redis://", "redis://:extra-pw@")
    with pytest.raises(QueueUnavailable, match="has no password, but REDIS_URL gives one: drop it"):
        RedisJobs(url).submit("gated", "1:clip", {})


@pytest.mark.parametrize("url, example", [
    ("redis://alice:bad@127.0.0.1:6379/2", "redis://alice:PASSWORD@127.0.0.1:6379/2"),
    ("unix:///run/redis.sock?db=2", "unix://:PASSWORD@/run/redis.sock?db=2"),
    # A password written without its ":" is redis-py's user: the advice puts it after one, unshown,
    # and says why.
    ("redis://s3cretPW@127.0.0.1:6379/0",
     "redis://:PASSWORD@127.0.0.1:6379/0 (a bare X@ is read as a user name, not a password)"),
    # A password holding "#" ends the host part early: the host is where its "@" points.
    ("redis://:6391#x@127.0.0.1", "redis://:PASSWORD@127.0.0.1"),
])
def test_the_password_advice_keeps_the_urls_user_and_socket(url, example):
    # "redis://:PASSWORD@host:port/db" for an ACL user logged in as the default user once followed.
    from samvid.redis_jobs import PasswordRefused

    assert PasswordRefused(url, Exception("WRONGPASS")).told("REDIS_URL").endswith(f"as {example}")
