"""`samvid serve` as a user starts it: no weights, fallback, gunicorn workers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests
from services import free_port, stop, wait_for


def _env(tmp_path) -> dict[str, str]:
    # No hub, an empty cache: exactly a machine with no weights.
    return dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), SAMVID_MODEL="")


def test_serve_without_weights_exits_at_start_naming_the_fix(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "samvid.cli", "serve", "--port", str(free_port())],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "facebook/sam2.1-hiera-tiny" in proc.stderr and "--fallback classic" in proc.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_falls_back_to_classic_and_says_so(tmp_path, workers):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "samvid.cli", "serve", "--port", str(port),
                             "--fallback", "classic", "--workers", str(workers)],
                            env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok, 120, "serve", proc)
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=5).json()["model_version"].startswith(
            "samvid-classic")
    finally:
        stop(proc)
    assert "falling back to 'classic'" in proc.stdout.read()
