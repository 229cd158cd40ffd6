"""Real services for tests: Label Studio and redis-server on 127.0.0.1.

Each is started as a subprocess in a temporary directory and stopped at the end
of the test session. Nothing here is a mock.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 answering with ``handler``; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_HANDED_OUT: set[int] = set()


def unclaimed_port() -> int:
    """A free port outside the range ``free_port`` (bind to 0) draws from, for a server that
    binds only after a long start: Label Studio migrates its database first (a minute or
    more), and a test's ``free_port`` meanwhile could take its port; it then listens on the
    next one, unannounced, and never answered where it was waited for."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default; elsewhere, below it is still outside most ranges
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), max(1025, low))
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    return free_port()


def wait_for(check, timeout: float, what: str, proc: subprocess.Popen | None = None,
             port: int | None = None, host: str = "127.0.0.1") -> None:
    """Poll ``check`` until it is true. With ``port``, only once something listens there: a client's
    connect() to a port of the ephemeral range where nothing listens yet may connect to itself and
    hold the port, so that the server cannot bind it (``samvid.launcher.listening``)."""
    from samvid.launcher import listening

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before it was ready")
        try:
            if (port is None or listening(host, port)) and check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s")


def wait_until(check, timeout: float = 90.0, what: str = "condition"):
    """Poll ``check`` until it returns something truthy, and return that (an API state,
    a record); unlike ``wait_for`` a failing check is a test failure, not "not up yet"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def worker_processes(command: Sequence[str], env: Mapping[str, str],
                     logs: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start worker processes on demand; on leaving, a failed test's included, stop them.

    ``start(name, *args)`` runs ``python <command> --name <name> <args>`` with ``env`` over
    this process's environment, its output in ``logs/<name>.log``. Each still alive on
    leaving gets SIGTERM (a warm stop: a running job may end first), SIGKILL after 10 s,
    and is waited for, so no worker outlives its test.
    """
    procs: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> subprocess.Popen:
        with open(logs / f"{name}.log", "wb") as log:  # the child writes to its own copy
            proc = subprocess.Popen([sys.executable, *command, "--name", name, *args],
                                    env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in procs:
            stop(proc)


@dataclass(frozen=True)
class EarlyStart:
    """A server a fixture takes, started as collection ends when a collected test wants that
    fixture: its slow first start (Label Studio's migrations, a minute or two on 2 cores)
    overlaps the tests before the first one. ``start(tmp_path_factory)`` starts it without
    waiting; ``stop`` stops one no test took (a run stopped early)."""

    start: Callable[[Any], Any]
    stop: Callable[[Any], None]


EARLY_STARTS: dict[str, EarlyStart] = {}  # by fixture name; conftest files add theirs
_STARTED: dict[str, Any] = {}


def start_early(fixtures_wanted: set[str], tmp_path_factory: Any) -> None:
    for name, early in EARLY_STARTS.items():
        if name in fixtures_wanted:
            try:
                _STARTED[name] = early.start(tmp_path_factory)
            except OSError:  # not installed (Label Studio is an extra): the fixture says so
                pass


def claim(name: str, tmp_path_factory: Any) -> Any:
    """The server started early for fixture ``name``, or one started now."""
    return _STARTED.pop(name, None) or EARLY_STARTS[name].start(tmp_path_factory)


def stop_unclaimed() -> None:
    for name in list(_STARTED):
        EARLY_STARTS[name].stop(_STARTED.pop(name))


@dataclass
class LabelStudio:
    """A Label Studio server with an admin user, a legacy API token and local files serving."""

    root: Path
    port: int = field(default_factory=unclaimed_port)
    token: str = field(default_factory=lambda: secrets.token_hex(20))
    username: str = "admin@example.com"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def files_root(self) -> Path:
        """LOCAL_FILES_DOCUMENT_ROOT; storages must use a subfolder of it."""
        from samvid.launcher import Layout

        return Layout(self.root).files_root

    def env(self) -> dict[str, str]:
        """The environment `samvid up` gives Label Studio (one place knows it)."""
        from samvid.launcher import Credentials, Layout, studio_env

        return studio_env(Layout(self.root), Credentials(self.username, self.password, self.token))

    def start(self, timeout: float = 180) -> LabelStudio:
        return self.launch().wait_ready(timeout)

    def launch(self) -> LabelStudio:
        """Start the process and return at once: a first start migrates its database for a
        minute or more, which other work may overlap (``wait_ready``)."""
        self.files_root.mkdir(parents=True, exist_ok=True)
        exe = shutil.which("label-studio") or str(Path(sys.executable).parent / "label-studio")
        log = open(self.root / "label-studio.log", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [exe, "start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(self.port)],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 180) -> LabelStudio:
        wait_for(
            lambda: requests.get(f"{self.url}/health", timeout=2).ok,
            timeout,
            f"Label Studio (log: {self.root / 'label-studio.log'})",
            self.proc,
            port=self.port,
        )
        wait_for(
            lambda: requests.get(
                f"{self.url}/api/projects", headers=self.headers, timeout=5
            ).status_code
            == 200,
            60,
            "Label Studio API token",
            self.proc,
            port=self.port,
        )
        return self

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def client(self):
        from label_studio_sdk import LabelStudio as Client

        return Client(base_url=self.url, api_key=self.token)

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@dataclass
class Redis:
    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    persist: bool = False  # append-only file, so data survives ``restart``

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, same_port: bool = False) -> Redis:
        """Start redis-server; on a port another process took meanwhile (another suite on the
        machine), again on a free one unless ``same_port`` (a restart keeps its URL)."""
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed: apt-get install redis-server")
        self.root.mkdir(parents=True, exist_ok=True)
        tries = 3
        while True:
            self.proc = subprocess.Popen(
                [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "yes" if self.persist else "no", "--appendfsync", "always",
                 "--dir", str(self.root)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                # Answered by this process, not by whichever Redis holds the port: another
                # suite's, answering a ping, made a test freeze or stop a server it never used.
                wait_for(self._answered_by_this_process, 20, "redis-server", self.proc, port=self.port)
                return self
            except RuntimeError:
                stop(self.proc)
                tries -= 1
                if same_port or not tries:
                    raise
                self.port = free_port()

    def _answered_by_this_process(self) -> bool:
        import redis

        assert self.proc is not None
        return int(redis.Redis.from_url(self.url).info("server")["process_id"]) == self.proc.pid

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)

    def restart(self, down_for: float = 1.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start(same_port=True)


class ServedApp:
    """A WSGI app served for real on 127.0.0.1 in a background thread."""

    def __init__(self, app, port: int | None = None) -> None:
        from werkzeug.serving import make_server

        self.app = app
        self.port = port or free_port()
        self._server = make_server("127.0.0.1", self.port, app, threaded=True)
        import threading

        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServedApp:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(5)
