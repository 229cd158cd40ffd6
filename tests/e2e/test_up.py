"""`samvid up` as a user meets it: failures that say what to do, re-runs that reuse
everything, and attaching to a Label Studio that is already running."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from up_process import MODEL, Up, port_open

from samvid.launcher import Child

pytestmark = pytest.mark.studio


def test_a_taken_port_is_named_with_the_flag_to_change_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stack = Up.start(tmp_path / "data", "--model", "standin", port=port)
        assert stack.proc.wait(60) == 2
    assert f"port {port} on 127.0.0.1 is already in use" in stack.output
    assert "--port" in stack.output


def stand_in_label_studio(tmp_path: Path, monkeypatch, script: str) -> None:
    """A `label-studio` executable running the shell ``script``, first on PATH: for how
    `up` handles a child that fails or is slow, not for anything Label Studio does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "label-studio"
    fake.write_text(f"#!/bin/sh\n{script}")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

def test_label_studio_that_dies_at_start_shows_the_end_of_its_log(tmp_path: Path,
                                                                   monkeypatch) -> None:
    stand_in_label_studio(tmp_path, monkeypatch,
                          "echo 'django.db.utils.OperationalError: disk I/O error'\nexit 3\n")
    stack = Up.start(tmp_path / "data", "--model", "standin")
    assert stack.proc.wait(60) == 2
    assert "Label Studio failed to start" in stack.output
    assert "exited with code 3" in stack.output
    assert "disk I/O error" in stack.output  # the tail of its log, right in the message


def test_label_studio_that_dies_without_a_word_does_not_show_an_earlier_runs_error(tmp_path: Path,
                                                                                  monkeypatch) -> None:
    # The log is kept across runs: its end may be an old failure that has since been fixed.
    stand_in_label_studio(tmp_path, monkeypatch, "echo 'OperationalError: disk I/O error'\nexit 3\n")
    first = Up.start(tmp_path / "data", "--model", "standin")
    assert first.proc.wait(60) == 2 and "disk I/O error" in first.output
    (tmp_path / "bin" / "label-studio").write_text("#!/bin/sh\nexit 4\n")
    again = Up.start(tmp_path / "data", "--model", "standin")
    assert again.proc.wait(60) == 2
    assert "exited with code 4" in again.output
    assert "disk I/O error" not in again.output
    assert "it wrote nothing" in again.output


