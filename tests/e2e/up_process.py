"""`samvid up` run as a user runs it: a subprocess on free ports with its own data dir."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from services import unclaimed_port

# The stand-in segmenter with a disk almost as large as the demo ball (radius 34), so the
# screenshots show a whole object and every mask is known.
MODEL = "standin:30"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Up:
    data_dir: Path
    port: int
    backend_port: int
    proc: subprocess.Popen
    log_path: Path

    @classmethod
    def start(cls, data_dir: Path, *extra: str, port: int | None = None,
              backend_port: int | None = None) -> Up:
        port, backend_port = port or unclaimed_port(), backend_port or unclaimed_port()
        log_path = data_dir.parent / f"{data_dir.name}-up-{time.time_ns()}.log"
        argv = [sys.executable, "-m", "samvid.cli", "up", "--data-dir", str(data_dir),
                "--port", str(port), "--backend-port", str(backend_port), *extra]
        with log_path.open("wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        return cls(data_dir, port, backend_port, proc, log_path)

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 300) -> dict[str, Any]:
        """ready.json once everything is up; fails with the output if `up` exits first."""
        ready = self.data_dir / "ready.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"samvid up exited with {self.proc.returncode}:\n"
                                     f"{self.output}")
            if ready.is_file():
                return json.loads(ready.read_text())
            time.sleep(0.5)
        raise AssertionError(f"samvid up not ready after {timeout:.0f} s:\n{self.output}")

    @property
    def credentials(self) -> dict[str, str]:
        return json.loads((self.data_dir / "credentials.json").read_text())

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        reply = requests.request(method, f"http://127.0.0.1:{self.port}{path}", timeout=30,
                                 headers={"Authorization": f"Token {self.credentials['token']}"},
                                 **kwargs)
        reply.raise_for_status()
        return reply.json()

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C, as a user stops it; SIGKILL only if it hangs (a failure by itself)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"samvid up ignored Ctrl-C:\n{self.output}") from None
        return int(self.proc.returncode)

    def kill_leftovers(self) -> None:
        """Last resort after a failed test: the children `up` recorded as running."""
        for name in ("label-studio", "samvid-serve"):
            pid_file = self.data_dir / "logs" / f"{name}.pid"
            if pid_file.is_file():
                try:
                    os.killpg(int(pid_file.read_text()), signal.SIGKILL)
                except (ProcessLookupError, ValueError, PermissionError):
                    pass
