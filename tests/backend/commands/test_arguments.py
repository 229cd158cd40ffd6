"""Command-line values no command can use: argparse's one-line error and exit 2, or the
command's own clear error, before anything starts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from samvid.cli import main
from samvid.errors import BadRequest
from samvid.prelabel import PrelabelRequest


@pytest.mark.parametrize("args", [
    ["serve", "--port", "99999"], ["serve", "--port", "0"], ["serve", "--workers", "0"],
    ["serve", "--threads", "0"], ["up", "--port", "70000"], ["up", "--backend-port", "-1"],
])
def test_a_port_or_count_out_of_range_is_refused_naming_the_flag(args, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert args[1] in err and "Traceback" not in err


@pytest.mark.parametrize("seconds", ["0", "-5", "nan", "inf"])
def test_up_refuses_a_timeout_that_would_give_up_before_anything_starts(seconds, tmp_path: Path, capsys) -> None:
    with socket.socket() as held, pytest.raises(SystemExit) as exit_:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = str(held.getsockname()[1])  # should the value pass, the port in use stops the start
        main(["up", "--data-dir", str(tmp_path / "data"), "--model", "standin", "--timeout", seconds,
              "--port", port, "--backend-port", port])
    assert exit_.value.code == 2
    assert "--timeout" in capsys.readouterr().err


def test_up_on_a_data_dir_that_is_a_file_says_so(tmp_path: Path, capsys) -> None:
    data = tmp_path / "notes.txt"
    data.write_text("not a folder")
    assert main(["up", "--data-dir", str(data), "--model", "classic"]) == 2
    assert "is a file: give a folder" in capsys.readouterr().err


def test_up_with_unreadable_credentials_says_what_to_do(tmp_path: Path, capsys) -> None:
    (tmp_path / "credentials.json").write_text("{bad")
    assert main(["up", "--data-dir", str(tmp_path), "--model", "classic"]) == 2
    assert "credentials.json is unreadable" in capsys.readouterr().err


def test_up_on_a_host_it_cannot_listen_on_does_not_blame_the_port(tmp_path: Path, capsys) -> None:
    with socket.socket() as probe:  # an address of no interface here (TEST-NET-1)
        try:
            probe.bind(("192.0.2.1", 0))
            pytest.skip("this machine has 192.0.2.1")
        except OSError:
            pass
    assert main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", "--host", "192.0.2.1"]) == 2
    err = capsys.readouterr().err
    assert "cannot listen on 192.0.2.1" in err and "already in use" not in err


def test_export_into_a_file_says_so(tmp_path: Path, capsys) -> None:
    out = tmp_path / "annotations.json"
    out.write_text("{}")
    assert main(["export", str(out), "--project", "1", "--format", "coco", "--url", "http://127.0.0.1:9",
                 "--api-key", "k"]) == 2
    assert "is a file: give a folder" in capsys.readouterr().err


@pytest.mark.parametrize("workers", ["0", "-3"])
def test_export_refuses_a_number_of_workers_that_would_run_no_request(workers, tmp_path: Path, capsys) -> None:
    # It was taken as 1 without a word.
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(tmp_path / "out"), "--project", "1", "--format", "coco", "--workers", workers,
              "--url", "http://127.0.0.1:9", "--api-key", "k"])
    assert exit_.value.code == 2
    assert "--workers" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_prelabel_grid_of_zero_is_refused() -> None:
    with pytest.raises(BadRequest, match="grid must be 1-64"):
        PrelabelRequest.from_payload({"project": 1, "grid": 0})


@pytest.mark.parametrize("grid", ["0", "65"])
def test_a_bad_prelabel_grid_is_said_before_label_studio_is_asked(grid, capsys) -> None:
    # Nothing listens on port 9: asking Label Studio first would say it cannot be reached.
    assert main(["prelabel", "--project", "Street", "--grid", grid, "--url", "http://127.0.0.1:9",
                 "--api-key", "k"]) == 2
    err = capsys.readouterr().err
    assert f"grid must be 1-64 clicks per side, not {grid}" in err and "cannot reach" not in err


@pytest.mark.parametrize(("change", "message"), [
    ({"project": True}, "project must be a project id"),  # was project 1
    ({"project": 1.9}, "project must be a project id"),  # was project 1
    ({"first": float("inf")}, "first must be a frame index"),  # was an OverflowError
    ({"engine": "sam3"}, "engine 'sam3' is unknown"),  # was accepted, to fail in the job
])
def test_a_prelabel_request_refuses_what_would_read_as_another_project_or_no_engine(change, message) -> None:
    with pytest.raises(BadRequest, match=message):
        PrelabelRequest.from_payload({"project": 1, **change})


def test_up_with_a_video_that_is_not_there_says_so_before_starting_anything(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    assert main(["up", str(tmp_path / "missing.mp4"), "--data-dir", str(data), "--model", "classic"]) == 2
    assert "missing.mp4: no such file or folder" in capsys.readouterr().err
    assert not (data / "credentials.json").exists()  # nothing was started


@pytest.mark.parametrize("model", ["/models/no-such-sam", "./no-such-sam", "~/no-such-sam",
                                   "~no-such-user-here/sam"])  # no such home: a RuntimeError
def test_up_with_a_model_folder_that_does_not_exist_is_a_clear_error_not_a_traceback(
        model: str, tmp_path: Path, capsys) -> None:
    # Not a hub id, so no fallback to classic either: that would hide the typo.
    data = tmp_path / "data"
    assert main(["up", "--data-dir", str(data), "--model", model]) == 2
    err = capsys.readouterr().err
    assert f"--model {model}: no such folder" in err and "Traceback" not in err
    assert not data.exists()  # said before anything starts


def test_up_with_a_checkpoint_file_as_its_model_says_it_is_a_file(tmp_path: Path, capsys) -> None:
    # "no such folder" was said of SAM 2's .pt checkpoint, which is right there.
    checkpoint = tmp_path / "sam2.1_hiera_tiny.pt"
    checkpoint.write_bytes(b"\0" * 16)
    assert main(["up", "--data-dir", str(tmp_path / "data"), "--model", str(checkpoint)]) == 2
    assert f"--model {checkpoint} is a file, not a model folder: samvid loads a model in the Hugging Face format" in capsys.readouterr().err


def test_an_uncreatable_data_dir_is_a_config_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "afile").write_text("a file, not a folder")
    data = tmp_path / "afile" / "sub"
    assert main(["up", "--data-dir", str(data), "--model", "standin"]) == 2
    err = capsys.readouterr().err
    assert f"cannot create --data-dir {data}" in err and "Traceback" not in err


@pytest.mark.parametrize("command", [["serve", "--model", "standin"], ["worker"],
                                     ["worker", "--redis-url", "localhost:6379"]])
def test_a_redis_url_without_a_scheme_is_a_config_error_for_serve_and_worker(
        command: list[str], monkeypatch, capsys) -> None:
    monkeypatch.setenv("REDIS_URL", "localhost:6379")
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "'localhost:6379'" in err and "must start with redis://, rediss:// or unix://" in err


def test_worker_with_a_name_already_registered_is_a_clear_error(redis_server, capsys) -> None:
    from redis import Redis
    from rq import Queue, SimpleWorker

    # What a worker killed by the OOM killer leaves: its registration, until its TTL ends.
    connection = Redis.from_url(redis_server.url)
    SimpleWorker([Queue("other", connection=connection)], connection=connection, name="gpu0").register_birth()
    try:
        assert main(["worker", "--redis-url", redis_server.url, "--name", "gpu0", "--burst"]) == 2
    finally:
        connection.delete("rq:worker:gpu0")
    err = capsys.readouterr().err
    assert "a worker named 'gpu0' is registered in Redis" in err and "pick another --name or wait" in err


@pytest.mark.parametrize(("flags", "message"), [
    (["--start", "nan"], "--start nan: must be a number of seconds, 0 or more"),
    (["--start", "inf"], "--start inf: must be a number of seconds, 0 or more"),
    (["--end", "nan"], "--end nan: must be a number of seconds, more than 0"),
    (["--start", "1", "--end", "nan"], "--end nan: must be a number of seconds, more than 0"),
    (["--end", "0"], "--end 0.0: must be a number of seconds, more than 0"),
])
def test_an_import_window_that_is_no_time_is_refused_before_any_video_is_opened(
        flags: list[str], message: str, tmp_path: Path, capsys) -> None:
    # nan passed every check, to be said later as "no frame between --start nan and --end None".
    assert main(["import", str(tmp_path / "missing.mp4"), "--project", "window", "--no-backend",
                 "--url", "http://127.0.0.1:9", "--api-key", "k", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "None" not in err and "missing.mp4" not in err


@pytest.mark.parametrize("flag", [True, False])
def test_serve_with_a_misspelt_model_names_the_setting_that_gave_it(flag, monkeypatch, capsys) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("SAMVID_FALLBACK", raising=False)
    if flag:
        monkeypatch.delenv("SAMVID_MODEL", raising=False)
        args = ["serve", "--port", str(port), "--model", "clasic"]
    else:
        monkeypatch.setenv("SAMVID_MODEL", "clasic")
        args = ["serve", "--port", str(port)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "'clasic'" in err and ("--model" if flag else "SAMVID_MODEL") in err.split("'clasic'")[0]


@pytest.mark.parametrize("command", [["export", "out", "--format", "coco"], ["propagate"]])
@pytest.mark.parametrize("project", ["", "  "])
def test_an_empty_project_is_refused_by_every_command_that_reads_one(command, project, capsys) -> None:
    # `--project "$PROJECT"` with PROJECT unset matched a project with no title.
    with pytest.raises(SystemExit) as exited:
        main([*command, "--project", project, "--url", "http://127.0.0.1:9", "--api-key", "k"])
    assert exited.value.code == 2
    assert "empty project: give the project's id or exact title" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["export", "", "--overwrite", "--project", "1", "--format", "coco"],
                                  ["track", " ", "out"], ["import", ""], ["up", "--data-dir", ""],
                                  ["import", "clip.mp4", "--frames-root", ""], ["models", "pull", "x", "--dir", ""],
                                  ["eval", "pred", ""]])
def test_an_empty_path_argument_is_refused_not_read_as_the_current_folder(
        argv: list[str], tmp_path: Path, monkeypatch, capsys) -> None:
    # "$OUT" with OUT unset is Path(""), the current folder: export --overwrite replaced all in it.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "precious.txt").write_text("keep")
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "empty path: give a file or folder" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["precious.txt"]


@pytest.mark.parametrize("argv", [["models", "list", "--dir", "~no-such-user-here/d"],
                                  ["up", "--data-dir", "~no-such-user-here/data"],
                                  ["export", "~no-such-user-here/out", "--project", "1", "--format", "coco"]])
def test_a_path_under_a_home_that_does_not_exist_is_refused_not_a_traceback(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "~no-such-user-here/" in (err := capsys.readouterr().err) and "no such user's home folder" in err


@pytest.mark.parametrize("model", ["", "  "])
def test_up_with_an_empty_model_is_refused_not_read_as_the_current_folder(model: str, tmp_path: Path,
                                                                           capsys) -> None:
    # `--model "$M"` with M unset started classic, the current folder holding no model.
    with pytest.raises(SystemExit) as exited:
        main(["up", "--data-dir", str(tmp_path / "data"), "--model", model])
    assert exited.value.code == 2
    assert "empty model: give a model name or folder" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def _parsed(command: str, argv: list[str]):
    import argparse
    import importlib

    parser = argparse.ArgumentParser()
    importlib.import_module(f"samvid.commands.{command}").add_arguments(parser)
    return parser.parse_args(argv)


def test_a_tilde_that_reaches_samvid_unexpanded_is_the_home_folder(tmp_path: Path, monkeypatch) -> None:
    # `--frames-root=~/ls` (no shell expansion after `=`) wrote frames to ./~/ls, where the
    # backend, which expands the same variable, never looked.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", "~/ls")
    args = _parsed("importer", ["~/clip.mp4", "--frames-root=~/ls/samvid", "--project", "1"])
    assert args.videos == [tmp_path / "clip.mp4"]
    assert args.frames_root == tmp_path / "ls" / "samvid"
    from samvid.settings import env_path

    assert env_path("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT") == tmp_path / "ls"
    assert _parsed("export", ["~/out", "--project", "1", "--format", "coco"]).out == tmp_path / "out"


def test_a_folder_named_with_a_tilde_under_the_current_one_is_not_read_as_a_home(tmp_path: Path,
                                                                                  monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert _parsed("export", ["./~root/out", "--project", "1", "--format", "coco"]).out == tmp_path / "~root/out"
    assert _parsed("export", ["out/~x", "--project", "1", "--format", "coco"]).out == Path("out/~x")


def test_a_document_root_variable_under_no_users_home_is_a_clear_error(monkeypatch, capsys) -> None:
    monkeypatch.setenv("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", "~no-such-user-here/ls")
    assert main(["import", "clip.mp4", "--project", "Clips", "--url", "http://127.0.0.1:9", "--api-key", "k"]) == 2
    err = capsys.readouterr().err
    assert "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT: ~no-such-user-here/ls is under no user's home" in err


def test_up_with_xdg_data_home_under_no_users_home_is_a_clear_error(tmp_path: Path, monkeypatch,
                                                                     capsys) -> None:
    # XDG_DATA_HOME=~nosuchuser/share: every `samvid up` was a traceback.
    monkeypatch.setenv("XDG_DATA_HOME", "~no-such-user-here/share")
    assert main(["up", "--no-studio"]) == 2
    err = capsys.readouterr().err
    assert "~no-such-user-here/share/samvid is under no user's home folder: fix XDG_DATA_HOME" in err


@pytest.mark.parametrize("command", ["up", "import"])
def test_a_bad_document_root_variable_does_not_stop_help(command: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", "~no-such-user-here/ls")
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0


def test_a_folder_named_like_a_home_under_the_current_one_is_never_read_as_that_home(
        tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = _parsed("models", ["list", "--dir", "./~root", "--dir", "./~no-such-user-here"])
    assert args.dir == [tmp_path / "~root", tmp_path / "~no-such-user-here"]