@pytest.mark.parametrize("shell", [{}, {"LATEST_VERSION_CHECK": "true"}], ids=["unset", "on-in-the-shell"])
def test_label_studio_of_up_does_not_ask_pypi_for_a_newer_release(tmp_path: Path, monkeypatch,
                                                                  shell: dict[str, str]) -> None:
    # On by default, the check reaches pypi.org on every start (an air-gapped site waits on it).
    for name, value in shell.items():
        monkeypatch.setenv(name, value)
    dump = tmp_path / "studio-environ"
    stand_in_label_studio(tmp_path, monkeypatch, f"env -0 > '{dump}'\nexit 3\n")
    stack = Up.start(tmp_path / "data", "--model", "standin")
    assert stack.proc.wait(60) == 2, stack.output
    child_env = dict(entry.split("=", 1) for entry in dump.read_text().split("\0") if "=" in entry)
    # The setting as Label Studio's own settings read it, from the environment its process got
    # (its settings module itself is not loaded: that would run the check).
    read = subprocess.run([sys.executable, "-c", """
import os, sys, label_studio
sys.path.insert(0, os.path.dirname(label_studio.__file__))
from core.utils.params import get_bool_env
print(get_bool_env("LATEST_VERSION_CHECK", True))
"""], env=child_env, capture_output=True, text=True, timeout=120)
    assert read.stdout.split() == ["False"], read.stderr[-2000:]


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie no one has reaped yet (an orphan in a container)."""
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True


def test_a_second_interrupt_while_stopping_still_stops_label_studio_and_frees_both_ports(
        tmp_path: Path, monkeypatch) -> None:
    # A Label Studio that takes a second to stop, as the real one does: the second SIGTERM
    # (an impatient Ctrl-C, docker stop's follow-up) lands while `up` waits for it.
    stand_in_label_studio(tmp_path, monkeypatch, "trap 'sleep 1; exit 0' TERM\nwhile :; do sleep 0.1; done\n")
    stack = Up.start(tmp_path / "data", "--model", "standin")
    pid_file = tmp_path / "data" / "logs" / "label-studio.pid"
    deadline = time.monotonic() + 60
    while not pid_file.is_file() and stack.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pid_file.is_file(), stack.output
    studio_pid = int(pid_file.read_text())
    time.sleep(0.5)  # the fake has set its trap
    stack.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    stack.proc.send_signal(signal.SIGTERM)
    code = stack.proc.wait(60)
    assert gone(studio_pid), "Label Studio outlived `samvid up`"
    assert code == 0, stack.output
    assert not port_open(stack.port) and not port_open(stack.backend_port)


def connections(stack: Up, project: int) -> list[tuple[int, str]]:
    return [(b["id"], b["url"]) for b in stack.api("GET", "/api/ml", params={"project": project})]


def test_running_again_reuses_everything(running) -> None:
    first, ready = running.stack, running.ready
    creds = first.credentials
    backends = connections(first, ready["project_id"])
    assert first.interrupt() == 0
    assert not port_open(first.port) and not port_open(first.backend_port)

    again = Up.start(first.data_dir, "--model", MODEL, port=first.port,
                     backend_port=first.backend_port)
    running.stack = again  # whatever happens next, the session fixture stops this one
    running.ready = again.wait_ready()
    assert running.ready["project_id"] == ready["project_id"]
    assert running.ready["task_ids"] == ready["task_ids"]  # the clip was not imported twice
    assert again.credentials == creds
    assert creds["password"] not in again.output  # printed once, on the first run only
    assert "credentials.json" in again.output
    assert connections(again, ready["project_id"]) == backends  # not connected twice


def test_closing_the_terminal_stops_label_studio_and_the_backend(running) -> None:
    import signal

    first = running.stack
    first.proc.send_signal(signal.SIGHUP)  # what a closed terminal or a lost SSH session sends
    assert first.proc.wait(60) == 0, first.output
    assert not port_open(first.port) and not port_open(first.backend_port)
    again = Up.start(first.data_dir, "--model", MODEL, port=first.port, backend_port=first.backend_port)
    running.stack = again
    running.ready = again.wait_ready()


def test_the_backend_up_starts_is_gunicorn_with_no_development_server_warning(running) -> None:
    up = running.stack
    assert requests.get(f"http://127.0.0.1:{up.backend_port}/health", timeout=10).json()["status"] == "UP"
    log = (up.data_dir / "logs" / "samvid-serve.log").read_text(errors="replace")
    assert "Booting worker" in log and "gthread" in log
    assert "development server" not in log and "development server" not in up.output


def test_attach_to_a_running_label_studio(running, tmp_path: Path) -> None:
    host = running.stack
    attached = Up.start(tmp_path / "data", "--model", "standin", "--no-studio",
                        "--label-studio-url", f"http://127.0.0.1:{host.port}",
                        "--api-key", host.credentials["token"], "--project", "attached")
    try:
        ready = attached.wait_ready()
        assert ready["project_id"] != running.ready["project_id"]
        assert ready["credentials_file"] is None
        # No document root given: the frames went through Label Studio's upload API.
        task = host.api("GET", f"/api/tasks/{ready['task_ids'][0]}")
        assert task["data"]["image"].startswith("/data/upload/")
    finally:
        assert attached.interrupt() == 0
    assert not port_open(attached.backend_port)
    assert port_open(host.port), "stopping an attached `up` must leave Label Studio running"


# -- the pure parts of samvid.launcher (no processes) --------------------------------------------


def test_missing_sam_weights_fall_back_to_classic_and_say_how_to_get_them(tmp_path: Path,
                                                                          monkeypatch) -> None:
    from huggingface_hub import constants

    from samvid.launcher import pick_model

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    choice = pick_model("facebook/sam2.1-hiera-tiny")
    assert choice.model == "classic"
    assert "no weights for facebook/sam2.1-hiera-tiny" in choice.note
    assert "hf download facebook/sam2.1-hiera-tiny" in choice.note
    assert pick_model("standin").model == "standin" and not pick_model("classic").note
    folder = tmp_path / "sam-folder"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    assert pick_model(str(folder)).model == str(folder)


def test_a_model_folder_without_weights_falls_back_to_classic_and_says_what_the_folder_lacks(
        tmp_path: Path) -> None:
    from samvid.launcher import pick_model

    folder = tmp_path / "sam2.1-hiera-tiny"  # a copy cut short: the config came, the weights did not
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "sam2"}')
    choice = pick_model(str(folder))
    assert choice.model == "classic"
    assert f"the folder {folder} holds no model" in choice.note and ".safetensors" in choice.note
    assert "hf download" not in choice.note


def test_a_model_name_that_is_no_hub_id_falls_back_to_classic(tmp_path: Path, monkeypatch) -> None:
    from huggingface_hub import constants

    from samvid.launcher import pick_model

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    # Not an existing folder, and the hub refuses it as an id: no weights, so classic.
    assert pick_model("models/sam2/tiny").model == "classic"


def test_up_propagates_even_when_REDIS_URL_is_set_in_the_environment(tmp_path: Path) -> None:
    """With REDIS_URL the backend would queue every propagation for a `samvid worker`,
    and `up` starts none: the backend up starts must run the jobs itself."""
    from samvid.launcher import backend_env
    from samvid.settings import Settings

    env = backend_env("http://127.0.0.1:8080", "token", tmp_path / "files",
                      base={"REDIS_URL": "redis://127.0.0.1:6379/0", "PATH": "/usr/bin"})
    assert "REDIS_URL" not in env
    assert Settings.from_env(env).redis_url == ""  # what the backend reads: embedded jobs
    assert env["PATH"] == "/usr/bin"  # the rest of the environment is passed on


def sleeper(tmp_path: Path, name: str) -> Child:
    from samvid.launcher import Child

    return Child.start(name, ["sleep", "60"], dict(os.environ), tmp_path / "logs" / f"{name}.log")


def test_no_backend_registration_leaves_ready_json_with_the_project_and_tasks(tmp_path: Path) -> None:
    """`up --no-studio --no-backend` (compose's one-shot) starts nothing and exits at once:
    ready.json, with the project and task ids, is what it leaves for the script that ran it."""
    from samvid.launcher import Stack, UpOptions, write_ready

    with Stack(UpOptions(data_dir=tmp_path, model="standin", no_studio=True, no_backend=True)) as stack:
        write_ready(stack.layout.ready_file, {"project_id": 7, "task_ids": [1, 2]})
    assert json.loads((tmp_path / "ready.json").read_text()) == {"project_id": 7, "task_ids": [1, 2]}

    with Stack(UpOptions(data_dir=tmp_path, model="standin")) as stack:  # this one starts a child
        stack.children.append(sleeper(tmp_path, "backend"))
        write_ready(stack.layout.ready_file, {"project_id": 7, "task_ids": [1, 2]})
    assert not (tmp_path / "ready.json").exists(), "its URLs are down once its children are stopped"


def test_credentials_are_made_once_private_and_reused(tmp_path: Path) -> None:
    from samvid.launcher import Credentials

    made, new = Credentials.load_or_create(tmp_path)
    again, new_again = Credentials.load_or_create(tmp_path)
    assert new and not new_again and made == again
    assert len(made.token) == 40 and made.password not in repr(made)
    assert stat.S_IMODE((tmp_path / "credentials.json").stat().st_mode) == 0o600


def test_label_studio_gets_every_setting_the_notes_list(tmp_path: Path) -> None:
    from samvid.launcher import Credentials, Layout, backend_env, studio_env

    creds, _ = Credentials.load_or_create(tmp_path)
    env = studio_env(Layout(tmp_path), creds, base={})
    assert env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    assert env["ML_BLOCK_LOCAL_IP"] == "false" and env["SSRF_PROTECTION_ENABLED"] == "false"
    assert env["LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED"] == "true"
    assert env["LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"] == str(tmp_path / "files")
    assert env["LABEL_STUDIO_USER_TOKEN"] == creds.token
    backend = backend_env("http://127.0.0.1:8080", creds.token, tmp_path / "files", base={})
    assert backend == {"LABEL_STUDIO_URL": "http://127.0.0.1:8080",
                       "LABEL_STUDIO_API_KEY": creds.token,
                       "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(tmp_path / "files"),
                       "SAMVID_LOCAL_ROOTS": str(tmp_path / "files")}


def test_register_only_as_the_compose_one_shot_does(running, tmp_path: Path) -> None:
    """`up --no-studio --no-backend`: both run elsewhere; register, import, exit 0."""
    host = running.stack
    backend = f"http://127.0.0.1:{host.backend_port}"
    one_shot = Up.start(tmp_path / "data", "--no-studio", "--no-backend",
                        "--label-studio-url", f"http://127.0.0.1:{host.port}",
                        "--api-key", host.credentials["token"], "--backend-url", backend,
                        "--project", "registered")
    assert one_shot.proc.wait(120) == 0, one_shot.output
    (project,) = [p for p in host.api("GET", "/api/projects")["results"]
                  if p["title"] == "registered"]
    assert [url for _, url in connections(host, project["id"])] == [backend]
    assert project["task_number"] == 12
