"""``samvid up`` (the demo command) says what is wrong with its videos before it starts
Label Studio and the backend: a minute of start-up and shutdown must not stand between a
user and "that file is not a video"."""

from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path

import pytest
from PIL import Image

from samvid.cli import main
from samvid.commands import up
from samvid.models.registry import DEFAULT_MODEL


class _NoStack:
    """Stands in for the launcher: entering it means Label Studio would have been started."""

    entered = False

    def __init__(self, options: object) -> None:
        pass

    def __enter__(self) -> _NoStack:
        type(self).entered = True
        raise AssertionError("Label Studio and the backend were started for an unreadable video")

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.fixture
def no_children(monkeypatch) -> None:
    """Any child process (Label Studio, the backend) started fails the test: what is
    checked must be said before anything starts."""
    from samvid import launcher

    def no_child(*args: object, **kwargs: object) -> None:
        raise AssertionError("a child process was started")

    monkeypatch.setattr(launcher.Child, "start", no_child)


@pytest.mark.parametrize("content", [b"hello, not a video\n", b"\x00" * 64], ids=["text", "zeros"])
def test_up_on_a_file_that_is_not_a_video_says_so_before_starting_anything(
        tmp_path: Path, content: bytes, monkeypatch, capsys) -> None:
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(content)
    monkeypatch.setattr(up, "Stack", _NoStack)
    _NoStack.entered = False
    assert main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", str(fake)]) == 2
    err = capsys.readouterr().err
    assert f"samvid up: error: {fake}: not a video" in err, err
    assert not _NoStack.entered
    assert not (tmp_path / "data").exists()


def test_up_on_a_frame_folder_of_two_sizes_says_so_before_starting_anything(
        tmp_path: Path, monkeypatch, capsys) -> None:
    # The import refuses it (tracking skips frames of another size than the first), but only
    # after Label Studio's and the backend's start, a minute or more later.
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, size in enumerate([(64, 48), (64, 48), (128, 96)]):
        Image.new("RGB", size, (50, 50, 50)).save(frames / f"{i}.png")
    monkeypatch.setattr(up, "Stack", _NoStack)
    _NoStack.entered = False
    assert main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", str(frames)]) == 2
    err = capsys.readouterr().err
    assert "2.png: 128x96, but 0.png is 64x48" in err, err
    assert not _NoStack.entered


@pytest.mark.parametrize("var, value", [("SAMVID_DEVICE", "gpu"), ("SAMVID_PRECISION", "fp64"),
                                        ("SAMVID_MAX_IMAGE_BYTES", "0")])
def test_up_with_a_setting_the_backend_refuses_says_so_before_starting_anything(
        tmp_path: Path, var: str, value: str, monkeypatch, capsys) -> None:
    clip = tmp_path / "clip"
    clip.mkdir()
    (clip / "00000.jpg").write_bytes(b"")  # a frame folder: find_sources accepts it unread
    monkeypatch.setattr(up, "Stack", _NoStack)
    monkeypatch.setenv(var, value)
    _NoStack.entered = False
    assert main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", str(clip)]) == 2
    err = capsys.readouterr().err
    assert f"samvid up: error: {var}" in err, err
    assert not _NoStack.entered


def test_up_reads_an_empty_samvid_model_as_unset_like_the_backend(monkeypatch) -> None:
    monkeypatch.setenv("SAMVID_MODEL", "")
    parser = argparse.ArgumentParser()
    up.add_arguments(parser)
    assert parser.parse_args([]).model == DEFAULT_MODEL


def test_up_reads_an_empty_samvid_device_as_unset_like_the_backend(tmp_path: Path, monkeypatch) -> None:
    # docker compose writes ${SAMVID_DEVICE:-} as "": `samvid up` refused it as "not a device".
    clip = tmp_path / "clip"
    clip.mkdir()
    Image.new("RGB", (16, 16)).save(clip / "00000.jpg")
    monkeypatch.setattr(up, "Stack", _NoStack)
    monkeypatch.setenv("SAMVID_DEVICE", "")
    _NoStack.entered = False
    with pytest.raises(AssertionError, match="were started"):  # _NoStack: it went on to start them
        main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", str(clip)])
    assert _NoStack.entered


