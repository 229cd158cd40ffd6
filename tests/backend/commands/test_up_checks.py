"""``samvid up`` (the demo command) says what is wrong with its videos before it starts
Label Studio and the backend: a minute of start-up and shutdown must not stand between a
user and "that file is not a video"."""

from __future__ import annotations

import argparse
import logging
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


def test_up_reads_an_empty_samvid_model_as_unset_like_the_backend(tmp_path: Path, monkeypatch) -> None:
    started: list[object] = []

    class Recording(_NoStack):
        def __init__(self, options: object) -> None:
            started.append(options)

    monkeypatch.setenv("SAMVID_MODEL", "")
    monkeypatch.setattr(up, "Stack", Recording)
    with pytest.raises(AssertionError, match="were started"):
        main(["up", "--data-dir", str(tmp_path / "data")])
    assert [o.model for o in started] == [DEFAULT_MODEL]  # type: ignore[attr-defined]


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


@pytest.mark.parametrize("backend", [["--no-backend"], []], ids=["no-backend", "backend"])
def test_up_attached_to_a_label_studio_says_a_port_for_a_label_studio_it_does_not_start_is_ignored(
        backend: list[str], tmp_path: Path, caplog, capsys, no_children) -> None:
    # --port was ignored without a word: the Label Studio attached to has its port in its URL.
    with caplog.at_level(logging.WARNING, logger="samvid.up"):
        main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", "--no-studio", *backend,
              "--label-studio-url", "http://127.0.0.1:9", "--api-key", "k",
              "--backend-url", "http://127.0.0.1:9", "--port", "1234"])
    said = caplog.text
    assert "cannot reach Label Studio at http://127.0.0.1:9" in capsys.readouterr().err  # it went on
    assert "--port 1234 is the port of the Label Studio samvid up starts, and --no-studio starts none: ignored" in said
    assert "--label-studio-url" in said and "--backend-port" in said


def test_up_of_a_video_given_as_a_url_says_to_download_it_before_starting(tmp_path: Path, capsys, no_children) -> None:
    # Read as a path it was "https:/example.com/a.mp4: no such file or folder".
    with pytest.raises(SystemExit) as raised:
        main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", "https://example.com/a.mp4"])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert "https://example.com/a.mp4 is a URL" in err and "download it first" in err


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


def test_a_backend_left_running_by_a_killed_up_is_named_with_its_pid_not_another_port(
        backend_left_by_a_killed_up) -> None:
    from samvid.errors import ConfigError
    from samvid.launcher import ModelChoice, Stack, UpOptions

    left = backend_left_by_a_killed_up(port_named=False)
    stack = Stack(UpOptions(data_dir=left.data_dir, model="classic", backend_port=left.port))
    with pytest.raises(ConfigError) as error:
        stack._start_backend(ModelChoice("classic", "classic"), "http://127.0.0.1:1", "key", None)
    assert f"pid {left.pid}" in str(error.value) and f"kill {left.pid}" in str(error.value)
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


def test_a_second_up_while_the_first_is_up_keeps_the_first_runs_ready_file(backend_left_by_a_killed_up) -> None:
    import http.server
    import json

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

    first = backend_left_by_a_killed_up(port_named=False)  # the first run's backend, up on its port
    data = first.data_dir
    Credentials.load_or_create(data)
    (data / "ready.json").write_text('{"studio_url": "http://127.0.0.1:8080"}')  # a script waits on it
    with http_server(FirstRunsStudio) as studio_url:
        options = UpOptions(data_dir=data, model="classic", port=int(studio_url.rsplit(":", 1)[1]),
                            backend_port=first.port)
        with pytest.raises(ConfigError, match="held by the samvid backend of another `samvid up`"):
            with Stack(options) as second:
                second.start()
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


