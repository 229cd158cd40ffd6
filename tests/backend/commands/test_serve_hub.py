"""`samvid serve --model <hub id>` whose weights are not here: the hub is asked once, within a
timeout, and said to be asked; what it says names the flags and variables the user gave.
No test reaches the network: HF_ENDPOINT is a local socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from services import free_port, stop, wait_for

MODEL = "facebook/sam2.1-hiera-tiny"


def _env(tmp_path: Path, endpoint: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "SAMVID_MODEL", "SAMVID_FALLBACK")}
    # An empty cache: the weights are not here. The hub's ETag timeout short, for the test's time.
    return dict(env, HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT=endpoint, HF_HUB_ETAG_TIMEOUT="1", **extra)


@contextmanager
def _hub_that_never_answers() -> Iterator[str]:
    """A port that takes connections (the kernel's backlog) and never answers them."""
    with socket.socket() as hub:
        hub.bind(("127.0.0.1", 0))
        hub.listen(64)
        yield f"http://127.0.0.1:{hub.getsockname()[1]}"


def _closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens: as a machine offline, refused at once


def test_serve_of_a_hub_model_against_a_hub_that_never_answers_says_so_within_the_timeout(tmp_path: Path) -> None:
    with _hub_that_never_answers() as hub:
        proc = subprocess.run([sys.executable, "-m", "samvid.cli", "serve", "--port", str(free_port()),
                               "--model", MODEL], env=_env(tmp_path, hub), capture_output=True, text=True,
                              timeout=90)  # it waited 400 s and more, silently
    assert proc.returncode == 2, proc.stderr
    assert f"fetching {MODEL} from the Hugging Face hub ({hub})" in proc.stderr, proc.stderr
    assert f"{hub} did not answer within 1 s" in proc.stderr and "--model: no weights" in proc.stderr, proc.stderr


@pytest.mark.parametrize("flags, env, named", [
    (["--fallback", "classic"], {}, "as --fallback asks"),
    ([], {"SAMVID_FALLBACK": "classic"}, "as SAMVID_FALLBACK asks"),
], ids=["flag", "variable"])
def test_serve_falling_back_from_a_hub_model_offline_asks_the_hub_once_and_names_the_fallback_given(
        tmp_path: Path, flags: list[str], env: dict[str, str], named: str) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "samvid.cli", "serve", "--port", str(port), "--model", MODEL,
                             *flags], env=_env(tmp_path, _closed_port_url(), **env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok, 120, "serve", proc, port=port)
    finally:
        stop(proc)
    assert proc.stdout is not None
    out = proc.stdout.read()
    assert f"fetching {MODEL} from the Hugging Face hub" in out, out
    assert "Retry" not in out, out  # the hub library's five retries of each request, seconds apart
    assert f"falling back to 'classic' {named}" in out, out
    assert "run with `--fallback classic`" not in out and "--fallback classic (" not in out, out


@pytest.mark.parametrize("variable, value", [("HF_HUB_OFFLINE", "true"), ("TRANSFORMERS_OFFLINE", "1")])
def test_a_hub_model_not_here_is_not_asked_of_the_hub_in_offline_mode(variable: str, value: str,
                                                                       tmp_path: Path) -> None:
    # Only HF_HUB_OFFLINE=1 was read as offline: the others logged "fetching ... from the hub",
    # then failed on the hub library's own offline refusal.
    code = ("import logging, sys; logging.basicConfig(level=logging.INFO)\n"
            "from samvid.models.sam import _pretrained_model\n"
            f"try:\n    _pretrained_model({MODEL!r}, 'sam2')\nexcept OSError as exc:\n"
            "    print('refused', type(exc).__name__)\n")
    env = dict(_env(tmp_path, _closed_port_url()), **{variable: value})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "refused" in out.stdout, out.stderr
    assert "fetching" not in out.stderr


def test_serve_runs_on_a_gunicorn_without_a_control_socket_setting(monkeypatch) -> None:
    # pyproject allows gunicorn 22+; control_socket_disable came with 25.1: setting it on an
    # older one stopped every start ("No configuration setting for: control_socket_disable").
    import argparse

    import gunicorn.config

    from samvid.commands.serve import _gunicorn
    from samvid.settings import Settings

    real = gunicorn.config.make_settings
    monkeypatch.setattr(gunicorn.config, "make_settings",
                        lambda *a, **k: {n: s for n, s in real(*a, **k).items() if n != "control_socket_disable"})
    args = argparse.Namespace(host="127.0.0.1", port=free_port(), workers=1, threads=2)
    app = _gunicorn(Settings.from_env({}), args)
    assert "control_socket_disable" not in app.cfg.settings and app.cfg.workers == 1