def test_up_with_no_backend_and_no_backend_url_says_so_before_starting_label_studio(
        tmp_path: Path, capsys, no_children) -> None:
    with socket.socket() as held:  # Label Studio's port in use: a start would stop there
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = str(held.getsockname()[1])
        code = main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", "--no-backend",
                     "--port", port])
    assert code == 2
    assert "--no-backend needs --backend-url" in capsys.readouterr().err


def test_up_on_a_database_whose_credentials_file_is_gone_says_to_restore_it_before_starting(
        tmp_path: Path, capsys, no_children) -> None:
    # Label Studio keeps the admin of its first start: new credentials would be refused (401)
    # after minutes of waiting, and the new file would make every later run fail the same way.
    data = tmp_path / "data"
    (data / "label-studio").mkdir(parents=True)
    (data / "label-studio" / "label_studio.sqlite3").write_bytes(b"SQLite format 3\0")
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        code = main(["up", "--data-dir", str(data), "--model", "classic", "--port", str(held.getsockname()[1])])
    assert code == 2
    err = capsys.readouterr().err
    assert "credentials.json is missing" in err and "restore credentials.json" in err, err
    assert not (data / "credentials.json").exists()


def test_up_with_one_port_for_label_studio_and_the_backend_says_so_before_starting(
        tmp_path: Path, capsys, no_children) -> None:
    with socket.socket() as held:  # should it go on, the port in use stops it before a start
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = str(held.getsockname()[1])
        code = main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic",
                     "--port", port, "--backend-port", port])
    assert code == 2
    assert f"--port and --backend-port are both {port}" in capsys.readouterr().err


def test_up_on_an_ipv6_address_label_studio_cannot_connect_to_says_so_before_starting(
        tmp_path: Path, capsys, no_children) -> None:
    assert main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", "--host", "::1"]) == 2
    err = capsys.readouterr().err
    assert "--host ::1: Label Studio cannot connect a backend at an IPv6 address" in err, err



def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_up_on_every_ipv6_address_starts_label_studio_there_and_reaches_it_on_this_machine(
        tmp_path: Path, monkeypatch) -> None:
    from samvid import launcher

    with socket.socket(socket.AF_INET6) as probe:
        try:
            probe.bind(("::", 0))
        except OSError:
            pytest.skip("this machine has no IPv6")
    fake = tmp_path / "bin" / "label-studio"  # never run: Child.start below records instead
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    started: list[list[str]] = []

    def record(name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        started.append(argv)
        raise launcher.StudioError("recorded")

    monkeypatch.setattr(launcher.Child, "start", record)
    assert main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", "--host", "::",
                 "--port", str(_free_port()), "--backend-port", str(_free_port())]) == 2
    assert started, "Label Studio was not started on --host ::"
    argv = started[0]
    assert argv[argv.index("--internal-host") + 1] == "[::]"  # Django's runserver wants brackets


