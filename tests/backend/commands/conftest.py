"""Fixtures of the command tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from services import free_port


@dataclass(frozen=True)
class LeftBackend:
    pid: int
    port: int
    data_dir: Path


@pytest.fixture
def backend_left_by_a_killed_up(tmp_path: Path) -> Iterator[Callable[..., LeftBackend]]:
    """Starts what `kill -9` on `samvid up` leaves: its backend (own session) listening on its
    port, and its pid file in the data dir ``tmp_path/data``. Its command line names the port
    (``serve --port N``, as `samvid up` starts it) or, with ``port_named=False``, not (a
    bare ``serve``: the port is found by what listens)."""
    holders: list[subprocess.Popen] = []

    def start(port_named: bool = True) -> LeftBackend:
        port = free_port()
        named = ["--host", "127.0.0.1", "--port", str(port)] if port_named else []
        holder = subprocess.Popen([sys.executable, "-c", f"""
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", {port})); s.listen(); print("up", flush=True); time.sleep(60)
""", "samvid.cli", "serve", *named], stdout=subprocess.PIPE, text=True)
        holders.append(holder)
        assert holder.stdout is not None and holder.stdout.readline() == "up\n"
        data = tmp_path / "data"
        (data / "logs").mkdir(parents=True)
        (data / "logs" / "samvid-serve.pid").write_text(str(holder.pid))
        return LeftBackend(holder.pid, port, data)

    try:
        yield start
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()
