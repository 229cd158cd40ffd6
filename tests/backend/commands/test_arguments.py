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


def test_a_prelabel_grid_of_zero_is_refused() -> None:
    with pytest.raises(BadRequest, match="grid must be 1-64"):
        PrelabelRequest.from_payload({"project": 1, "grid": 0})


def test_up_with_a_video_that_is_not_there_says_so_before_starting_anything(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    assert main(["up", str(tmp_path / "missing.mp4"), "--data-dir", str(data), "--model", "classic"]) == 2
    assert "missing.mp4: no such file or folder" in capsys.readouterr().err
    assert not (data / "credentials.json").exists()  # nothing was started