def test_a_backend_left_running_by_a_killed_up_is_named_with_its_pid_not_another_port(tmp_path: Path) -> None:
    import subprocess
    import sys

    from samvid.errors import ConfigError
    from samvid.launcher import ModelChoice, Stack, UpOptions

    port = _free_port()
    # What `kill -9` on `samvid up` leaves: its backend (own session) on the port, its pid file.
    holder = subprocess.Popen([sys.executable, "-c", f"""
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", {port})); s.listen(); print("up", flush=True); time.sleep(60)
""", "samvid.cli", "serve"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "up\n"
        data = tmp_path / "data"
        (data / "logs").mkdir(parents=True)
        (data / "logs" / "samvid-serve.pid").write_text(str(holder.pid))
        stack = Stack(UpOptions(data_dir=data, model="classic", backend_port=port))
        with pytest.raises(ConfigError) as error:
            stack._start_backend(ModelChoice("classic", "classic"), "http://127.0.0.1:1", "key", None)
    finally:
        holder.kill()
        holder.wait()
    assert f"pid {holder.pid}" in str(error.value) and f"kill {holder.pid}" in str(error.value)
    assert "--backend-port" not in str(error.value)


class _ReusingStack:
    """A launcher that found Label Studio running (left by a killed run) and started the backend only."""

    def __init__(self, options: object) -> None:
        self.children = [argparse.Namespace(name="samvid serve")]

    def __enter__(self) -> _ReusingStack:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def start(self) -> object:
        from samvid.launcher import Ready

        return Ready("http://127.0.0.1:8080", "http://127.0.0.1:9090", 1, [1], "http://127.0.0.1:8080/p",
                     "standin", "", "admin", "/data/credentials.json")

    def watch(self) -> object:
        raise KeyboardInterrupt  # the user's Ctrl-C


def test_up_that_reused_a_running_label_studio_does_not_promise_ctrl_c_stops_it(
        tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(up, "Stack", _ReusingStack)
    clip = tmp_path / "clip"
    clip.mkdir()
    Image.new("RGB", (16, 16)).save(clip / "00000.jpg")
    assert main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", str(clip)]) == 0
    out = capsys.readouterr().out
    assert "Ctrl-C stops everything" not in out
    assert "Label Studio was already running and keeps running" in out


def test_a_second_up_while_the_first_is_up_keeps_the_first_runs_ready_file(tmp_path: Path) -> None:
    import http.server
    import json
    import subprocess
    import sys

    from services import http_server

    from samvid.errors import ConfigError
    from samvid.launcher import Credentials, Stack, UpOptions

    class FirstRunsStudio(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # takes the data dir's token: a second run reuses it
            body = json.dumps({"email": "admin@samvid.local"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    backend_port = _free_port()
    first_backend = subprocess.Popen([sys.executable, "-c", f"""
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", {backend_port})); s.listen(); print("up", flush=True); time.sleep(60)
""", "samvid.cli", "serve"], stdout=subprocess.PIPE, text=True)
    data = tmp_path / "data"
    Credentials.load_or_create(data)
    (data / "logs").mkdir()
    (data / "logs" / "samvid-serve.pid").write_text(str(first_backend.pid))
    (data / "ready.json").write_text('{"studio_url": "http://127.0.0.1:8080"}')  # a script waits on it
    try:
        assert first_backend.stdout is not None and first_backend.stdout.readline() == "up\n"
        with http_server(FirstRunsStudio) as studio_url:
            options = UpOptions(data_dir=data, model="classic", port=int(studio_url.rsplit(":", 1)[1]),
                                backend_port=backend_port)
            with pytest.raises(ConfigError, match="held by the samvid backend of another `samvid up`"):
                with Stack(options) as second:
                    second.start()
    finally:
        first_backend.kill()
        first_backend.wait()
    assert (data / "ready.json").read_text() == '{"studio_url": "http://127.0.0.1:8080"}'


@pytest.mark.parametrize("var, value", [("DATABASE_NAME", "/tmp/someone-elses.sqlite3"),
                                        ("DJANGO_DB", "postgresql"),
                                        ("LABEL_STUDIO_DATABASE_NAME", "/tmp/another-label-studio.sqlite3")])
def test_label_studio_of_up_keeps_its_database_in_the_data_dir_whatever_the_shell_sets(
        tmp_path: Path, var: str, value: str) -> None:
    import subprocess
    import sys

    from samvid.launcher import Credentials, Layout, studio_env

    pytest.importorskip("label_studio")
    layout = Layout(tmp_path / "data")
    env = studio_env(layout, Credentials("admin@samvid.local", "pw", "token"), base={**os.environ, var: value})
    # The database Label Studio's own settings pick from that environment.
    settings = subprocess.run([sys.executable, "-c", """
import os, sys, label_studio
sys.path.insert(0, os.path.dirname(label_studio.__file__))
os.environ["DJANGO_SETTINGS_MODULE"] = "core.settings.label_studio"
from django.conf import settings
print(settings.DATABASES["default"]["ENGINE"], settings.DATABASES["default"]["NAME"])
"""], env=env, capture_output=True, text=True, timeout=120)
    assert settings.stdout.split() == ["django.db.backends.sqlite3",
                                       str(layout.studio_data / "label_studio.sqlite3")], settings.stderr[-2000:]


@pytest.mark.parametrize("var, value", [("HOST", "http://devbox:3000/app"),
                                        ("LABEL_STUDIO_HOST", "http://elsewhere:9999"),
                                        ("DEBUG", "*"), ("CI", "woodpecker"),
                                        ("DJANGO_SETTINGS_MODULE", "mysite.settings")])
def test_label_studio_of_up_builds_its_urls_from_the_request_whatever_the_shell_sets(
        tmp_path: Path, var: str, value: str) -> None:
    import subprocess
    import sys

    from samvid.launcher import Credentials, Layout, studio_env

    pytest.importorskip("label_studio")
    env = studio_env(Layout(tmp_path / "data"), Credentials("admin@samvid.local", "pw", "token"),
                     base={**os.environ, var: value})
    # Label Studio's own settings from that environment, loaded as `label-studio start` loads them.
    settings = subprocess.run([sys.executable, "-c", """
import os, sys, label_studio
sys.path.insert(0, os.path.dirname(label_studio.__file__))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "label_studio.core.settings.label_studio")
from django.conf import settings
print(repr(settings.HOSTNAME), repr(getattr(settings, "FORCE_SCRIPT_NAME", None)))
"""], env=env, capture_output=True, text=True, timeout=120)
    assert settings.stdout.split() == ["''", "None"], settings.stderr[-2000:]


@pytest.mark.parametrize("flags", [["--no-studio", "--no-backend", "--label-studio-url", "http://127.0.0.1:9",
                                    "--api-key", "k"], []], ids=["no-backend", "started-backend"])
def test_up_with_a_backend_url_without_http_says_so_before_starting_or_waiting(
        tmp_path: Path, flags: list[str], capsys, no_children) -> None:
    # `backend:9090` was waited on for --timeout (5 minutes), then said not to answer.
    code = main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", "--timeout", "600",
                 "--backend-url", "backend:9090", *flags])
    assert code == 2
    assert "--backend-url 'backend:9090': give the backend's http:// or https:// URL" in capsys.readouterr().err


def test_up_on_a_credentials_file_with_a_token_that_is_no_string_says_to_restore_it(
        tmp_path: Path, capsys, no_children) -> None:
    import json


    data = tmp_path / "data"
    data.mkdir()
    (data / "credentials.json").write_text(json.dumps({"username": "admin@samvid.local", "password": "pw",
                                                       "token": 12345}))  # edited by hand
    ports = []
    for _ in range(2):
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            ports.append(str(free.getsockname()[1]))
    assert main(["up", "--data-dir", str(data), "--model", "classic", "--port", ports[0],
                 "--backend-port", ports[1]]) == 2
    err = capsys.readouterr().err
    assert f"{data / 'credentials.json'} is unreadable" in err
    assert "Traceback" not in err


def test_label_studio_of_up_listens_on_the_asked_port_even_when_another_program_holds_it_on_127_0_0_1(
        tmp_path: Path) -> None:
    import subprocess
    import sys

    from samvid.launcher import Credentials, Layout, label_studio_argv, studio_env

    pytest.importorskip("label_studio")
    env = studio_env(Layout(tmp_path / "data"), Credentials("admin@samvid.local", "pw", "token"))
    with socket.socket() as held:  # another program, on 127.0.0.1 only; up listens on another address
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        argv = label_studio_argv("192.0.2.2", port)
        # The port Label Studio's own start-up code settles on for that command line: it moved to
        # the next port by itself, while samvid up waited on the asked one for --timeout.
        chosen = subprocess.run([sys.executable, "-c", f"""
import os, sys, label_studio
sys.path.insert(0, os.path.dirname(label_studio.__file__))
from label_studio.core.argparser import parse_input_args
from label_studio.server import _get_free_port
args = parse_input_args({argv[1:]!r})
print(_get_free_port(args.port, args.debug))
"""], env=env, capture_output=True, text=True, timeout=120)
    assert chosen.stdout.split()[-1:] == [str(port)], chosen.stderr[-2000:]


@pytest.mark.parametrize("title, said", [("ab", "3-50 characters"), ("x" * 51, "3-50 characters"),
                                         ("  ab  ", "3-50 characters"), ("2024", "digits only")])
def test_up_with_a_project_title_label_studio_refuses_says_so_before_starting_anything(
        tmp_path: Path, title: str, said: str, capsys, no_children) -> None:
    # As `samvid import` checks it: Label Studio's refusal would come after its start and the backend's.
    code = main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", "--project", title])
    assert code == 2
    err = capsys.readouterr().err
    assert "--project" in err and said in err, err
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("model", ["clasic", "sam2.1-hiera-tiny", "sam2-tiny"])
def test_up_with_a_mistyped_model_name_says_so_with_the_known_names_not_that_its_weights_are_missing(
        tmp_path: Path, model: str, capsys, monkeypatch, no_children) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = main(["up", "--data-dir", str(tmp_path / "data"), "--model", model])
    assert code == 2
    err = capsys.readouterr().err
    assert f"--model {model}: unknown model" in err and DEFAULT_MODEL in err and "classic" in err, err
    assert "hf download" not in err


def test_up_with_a_stand_in_radius_that_is_no_number_says_so_before_starting_anything(
        tmp_path: Path, capsys, no_children) -> None:
    code = main(["up", "--data-dir", str(tmp_path / "data"), "--model", "standin:abc"])
    assert code == 2
    assert "standin:abc" in capsys.readouterr().err


def test_up_still_takes_a_hub_id_outside_the_registry_and_falls_back_when_its_weights_are_missing(
        tmp_path: Path, monkeypatch) -> None:
    from huggingface_hub import constants

    from samvid.launcher import pick_model

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    choice = pick_model("someone/sam2-finetune")
    assert choice.model == "classic" and "someone/sam2-finetune" in choice.note


def test_up_opens_frame_0_of_the_imports_summary_without_listing_the_clip_again(
        tmp_path: Path, monkeypatch) -> None:
    """The import's summary names the clip's tasks in frame order (frames an earlier
    `samvid import --start 1` skipped have higher ids); a second listing of a long clip's
    tasks is a filtered read of the whole project."""
    from samvid import launcher
    from samvid.studio import client
    from samvid.studio.importer import ClipSummary, ImportSummary

    in_frame_order = [7, 8, 9, 1, 2, 3]  # frames 0-2 were imported after frames 3-5
    listings: list[str | None] = []

    class Studio:
        def __init__(self, url: str, key: str) -> None:
            pass

        def check(self) -> None:
            pass

        def list_tasks(self, project_id: int, clip: str | None = None) -> list[object]:
            listings.append(clip)
            return []

    class StartsNothing(launcher.Stack):
        def _start_studio(self, creds: object) -> str:
            return "http://127.0.0.1:1"

        def _start_backend(self, *args: object) -> str:
            self._health_url = "http://127.0.0.1:2/health"
            return "http://127.0.0.1:2"

        def _import(self, *args: object) -> ImportSummary:
            return ImportSummary(3, "samvid demo", False, None, None,
                                 [ClipSummary("c", "c.mp4", 6, 6, task_ids=in_frame_order)])

    class Health:
        def json(self) -> dict[str, str]:
            return {"model_version": "classic"}

    monkeypatch.setattr(client, "Studio", Studio)
    monkeypatch.setattr(launcher.requests, "get", lambda *args, **kwargs: Health())
    ready = StartsNothing(launcher.UpOptions(data_dir=tmp_path / "data", model="classic")).start()
    assert ready.task_ids == in_frame_order and ready.open_url.endswith("?task=7")
    assert listings == []


@pytest.mark.parametrize("flags, env, said", [
    (["--device", "cpu"], {"SAMVID_PRECISION": "fp16"}, "fp16 runs on CUDA, not on the CPU"),
    (["--device", "cuda:7"], {}, "--device cuda:7: this machine has"),
    ([], {"SAMVID_DEVICE": "cuda:7 "}, "SAMVID_DEVICE=cuda:7: this machine has"),
    (["--device", "cdua"], {}, "--device 'cdua' is not a device"),
], ids=["fp16-on-cpu", "a-gpu-not-here", "a-gpu-not-here-by-env", "a-typo"])
def test_up_with_a_sam_model_and_a_device_or_precision_the_backend_refuses_says_so_before_starting(
        tmp_path: Path, flags: list[str], env: dict[str, str], said: str, capsys, monkeypatch,
        no_children) -> None:
    import torch

    if "cuda:7" in [*flags, *env.values()] and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    model = tmp_path / "my-sam"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "sam"}')  # weights here: the backend loads SAM
    (model / "model.safetensors").write_bytes(b"")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["up", "--data-dir", str(tmp_path / "data"), "--model", str(model), *flags])
    assert code == 2
    assert said in capsys.readouterr().err


def test_up_with_the_weight_free_model_goes_on_whatever_the_sam_precision(
        tmp_path: Path, monkeypatch, no_children) -> None:
    monkeypatch.setenv("SAMVID_PRECISION", "fp16")  # for SAM on a GPU; classic ignores it
    with pytest.raises(AssertionError, match="a child process was started"):
        main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", "--device", "cpu",
              "--port", str(_free_port()), "--backend-port", str(_free_port())])