def stack_starting_nothing(monkeypatch, summary, listings: list | None = None) -> type:
    """A Stack that takes its Label Studio and backend as started (nothing runs), whose import
    answers ``summary``, and whose Label Studio lists no task (``listings``: the clips asked for)."""
    from samvid import launcher
    from samvid.studio import client

    class Studio:
        def __init__(self, url: str, key: str) -> None:
            pass

        def check(self) -> None:
            pass

        def the_project_titled(self, title: str) -> None:  # up checks an existing project before the backend
            return None

        def list_tasks(self, project_id: int, clip: str | None = None) -> list[object]:
            if listings is not None:
                listings.append(clip)
            return []

    class StartsNothing(launcher.Stack):
        def _start_studio(self, creds: object) -> str:
            return "http://127.0.0.1:1"

        def _start_backend(self, *args: object) -> str:
            self._health_url = "http://127.0.0.1:2/health"
            return "http://127.0.0.1:2"

        def _import(self, *args: object):
            return summary

    class Health:
        def json(self) -> dict[str, str]:
            return {"model_version": "classic"}

    monkeypatch.setattr(client, "Studio", Studio)
    monkeypatch.setattr(launcher.requests, "get", lambda *args, **kwargs: Health())
    return StartsNothing


def test_up_opens_frame_0_of_the_imports_summary_without_listing_the_clip_again(
        tmp_path: Path, monkeypatch) -> None:
    """The import's summary names the clip's tasks in frame order (frames an earlier
    `samvid import --start 1` skipped have higher ids); a second listing of a long clip's
    tasks is a filtered read of the whole project."""
    from samvid import launcher
    from samvid.studio.importer import ClipSummary, ImportSummary

    in_frame_order = [7, 8, 9, 1, 2, 3]  # frames 0-2 were imported after frames 3-5
    listings: list[str | None] = []
    summary = ImportSummary(3, "samvid demo", False, None, None,
                            [ClipSummary("c", "c.mp4", 6, 6, task_ids=in_frame_order)])
    stack = stack_starting_nothing(monkeypatch, summary, listings)
    ready = stack(launcher.UpOptions(data_dir=tmp_path / "data", model="classic")).start()
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

    from at_once import at_once, failures

    from samvid.launcher import Credentials

    go = threading.Barrier(2)

    def make() -> object:
        go.wait()
        return Credentials.load_or_create(data)

    results = at_once(make)
    assert not failures(results), results
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


@pytest.mark.parametrize("var, value", [("LABEL_STUDIO_URL", "localhost:8080"), ("REDIS_URL", "localhost:6379"),
                                        ("LABEL_STUDIO_API_KEY", "not a token")])
def test_up_starts_whatever_this_shell_holds_for_the_variables_it_sets_for_the_backend(
        tmp_path: Path, var: str, value: str, monkeypatch) -> None:
    # Kept for other tools (or a docker compose .env): up gives the backend its own Label Studio
    # URL and key and no REDIS_URL, yet it refused to start over them.
    clip = tmp_path / "clip"
    clip.mkdir()
    Image.new("RGB", (16, 16)).save(clip / "00000.jpg")
    monkeypatch.setattr(up, "Stack", _NoStack)
    monkeypatch.setenv(var, value)
    _NoStack.entered = False
    with pytest.raises(AssertionError, match="were started"):  # _NoStack: it went on to start them
        main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", str(clip)])
    assert _NoStack.entered


def test_up_imports_into_its_label_studio_whatever_label_studio_url_this_shell_holds(
        tmp_path: Path, monkeypatch) -> None:
    from samvid.launcher import Stack, UpOptions
    from samvid.studio import importer

    clip = tmp_path / "clip"
    clip.mkdir()
    Image.new("RGB", (16, 16)).save(clip / "00000.jpg")
    monkeypatch.setenv("LABEL_STUDIO_URL", "localhost:8080")
    imported: list[object] = []

    def import_videos(studio: object, videos: list[Path], options: object) -> argparse.Namespace:
        imported.append(videos)
        return argparse.Namespace(project_title="samvid demo", project_id=1, tasks_created=1, tasks_existing=0)

    monkeypatch.setattr(importer, "import_videos", import_videos)
    stack = Stack(UpOptions(data_dir=tmp_path / "data", model="classic", videos=[clip]))
    stack._import(object(), tmp_path / "data" / "files", "http://127.0.0.1:9090")
    assert imported == [[clip]]


