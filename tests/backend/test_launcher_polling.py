"""``samvid up`` polls a port until its child listens there: the poll itself must never hold
the port (a socket connected to itself) so that the child cannot bind it."""

from __future__ import annotations

import socket
import threading

import pytest

from samvid.errors import StudioError
from samvid.launcher import listening, wait_until_up


def _port_nothing_listens_on() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _can_listen_on(port: int) -> bool:
    with socket.socket() as server:  # as Label Studio and gunicorn bind
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind(("127.0.0.1", port))
            server.listen()
        except OSError:
            return False
    return True


def _kernel_picking_the_polled_port_as_source(monkeypatch, port: int) -> None:
    """Every socket gets ``port`` as its own port, as Linux may choose it for a connect() to a port
    of its ephemeral range where nothing listens: the connection is then to the socket itself."""

    class PicksThePolledPort(socket.socket):
        def bind(self, address) -> None:  # type: ignore[no-untyped-def]
            super().bind((address[0], address[1] or port, *address[2:]))

        def connect(self, address) -> None:  # type: ignore[no-untyped-def]
            if self.getsockname()[1] == 0:
                super().bind((address[0], port))
            super().connect(address)

    monkeypatch.setattr(socket, "socket", PicksThePolledPort)


def test_a_socket_connected_to_itself_is_not_taken_for_a_listening_service() -> None:
    port = _port_nothing_listens_on()
    with socket.socket() as itself:  # a self-connection made on purpose: nothing listens on port
        itself.bind(("127.0.0.1", port))
        itself.connect(("127.0.0.1", port))
        assert itself.getpeername() == itself.getsockname()
    assert not listening("127.0.0.1", port)


def test_polling_a_port_whose_source_the_kernel_picks_alike_leaves_the_port_free_for_the_service(
        monkeypatch) -> None:
    port = _port_nothing_listens_on()
    with monkeypatch.context() as patch:
        _kernel_picking_the_polled_port_as_source(patch, port)
        assert not listening("127.0.0.1", port)
        with pytest.raises(StudioError, match="did not answer"):
            wait_until_up(f"http://127.0.0.1:{port}/health", None, 1.2, "the service")
    # A poll connected to itself left the port in TIME-WAIT: the service could not bind it for a minute.
    assert _can_listen_on(port)


def test_a_listening_service_is_found_on_its_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        accepting = threading.Thread(target=lambda: server.accept()[0].close(), daemon=True)
        accepting.start()
        assert listening("127.0.0.1", port)
        assert listening("localhost", port)
        accepting.join(5)


def test_a_backend_reached_only_through_a_proxy_is_found_up(monkeypatch) -> None:
    # `up --no-backend --backend-url` with HTTP_PROXY: requests goes through the proxy, and a
    # direct probe of the backend's port (which only the proxy can reach) never saw it up.
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # a forward proxy whose backend answers
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    proxy = HTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        wait_until_up(f"http://127.0.0.1:{_port_nothing_listens_on()}/health", None, 3, "the samvid backend")
    finally:
        proxy.shutdown()
        proxy.server_close()


@pytest.mark.parametrize("env", [{"HTTPS_PROXY": "http://127.0.0.1:9"}, {"NO_PROXY": ".corp.example"},
                                 {"HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1"}])
def test_a_proxy_setting_that_does_not_apply_to_the_url_keeps_the_probe_on(env: dict[str, str], monkeypatch) -> None:
    # Any *_PROXY variable turned the probe off, though requests connects directly here.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    probed: list[int] = []
    monkeypatch.setattr("samvid.launcher.listening", lambda host, port: probed.append(port) or False)
    port = _port_nothing_listens_on()
    with pytest.raises(StudioError):
        wait_until_up(f"http://127.0.0.1:{port}/health", None, 0.6, "the samvid backend")
    assert probed and set(probed) == {port}


def test_a_socks_proxy_requests_cannot_use_is_said_at_once_not_at_the_timeout(monkeypatch) -> None:
    # Without PySocks every poll raised InvalidSchema, taken for "not up yet": the whole wait.
    import importlib.util

    if importlib.util.find_spec("socks") is not None:
        pytest.skip("PySocks is installed: requests would use the proxy")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:9")
    with pytest.raises(StudioError, match="requests\\[socks\\]"):
        wait_until_up(f"http://127.0.0.1:{_port_nothing_listens_on()}/health", None, 30, "the samvid backend")
