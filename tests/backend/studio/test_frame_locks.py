"""One samvid prediction per frame: whoever writes a frame holds its lock, and every
writer of one Label Studio (the backend's jobs, a batch, the CLI) takes the same lock."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from samvid.propagation import propagator_for
from samvid.settings import Settings
from samvid.studio.client import Studio
from samvid.studio.frame_locks import FrameLocks

STUDIO = "http://127.0.0.1:9"  # never called: only the lock's namespace comes from it


def waits_for(held: FrameLocks, other: FrameLocks, task_id: int) -> float:
    """Seconds ``other`` waited for ``task_id`` while ``held`` kept it for 0.5 s."""
    taken = threading.Event()
    waited: list[float] = []

    def second() -> None:
        taken.wait()
        start = time.monotonic()
        with other.hold(task_id):
            waited.append(time.monotonic() - start)

    thread = threading.Thread(target=second)
    thread.start()
    with held.hold(task_id):
        taken.set()
        time.sleep(0.5)
    thread.join(10)
    return waited[0]


@pytest.mark.redis
def test_a_batch_or_cli_propagation_takes_the_backends_frame_lock_when_redis_is_configured(redis_server):
    settings = Settings.from_env({}, label_studio_url=STUDIO, redis_url=redis_server.url)
    batch = propagator_for(Studio(STUDIO, "token"), settings).locks
    backend = FrameLocks(STUDIO, redis_server.url)  # as `samvid serve` and `samvid worker` take it
    assert waits_for(batch, backend, 42) > 0.3
    assert waits_for(backend, batch, 42) > 0.3


def test_without_redis_writers_on_one_machine_share_a_frame_lock():
    settings = Settings.from_env({}, label_studio_url=STUDIO)
    assert waits_for(propagator_for(Studio(STUDIO, "token"), settings).locks, FrameLocks(STUDIO), 7) > 0.3


def test_a_redis_that_stops_answering_fails_the_write_with_what_to_check_instead_of_hanging():
    """A Redis that accepts connections and never answers (a frozen host) hung every frame
    write, and the click that fills a frame on open, for ever."""
    import socket

    from samvid.errors import QueueUnavailable

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections complete in the backlog; nothing ever answers
    outcome: list[BaseException | str] = []

    def write() -> None:
        try:
            with FrameLocks(STUDIO, f"redis://127.0.0.1:{silent.getsockname()[1]}/0",
                            retry_seconds=1.0, socket_seconds=0.3).hold(7):
                outcome.append("written")
        except BaseException as exc:  # noqa: BLE001 - the test reports whatever it was
            outcome.append(exc)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    thread.join(20)
    silent.close()
    assert outcome, "the write still waits on a Redis that never answers"
    assert isinstance(outcome[0], QueueUnavailable), outcome
    assert "check that Redis runs" in outcome[0].message


@pytest.mark.skipif(not hasattr(os, "fork") or os.getuid() != 0, reason="needs root to act as a second user")
def test_a_second_user_on_the_machine_can_write_frames_too():
    """The first user's lock folder (0755, files 0600) refused every write of another user's
    samvid (a service account's backend, a colleague's CLI) with PermissionError."""
    with FrameLocks(STUDIO).hold(7):  # as the first user's samvid leaves its folder
        pass
    child = os.fork()
    if child == 0:  # the second user: nobody
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            with FrameLocks(STUDIO).hold(7):
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.redis
def test_a_writer_learns_that_redis_is_away_before_it_computes_what_it_would_write(redis_server):
    """An open after a human frame computed the frame's masks, then failed to take the
    frame's lock with Redis stopped: the compute and the annotator's wait were for nothing.
    The open asks first, and the answer costs no retries."""
    from samvid.errors import QueueUnavailable

    locks = FrameLocks(STUDIO, redis_server.url, retry_seconds=1.0, socket_seconds=1.0)
    locks.ensure_reachable()  # Redis up: go on
    FrameLocks(STUDIO).ensure_reachable()  # no Redis: the file lock is always there
    redis_server.stop()
    start = time.monotonic()
    with pytest.raises(QueueUnavailable, match="check that Redis runs"):
        locks.ensure_reachable()
    assert time.monotonic() - start < 0.5


def test_a_writer_learns_within_its_socket_budget_that_redis_stopped_answering():
    import socket

    from samvid.errors import QueueUnavailable

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections complete in the backlog; nothing ever answers
    locks = FrameLocks(STUDIO, f"redis://127.0.0.1:{silent.getsockname()[1]}/0",
                       retry_seconds=1.0, socket_seconds=0.3)
    start = time.monotonic()
    try:
        with pytest.raises(QueueUnavailable, match="check that Redis runs"):
            locks.ensure_reachable()
    finally:
        silent.close()
    assert time.monotonic() - start < 2.0


@pytest.mark.skipif(not hasattr(os, "fork") or os.getuid() != 0, reason="needs root to act as a second user")
def test_a_lock_folder_another_user_made_first_is_refused_instead_of_waiting_on_their_lock(monkeypatch):
    """The folder's name under the shared temp folder is predictable: another user who made
    it first (writable by them) and held a frame's lock there held every samvid write of
    that frame for ever."""
    import fcntl
    import shutil
    import tempfile

    from samvid.errors import ConfigError
    from samvid.studio.frame_locks import STRIPES

    shared = Path(tempfile.mkdtemp())  # pytest's tmp_path is closed to the other user
    shared.chmod(0o1777)  # a /tmp: everybody may make folders in it
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    locks = FrameLocks(STUDIO)
    holding, release = os.pipe(), os.pipe()
    child = os.fork()
    if child == 0:  # the other user: makes our folder first and holds frame 7's lock
        try:
            os.close(holding[0])
            os.close(release[1])
            os.setgid(65534)
            os.setuid(65534)
            os.umask(0)
            folder = shared / "samvid-frame-locks-0"
            folder.mkdir(mode=0o777)
            fd = os.open(folder / f"{locks.namespace}-{7 % STRIPES}.lock", os.O_RDWR | os.O_CREAT, 0o666)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(holding[1], b"x")
            os.read(release[0], 1)  # until the test is done
        finally:
            os._exit(0)
    os.close(holding[1])
    os.close(release[0])
    try:
        assert os.read(holding[0], 1) == b"x", "the other user could not make the folder"
        outcome: list[object] = []

        def write() -> None:
            try:
                with locks.hold(7):
                    outcome.append("written")
            except ConfigError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        thread.join(5)
        assert outcome, "the write waits on another user's lock"
        assert isinstance(outcome[0], ConfigError) and "TMPDIR" in outcome[0].message
    finally:
        os.close(release[1])  # the other user lets go
        os.close(holding[0])
        os.waitpid(child, 0)
        shutil.rmtree(shared, ignore_errors=True)


def test_the_lock_folder_of_this_user_is_used_again_by_every_writer(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for _ in range(2):
        with FrameLocks(STUDIO).hold(7):
            pass
    assert (tmp_path / f"samvid-frame-locks-{os.getuid()}").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("squatter", ["file", "dangling link"])
def test_a_file_or_link_left_where_the_lock_folder_goes_is_refused_saying_what_to_do(squatter, tmp_path,
                                                                                      monkeypatch):
    # It failed every frame write with a bare "[Errno 17] File exists" (an internal error).
    import tempfile

    from samvid.errors import ConfigError

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    there = tmp_path / f"samvid-frame-locks-{os.getuid()}"
    if squatter == "file":
        there.write_text("")
    else:
        there.symlink_to(tmp_path / "gone")
    with pytest.raises(ConfigError, match="remove it, or set TMPDIR"), FrameLocks(STUDIO).hold(7):
        pass


# One server, spelled as its users type it: a shell's CLI, the backend's environment, a worker's.
SAME_SERVER = [
    ("http://localhost:8080", "http://127.0.0.1:8080"),
    ("http://localhost:8080", "HTTP://LocalHost:8080/"),
    ("http://127.0.0.1:80", "http://127.0.0.1"),
    ("http://localhost:8080", "http://[::1]:8080"),
    ("https://ls.example/ls/", "https://user@LS.example:443/ls?x=1"),
]
OTHER_SERVER = [
    ("http://localhost:8080", "http://localhost:8081"),
    ("http://ls-a.example:8080", "http://ls-b.example:8080"),
    ("http://ls.example/ls", "http://ls.example"),
    ("http://10.0.0.1:8080", "http://localhost:8080"),
]


@pytest.mark.parametrize(("one", "another"), SAME_SERVER)
def test_writers_naming_one_label_studio_differently_share_its_frame_lock(one, another):
    """``samvid propagate --url http://127.0.0.1:8080`` wrote a frame while the backend
    (LABEL_STUDIO_URL=http://localhost:8080) wrote it too: two predictions on one frame."""
    assert waits_for(FrameLocks(one), FrameLocks(another), 7) > 0.3


@pytest.mark.parametrize(("one", "another"), OTHER_SERVER)
def test_writers_of_different_label_studios_do_not_wait_for_each_other(one, another):
    assert waits_for(FrameLocks(one), FrameLocks(another), 7) < 0.3


@pytest.mark.redis
def test_writers_naming_one_label_studio_differently_share_its_redis_frame_lock(redis_server):
    backend = FrameLocks("http://localhost:8080", redis_server.url)
    worker = FrameLocks("http://127.0.0.1:8080/", redis_server.url)  # another machine's `samvid worker`
    assert waits_for(backend, worker, 42) > 0.3
    assert waits_for(FrameLocks("http://localhost:8081", redis_server.url), backend, 42) < 0.3


@pytest.mark.redis
def test_a_worker_of_the_version_before_takes_the_same_redis_lock_for_the_usual_url(redis_server):
    """A rolling upgrade: workers of the version before named the lock by the URL as given
    (sha1 of it without trailing slashes); for the usual spelling the name is unchanged."""
    import hashlib

    import redis

    before = hashlib.sha1(b"http://localhost:8080").hexdigest()[:12]
    client = redis.Redis.from_url(redis_server.url)
    try:
        with FrameLocks("http://localhost:8080/", redis_server.url).hold(7):
            assert client.exists(f"samvid:frame-write:{before}:7")
    finally:
        client.close()


@pytest.mark.redis
@pytest.mark.parametrize("password", ["", "wrong-pw"])
def test_a_redis_that_refuses_the_password_fails_the_write_at_once_saying_to_give_it(
        redis_server, caplog, password):
    """A refused password was an AuthenticationError, a ConnectionError: "cannot reach Redis",
    retried as an outage for the write's whole retry budget, to no end."""
    import redis

    from samvid.redis_jobs import PasswordRefused

    url = redis_server.url.replace("redis://", f"redis://:{password}@") if password else redis_server.url
    redis.Redis.from_url(redis_server.url).config_set("requirepass", "x")
    locks = FrameLocks(STUDIO, url, retry_seconds=5.0, socket_seconds=1.0)
    start = time.monotonic()
    with caplog.at_level("WARNING", logger="samvid.studio.frame_locks"):
        with pytest.raises(PasswordRefused, match="wants a password .* give it in REDIS_URL as"):
            locks.ensure_reachable()
        with pytest.raises(PasswordRefused, match="wants a password .* give it in REDIS_URL as"):
            with locks.hold(7):
                pytest.fail("written without the lock")
    assert time.monotonic() - start < 1.0
    assert "unreachable" not in caplog.text


@pytest.mark.redis
def test_a_password_redis_starts_wanting_at_run_time_fails_the_next_write_saying_so(redis_server):
    import redis

    from samvid.redis_jobs import PasswordRefused

    locks = FrameLocks(STUDIO, redis_server.url, retry_seconds=5.0, socket_seconds=1.0)
    with locks.hold(7):
        pass
    redis.Redis.from_url(redis_server.url).config_set("requirepass", "x")  # CONFIG SET by an admin
    start = time.monotonic()
    with pytest.raises(PasswordRefused):
        with locks.hold(7):
            pytest.fail("written without the lock")
    assert time.monotonic() - start < 1.0