def test_up_on_a_read_only_data_dir_says_so_without_a_traceback(tmp_path: Path, monkeypatch, capsys,
                                                                no_children) -> None:
    import errno

    data = tmp_path / "data"
    data.mkdir()
    real_unlink, real_open = os.unlink, os.open

    def read_only(call):  # what a read-only mount answers for every write under it
        def refused(path, *args, **kwargs):
            if str(path).startswith(str(data)):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return call(path, *args, **kwargs)
        return refused

    monkeypatch.setattr(os, "unlink", read_only(real_unlink))
    monkeypatch.setattr(os, "open", read_only(real_open))
    assert main(["up", "--data-dir", str(data), "--model", "classic",
                 "--port", str(_free_port()), "--backend-port", str(_free_port())]) == 2
    err = capsys.readouterr().err
    assert "Read-only file system" in err and "--data-dir" in err, err


def test_up_on_a_full_disk_says_so_without_a_traceback(tmp_path: Path, monkeypatch, no_children) -> None:
    import errno
    import json

    from samvid.errors import ConfigError
    from samvid.launcher import Stack, UpOptions

    def disk_full(*args: object, **kwargs: object) -> None:  # as a write to a full disk fails: no file name
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(json, "dump", disk_full)
    data = tmp_path / "data"
    with pytest.raises(ConfigError, match="No space left on device.*--data-dir"):
        Stack(UpOptions(data_dir=data, model="classic", port=_free_port(), backend_port=_free_port())).start()
    assert not list(data.glob(".credentials.json.*"))  # no copy of the token left behind


def test_up_attached_to_a_label_studio_url_without_http_names_the_flag_up_has(
        tmp_path: Path, capsys, no_children) -> None:
    assert main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", "--no-studio",
                 "--label-studio-url", "localhost:8080", "--api-key", "abc"]) == 2
    err = capsys.readouterr().err
    assert "--label-studio-url" in err and "--url " not in err, err


