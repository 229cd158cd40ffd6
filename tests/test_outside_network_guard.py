"""The project's rule, kept by tests/conftest.py: no test reaches outside this machine."""

from __future__ import annotations

import socket
import time

import pytest
import requests


def test_a_connect_outside_this_machine_fails_at_once_naming_the_address(no_outside_network) -> None:
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): nothing answers there, guard or not.
    with socket.socket() as sock, pytest.raises(AssertionError, match=r"192\.0\.2\.1.*outside this machine"):
        sock.settimeout(2)
        sock.connect(("192.0.2.1", 80))
    assert no_outside_network.connects.pop()[1] == "('192.0.2.1', 80)"  # caught here on purpose


def test_a_name_other_than_localhost_is_not_looked_up(no_outside_network) -> None:
    started = time.monotonic()
    session = requests.Session()
    session.trust_env = False  # a proxy in the environment would be asked instead
    with pytest.raises(requests.ConnectionError, match="not looked up"):
        session.get("http://samvid-no-such-host.example:8080/health", timeout=5)
    assert time.monotonic() - started < 1
    assert no_outside_network.names.pop("samvid-no-such-host.example")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_this_machine_is_still_reachable(host: str) -> None:
    # Bound where the name leads: on some hosts localhost is ::1 alone.
    family, _, _, _, address = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0]
    with socket.socket(family) as server:
        server.bind(address)
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection((host, port), timeout=2):
            pass
