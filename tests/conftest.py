"""Session-wide fixtures: real Label Studio and real Redis on 127.0.0.1.

Label Studio's first start on a fresh data dir migrates its database (a minute or two
on 2 cores), so one instance serves the whole test session, launched as collection ends;
tests create their own projects in it.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from services import EARLY_STARTS, EarlyStart, LabelStudio, Redis, claim, start_early, stop_unclaimed  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Real data that is never committed here: CI and the project's machines have it beside
# the checkout; a fresh clone does not, and the tests that need it skip.
SHARED = REPO.parent / "shared"
SHARED_DATA = {"media": "the real test clips", "davis16": "the DAVIS 2016 sequences"}


class OutsideNetwork(AssertionError):
    """A test reached for an address outside this machine (the project's rule: none may)."""


# Names that are this machine without asking a resolver.
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
GUARD = "tests/conftest.py, no_outside_network"


def is_local_name(host: str) -> bool:
    name = host.lower().rstrip(".")
    return name in LOCAL_NAMES or name.endswith(".localhost")


def is_local_address(host: str) -> bool | None:
    """True for a loopback (or unspecified: this machine) address, False for another
    address, None for no address literal (a name)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # fe80::1%eth0: a zone
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def current_test() -> str:
    """The test running now, and the thread asking when it is not the main one: a thread an
    earlier test started may be the one that connects."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "(between tests)").rsplit(" ", 1)[0]
    thread = threading.current_thread()
    return test if thread is threading.main_thread() else f"{test} (thread {thread.name})"


@dataclass
class Guard:
    """What the tests of this process reached for outside: connects (each one a failure of
    its test, even where the code swallowed the error) and names not looked up (by design for
    names such as http://ls:8080; listed at the end of the run)."""

    connects: list[tuple[str, str]] = field(default_factory=list)
    names: dict[str, set[str]] = field(default_factory=dict)

    def connect(self, real: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(real)
        def connect(sock: socket.socket, address: Any, *args: Any) -> Any:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
                if not (is_local_address(host) or is_local_name(host)):
                    self.connects.append((current_test(), repr(address)))
                    raise OutsideNetwork(f"{current_test()} connected to {address!r}, outside this "
                                         f"machine: tests must reach 127.0.0.1 only ({GUARD})")
            return real(sock, address, *args)
        return connect

    def getaddrinfo(self, real: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(real)
        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            text = host.decode() if isinstance(host, bytes) else host
            if text is None or is_local_address(text) is not None or is_local_name(text):
                return real(host, *args, **kwargs)
            self.names.setdefault(text, set()).add(current_test())
            # A gaierror, as an unknown name gives: code that handles an unreachable host
            # handles it, at once rather than after the resolver's timeout.
            raise socket.gaierror(socket.EAI_NONAME, f"{text!r} not looked up: tests stay on "
                                                     f"this machine ({GUARD})")
        return getaddrinfo


GUARDED = Guard()


@pytest.fixture(scope="session", autouse=True)
def no_outside_network() -> Iterator[Guard]:
    """Every connect from this process to an address outside this machine fails at once,
    naming it; a name other than localhost does not resolve.

    Only this process is covered: the subprocesses tests start (Label Studio, `samvid up`,
    Chromium) are not; studio_env and the browser test's routes keep those inside. Nor is
    code that connects from C (a C extension's own sockets)."""
    real = socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex
    socket.getaddrinfo = GUARDED.getaddrinfo(real[0])  # type: ignore[assignment]
    socket.socket.connect = GUARDED.connect(real[1])  # type: ignore[method-assign]
    socket.socket.connect_ex = GUARDED.connect(real[2])  # type: ignore[method-assign]
    try:
        yield GUARDED
    finally:
        socket.getaddrinfo = real[0]
        socket.socket.connect, socket.socket.connect_ex = real[1], real[2]  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def stays_on_this_machine(no_outside_network: Guard) -> Iterator[None]:
    """Fails the test that connected outside even where the code under test caught the error."""
    before = len(no_outside_network.connects)
    yield
    reached = [f"{address} by {who}" for who, address in no_outside_network.connects[before:]]
    if reached:
        pytest.fail(f"connected outside this machine: {', '.join(reached)} ({GUARD})")


def pytest_configure(config: pytest.Config) -> None:
    # Tests reach this machine only: a proxy from the environment (a CI's) would be asked for
    # 127.0.0.1 where NO_PROXY leaves it out, and by the Label Studio and samvid children.
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        os.environ.pop(name, None)
        os.environ.pop(name.upper(), None)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for test, address in GUARDED.connects:
        terminalreporter.write_line(f"outside network: {test} connected to {address}")
    if GUARDED.names:  # by design (http://ls:8080 standing for an unreachable server): one line
        said = ", ".join(f"{name!r} ({len(tests)})" for name, tests in sorted(GUARDED.names.items()))
        terminalreporter.write_line(f"outside network: names not looked up (tests asking): {said}")


def _symlinked_root(factory: pytest.TempPathFactory) -> Path:
    real = factory.mktemp("label-studio-real")
    link = real.with_name(real.name + "-link")
    link.symlink_to(real, target_is_directory=True)
    return link


def _studio(root: Callable[[pytest.TempPathFactory], Path]) -> EarlyStart:
    return EarlyStart(start=lambda factory: LabelStudio(root=root(factory)).launch(), stop=LabelStudio.stop)


EARLY_STARTS["label_studio"] = _studio(lambda factory: factory.mktemp("label-studio"))
EARLY_STARTS["studio_under_a_symlink"] = _studio(_symlinked_root)


def pytest_collection_finish(session: pytest.Session) -> None:
    if not session.config.option.collectonly:
        wanted = {name for item in session.items for name in getattr(item, "fixturenames", ())}
        start_early(wanted, session.config._tmp_path_factory)  # type: ignore[attr-defined]


def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_unclaimed()


def _ready_studio(name: str, factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    ls = claim(name, factory)
    try:
        yield ls.wait_ready()
    finally:
        ls.stop()


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    yield from _ready_studio("label_studio", tmp_path_factory)


@pytest.fixture
def studio_under_a_symlink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    """A second real Label Studio whose LOCAL_FILES_DOCUMENT_ROOT lies under a symlink, as
    every path under /tmp and /var does on macOS (the session's one cannot be moved)."""
    yield from _ready_studio("studio_under_a_symlink", tmp_path_factory)


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    server = Redis(root=tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


def shared_data(name: str) -> Path:
    """``../shared/<name>``, or skip the calling test with one line naming what is missing.

    With ``SAMVID_REQUIRE_SHARED=1`` (set by .ci/run) a missing folder fails instead, so CI
    never passes by skipping.
    """
    path = SHARED / name
    if not path.is_dir():
        message = f"needs ../shared/{name} ({SHARED_DATA[name]}): {path} is missing"
        if os.environ.get("SAMVID_REQUIRE_SHARED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def media() -> Path:
    """The real test videos of ../shared/media."""
    return shared_data("media")


@pytest.fixture(scope="session")
def davis16() -> Path:
    """The real DAVIS 2016 sequences of ../shared/davis16 (JPEGImages/, Annotations/)."""
    return shared_data("davis16")
