"""`samvid serve` as a user starts it: no weights, fallback, gunicorn workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from services import free_port, stop, wait_for


def _env(tmp_path) -> dict[str, str]:
    # No hub, an empty cache: exactly a machine with no weights.
    return dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), SAMVID_MODEL="")


@contextmanager
def _served(env: dict, *args: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """``samvid serve ARGS`` in its own process, output captured: its URL once /health
    answers, and the process (stopped on leaving, so its output can be read then)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "samvid.cli", "serve", "--port", str(port), *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{url}/health", timeout=2).ok, 120, "serve", proc, port=port)
        yield url, proc
    finally:
        stop(proc)


def test_serve_without_weights_exits_at_start_naming_the_fix(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "samvid.cli", "serve", "--port", str(free_port())],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "facebook/sam2.1-hiera-tiny" in proc.stderr and "--fallback classic" in proc.stderr


def test_serve_on_a_port_in_use_exits_at_start_naming_the_fix(tmp_path):
    port = free_port()
    with socket.socket() as held:
        held.bind(("127.0.0.1", port))
        held.listen()
        proc = subprocess.run([sys.executable, "-m", "samvid.cli", "serve", "--model", "classic", "--port", str(port)],
                              env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr and "--port" in proc.stderr
    assert "Traceback" not in proc.stderr and "Can't connect" not in proc.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_falls_back_to_classic_and_says_so(tmp_path, workers):
    with _served(_env(tmp_path), "--fallback", "classic", "--workers", str(workers)) as (url, proc):
        assert requests.get(f"{url}/health", timeout=5).json()["model_version"].startswith("samvid-classic")
    assert "falling back to 'classic'" in proc.stdout.read()


def test_serve_leaves_the_users_gunicorn_control_socket_alone(tmp_path):
    # gunicorn 25.1+ opens ~/.gunicorn/gunicorn.ctl, one per user: each backend took it over.
    home = tmp_path / "home"
    home.mkdir()
    with _served(dict(_env(tmp_path), HOME=str(home)), "--model", "classic") as (url, proc):
        assert requests.get(f"{url}/health", timeout=5).ok
        assert not (home / ".gunicorn").exists()
    assert "Control socket" not in proc.stdout.read()


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_metrics_of_several_workers_add_up_whichever_worker_answers(tmp_path):
    from ls_requests import keypoint, predict_body, write_png

    image = write_png(tmp_path / "f.png", 40, 30)
    env = dict(_env(tmp_path), SAMVID_LOCAL_ROOTS=str(tmp_path), SAMVID_PRECOMPUTE="0")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with _served(env, "--model", "standin", "--workers", "2") as (url, _):
        clicks = 24
        for k in range(clicks):
            body = predict_body(str(image), [keypoint(10.5 + k % 20, 15.5, 40, 30)])
            assert requests.post(f"{url}/predict", json=body, timeout=30).status_code == 200
        for _ in range(6):  # new connections: the scrapes land on both workers
            text = requests.get(f"{url}/metrics", timeout=10, headers={"Connection": "close"}).text
            assert _sample(text, "samvid_request_seconds_count", route="/predict", status="200") == clicks
            lookups = _sample(text, "samvid_embedding_cache_total", result="hit") + _sample(
                text, "samvid_embedding_cache_total", result="miss")
            assert lookups >= clicks
            assert 1 <= _sample(text, "samvid_encoder_runs_total") <= 2  # one per worker at most


@pytest.mark.parametrize("workers", [1, 2])
def test_the_default_start_is_a_production_server_with_no_development_warning(tmp_path, workers):
    with _served({**_env(tmp_path), "REDIS_URL": ""}, "--model", "standin", "--workers", str(workers)) as (url, proc):
        assert requests.get(f"{url}/health", timeout=5).json()["status"] == "UP"
    output = proc.stdout.read()
    assert "development server" not in output
    assert "gunicorn" in output.lower() and output.count("Booting worker") == workers
    # Several processes share jobs and frame locks only through Redis: said at start.
    assert ("without REDIS_URL: each worker process keeps its own propagation jobs" in output) == (workers > 1)


def test_the_development_server_runs_only_behind_dev(tmp_path):
    with _served(_env(tmp_path), "--model", "standin", "--dev") as (_, proc):
        pass
    output = proc.stdout.read()
    assert "--dev" in output and "Booting worker" not in output


@pytest.mark.parametrize("dev", [False, True], ids=["gunicorn", "dev"])
def test_serve_listens_on_an_ipv6_address(tmp_path, dev):
    with socket.socket(socket.AF_INET6) as probe:
        try:
            probe.bind(("::1", 0))
        except OSError:
            pytest.skip("this machine has no IPv6 loopback")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "samvid.cli", "serve", "--model", "standin", "--host", "::1",
                             "--port", str(port), *(["--dev"] if dev else [])],
                            env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: requests.get(f"http://[::1]:{port}/health", timeout=2).ok, 120, "serve", proc,
                 port=port, host="::1")
    finally:
        stop(proc)


@pytest.mark.parametrize(("dev", "sig"), [(False, signal.SIGTERM), (True, signal.SIGTERM), (True, signal.SIGINT)],
                         ids=["gunicorn-term", "dev-term", "dev-ctrl-c"])
def test_serve_stops_promptly_with_a_job_waiting_for_label_studio_and_names_the_jobs_it_drops(tmp_path, dev, sig):
    # The job would wait out Label Studio for two minutes; the process kept alive that long.
    env = dict(_env(tmp_path), LABEL_STUDIO_URL=f"http://127.0.0.1:{free_port()}", LABEL_STUDIO_API_KEY="x",
               SAMVID_STUDIO_RETRY_SECONDS="120", REDIS_URL="", SAMVID_PRECOMPUTE="0")
    with _served(env, "--model", "standin", *(["--dev"] if dev else [])) as (url, proc):
        jobs = [requests.post(f"{url}/propagate", json={"project": 1, "clip": "c", "frame": frame}, timeout=10).json()
                for frame in (0, 1)]  # one clip: the second waits its turn
        wait_for(lambda: requests.get(f"{url}/jobs/{jobs[0]['id']}", timeout=2).json()["note"], 30, "the wait", proc)
        began = time.monotonic()
        proc.send_signal(sig)
        proc.wait(60)
        # Well under the job's 120 s wait; not tighter: on a loaded 2-core machine gunicorn's
        # own stop took 12 s.
        assert time.monotonic() - began < 45
    output = proc.stdout.read()
    assert f"stopping with 1 running and 1 queued job(s): cancelled (propagate 1:c {jobs[0]['id']}" in output