def test_a_child_whose_pid_file_cannot_be_written_is_not_left_running(tmp_path: Path, monkeypatch) -> None:
    import subprocess
    import sys

    from samvid.launcher import Child

    started: list[subprocess.Popen] = []
    popen = subprocess.Popen

    def recorded(*args: object, **kwargs: object) -> subprocess.Popen:
        started.append(popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", recorded)
    (tmp_path / "logs" / "label-studio.pid").mkdir(parents=True)  # as a disk that just filled up fails it
    with pytest.raises(OSError):
        Child.start("Label Studio", [sys.executable, "-c", "import time; time.sleep(30)"], dict(os.environ),
                    tmp_path / "logs" / "label-studio.log")
    try:  # in a session of its own, and in no Stack's children: nothing would ever stop it
        assert started[0].poll() is not None, "the child runs on"
    finally:
        started[0].kill()
        started[0].wait()


class _InterruptedStack:
    """A launcher interrupted (Ctrl-C) while it imports, with ``started`` children of its own."""

    started: list[str] = []

    def __init__(self, options: object) -> None:
        self.children = [argparse.Namespace(name=name) for name in self.started]

    def __enter__(self) -> _InterruptedStack:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def start(self) -> object:
        raise KeyboardInterrupt


def _attach_argv(tmp_path: Path, *extra: str) -> list[str]:
    clip = tmp_path / "clip"
    clip.mkdir(exist_ok=True)
    Image.new("RGB", (16, 16)).save(clip / "00000.jpg")
    return ["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", "--no-studio",
            "--label-studio-url", "http://127.0.0.1:8080", "--api-key", "abc", *extra, str(clip)]


def test_a_register_only_up_interrupted_during_its_import_does_not_exit_as_done(
        tmp_path: Path, monkeypatch, capsys) -> None:
    # The compose one-shot (--no-studio --no-backend): exit 0 told what ran it the project was ready.
    monkeypatch.setattr(up, "Stack", _InterruptedStack)
    monkeypatch.setattr(_InterruptedStack, "started", [])
    assert main(_attach_argv(tmp_path, "--no-backend", "--backend-url", "http://127.0.0.1:9090")) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "stopping Label Studio" not in err, err


def test_an_attached_up_interrupted_says_it_stops_the_backend_only(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(up, "Stack", _InterruptedStack)
    monkeypatch.setattr(_InterruptedStack, "started", ["samvid serve"])
    assert main(_attach_argv(tmp_path)) == 0
    err = capsys.readouterr().err
    assert "stopping the samvid backend" in err and "Label Studio" not in err, err


def test_a_credentials_file_restored_readable_by_others_is_made_private_again(tmp_path: Path) -> None:
    import stat

    from samvid.launcher import Credentials

    made, _ = Credentials.load_or_create(tmp_path)
    (tmp_path / "credentials.json").chmod(0o644)  # copied back from a backup, or by an editor
    again, new = Credentials.load_or_create(tmp_path)
    assert (again, new) == (made, False)
    assert stat.S_IMODE((tmp_path / "credentials.json").stat().st_mode) == 0o600  # the admin's token


def test_a_second_up_on_a_data_dir_whose_label_studio_is_still_starting_starts_no_other(
        tmp_path: Path, capsys, no_children) -> None:
    import signal
    import subprocess
    import sys
    import time

    # The first run's Label Studio migrates its database (minutes on a first start) and is not on
    # its port yet: the second run, seeing the port free, started another on the same database.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "label-studio").write_text("#!/bin/sh\nexec sleep 60\n")
    (bin_dir / "label-studio").chmod(0o755)
    data = tmp_path / "data"
    first = subprocess.Popen([sys.executable, "-m", "samvid.cli", "up", "--data-dir", str(data), "--model",
                              "standin", "--port", str(_free_port()), "--backend-port", str(_free_port())],
                             env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (data / "logs" / "label-studio.pid").is_file() and time.monotonic() < deadline:
            assert first.poll() is None, "the first run ended"
            time.sleep(0.1)
        code = main(["up", "--data-dir", str(data), "--model", "standin",
                     "--port", str(_free_port()), "--backend-port", str(_free_port())])
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(30)
    assert code == 2
    err = capsys.readouterr().err
    assert f"another `samvid up` (pid {first.pid}) runs on {data.resolve()}" in err, err


@pytest.mark.parametrize("program", ["/venv/bin/label-studio", "/nix/store/x/bin/.label-studio-wrapped"],
                         ids=["label-studio", "a-wrapper"])
@pytest.mark.parametrize("same_port", [True, False], ids=["its-port", "another-port"])
def test_a_label_studio_left_by_a_killed_up_is_named_and_no_second_one_started_on_its_database(
        tmp_path: Path, same_port: bool, program: str, no_children) -> None:
    import subprocess
    import sys

    from samvid.errors import ConfigError
    from samvid.launcher import Credentials, Layout, Stack, UpOptions, studio_env

    # What kill -9 on `samvid up` leaves while its Label Studio migrates its database: that Label
    # Studio (own session, not on its port yet) and its pid file. The port message said "pass --port
    # <another port>", and that run started a second Label Studio on the same database.
    data = tmp_path / "data"
    creds, _ = Credentials.load_or_create(data)
    its_port = _free_port()
    leftover = subprocess.Popen([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)",
                                 program, "start", "--no-browser", "-p", str(its_port), "--debug"],
                                env=studio_env(Layout(data.resolve()), creds), stdout=subprocess.PIPE, text=True)
    assert leftover.stdout is not None and leftover.stdout.readline() == "up\n"
    (data / "logs").mkdir()
    (data / "logs" / "label-studio.pid").write_text(str(leftover.pid))
    port = its_port if same_port else _free_port()
    try:
        with pytest.raises(ConfigError) as error:
            Stack(UpOptions(data_dir=data, model="standin", port=port))._start_studio(creds)
    finally:
        leftover.kill()
        leftover.wait()
    assert f"still runs (pid {leftover.pid}" in str(error.value)
    assert "another port" not in str(error.value)
    if not same_port:
        assert f"--port {its_port}" in str(error.value)
    # Once it is gone (or the pid is another program's), a start goes on.
    with pytest.raises(AssertionError, match="a child process was started"):
        Stack(UpOptions(data_dir=data, model="standin", port=port))._start_studio(creds)


def test_up_with_several_videos_counts_every_videos_frames_not_the_firsts_as_the_projects(
        tmp_path: Path, monkeypatch, capsys) -> None:
    from samvid import launcher
    from samvid.studio.importer import ClipSummary, ImportSummary

    summary = ImportSummary(3, "samvid demo", True, None, None,
                            [ClipSummary("a", "a.mp4", 4, 4, task_ids=[1, 2, 3, 4]),
                             ClipSummary("b", "b.mp4", 3, 3, task_ids=[5, 6, 7])])
    stack = stack_starting_nothing(monkeypatch, summary)
    with stack(launcher.UpOptions(data_dir=tmp_path / "data", model="classic")) as started:
        up._banner(started.start(), owns_processes=True)
    assert "(project 3, 2 videos, 7 frames)" in capsys.readouterr().out  # said "4 frames": the first's


def test_a_register_only_run_beside_a_running_up_keeps_its_ready_file(tmp_path: Path, monkeypatch) -> None:
    import fcntl

    from samvid.errors import SamvidError
    from samvid.launcher import Layout, Stack, UpOptions

    # The running one's lock and ready.json; the one-shot register run fails to reach Label
    # Studio (127.0.0.1:9) after its checks: it removed the running one's ready.json first.
    data = tmp_path / "data"
    data.mkdir()
    layout = Layout(data)
    layout.ready_file.write_text('{"studio_url": "http://127.0.0.1:8080"}')
    running = os.open(layout.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(running, fcntl.LOCK_EX)
    try:
        options = UpOptions(data_dir=data, model="standin", no_studio=True, no_backend=True,
                            studio_url="http://127.0.0.1:9", api_key="k", backend_url="http://127.0.0.1:9")
        with pytest.raises(SamvidError), Stack(options) as stack:
            stack.start()
    finally:
        os.close(running)
    assert layout.ready_file.read_text() == '{"studio_url": "http://127.0.0.1:8080"}'


def test_a_data_dir_error_naming_a_file_in_it_is_said_whatever_its_errno(tmp_path: Path) -> None:
    import errno

    from samvid.errors import ConfigError
    from samvid.launcher import Stack, UpOptions

    stack = Stack(UpOptions(data_dir=tmp_path / "data", model="standin"))
    for code in (errno.ELOOP, errno.EIO, errno.ENAMETOOLONG):  # a link loop in logs/, a failing disk
        with pytest.raises(ConfigError, match="--data-dir must be a folder you can read and write"):
            with stack._data_dir_writes():
                raise OSError(code, os.strerror(code), str(tmp_path / "data" / "logs" / "label-studio.log"))
    with pytest.raises(BlockingIOError):  # naming no file, and no folder's error: not blamed on it
        with stack._data_dir_writes():
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
    with pytest.raises(OSError, match="Exec format error"):  # a program in it that cannot run
        with stack._data_dir_writes():
            raise OSError(errno.ENOEXEC, "Exec format error", str(tmp_path / "data" / ".venv" / "bin" / "label-studio"))


def test_a_register_only_runs_look_at_the_lock_is_not_taken_for_a_running_up(tmp_path: Path,
                                                                             monkeypatch) -> None:
    import fcntl

    from samvid import launcher
    from samvid.launcher import Layout, Stack, UpOptions

    data = tmp_path / "data"
    data.mkdir()
    looking = [os.open(Layout(data).lock_file, os.O_RDWR | os.O_CREAT, 0o644)]
    fcntl.flock(looking[0], fcntl.LOCK_SH)  # what `_data_dir_in_use` holds for an instant

    def look_ends(seconds: float) -> None:  # while this run waits a moment
        if looking:
            os.close(looking.pop())

    monkeypatch.setattr(launcher.time, "sleep", look_ends)
    stack = Stack(UpOptions(data_dir=data, model="standin"))
    try:
        stack._lock_data_dir()  # refused as "another samvid up runs" before
    finally:
        stack.stop()