def test_two_ups_started_at_once_on_a_fresh_data_dir_agree_on_one_admin(tmp_path: Path) -> None:
    """Neither may read the other's half-written credentials.json as 'unreadable' (and be told
    to delete it with the database), nor make a second admin Label Studio would refuse."""
    for attempt in range(100):  # a race: each attempt is a fresh data dir
        data = tmp_path / f"data{attempt}"
        (first, new_first), (second, new_second) = two_runs_make_credentials(data)
        assert first == second and [new_first, new_second].count(True) == 1
        assert [p.name for p in data.iterdir()] == ["credentials.json"]


def two_runs_make_credentials(data: Path) -> list:
    """What two runs started at once on ``data`` get from ``Credentials.load_or_create``."""
    import threading

    from samvid.launcher import Credentials

    results: list[object] = []
    go = threading.Barrier(2)

    def make() -> None:
        go.wait()
        try:
            results.append(Credentials.load_or_create(data))
        except Exception as exc:  # noqa: BLE001 - what a run would die of
            results.append(exc)

    threads = [threading.Thread(target=make) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not [r for r in results if isinstance(r, Exception)], results
    return results


def test_a_title_of_digits_other_than_ascii_is_a_title_to_up_and_import() -> None:
    """The commands' --project reads only ASCII digits as an id: '١٢٣' is a title there."""
    import argparse

    from samvid.commands import importer, up

    up._check_title("\u0661\u0662\u0663")
    args = argparse.Namespace(project="\u0661\u0662\u0663")
    with pytest.raises(Exception) as raised:
        importer._options(args)
    assert "digits only" not in str(raised.value)


def test_two_ups_on_a_file_system_without_hard_links_agree_on_one_admin(tmp_path: Path, monkeypatch) -> None:
    import os

    def no_links(*args, **kwargs):
        raise PermissionError("no hard links here")

    monkeypatch.setattr(os, "link", no_links)
    for attempt in range(20):
        (first, _), (second, _) = two_runs_make_credentials(tmp_path / f"data{attempt}")
        assert first == second


def test_a_run_killed_while_it_made_the_credentials_leaves_no_copy_of_the_token(tmp_path: Path) -> None:
    import subprocess
    import sys

    from samvid.launcher import Credentials

    data = tmp_path / "data"
    data.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    leftover = data / f".credentials.json.{dead}.0a1b2c3d"
    leftover.write_text('{"username": "admin", "password": "p", "token": "t"}')
    Credentials.load_or_create(data)
    assert [p.name for p in data.iterdir()] == ["credentials.json"]


def test_a_log_truncated_while_its_child_ran_shows_what_the_child_wrote(tmp_path: Path) -> None:
    from samvid.launcher import RUN_MARK, log_tail

    log = tmp_path / "label-studio.log"
    log.write_text(f"{RUN_MARK}label-studio at an earlier time ---\n" + "an earlier run's output\n" * 50
                   + f"{RUN_MARK}label-studio now ---\n")
    # logrotate's copytruncate, then this run's lines, more of them than the log held before
    log.write_text("Error: the database is locked\n" + "".join(f"line {n}\n" for n in range(300)))
    tail = log_tail(log, lines=400)
    assert "Error: the database is locked" in tail and "earlier" not in tail
    log.write_text(f"{RUN_MARK}label-studio before ---\nold error\n{RUN_MARK}label-studio now ---\n")
    assert log_tail(log) == "    (it wrote nothing)"
