"""How ``samvid`` ends when stopped from outside: a pipe whose reader has gone
(``samvid models list | head -1``), a Ctrl-C."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("args", [["models", "list"], ["models", "list", "--json"]])
def test_a_reader_that_went_away_stops_the_command_quietly_as_a_closed_pipe_would(args, tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    try:
        out = subprocess.run([sys.executable, "-m", "samvid.cli", *args], stdout=write, stderr=subprocess.PIPE,
                             text=True, timeout=60, check=False,
                             env={**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"})
    finally:
        os.close(write)
    assert out.returncode == 141  # 128 + SIGPIPE, as the shell reports a tool the pipe stopped
    assert "Traceback" not in out.stderr and "Exception ignored" not in out.stderr, out.stderr


def test_a_ctrl_c_while_the_command_loads_says_interrupted_not_a_traceback(monkeypatch, capsys) -> None:
    import importlib

    from samvid import cli

    def loading(name: str):  # `samvid prelabel` takes seconds to import: Ctrl-C lands there
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib, "import_module", loading)
    try:
        code = cli.main(["prelabel", "--project", "7"])
    except KeyboardInterrupt:  # caught here: let through, it would stop the whole test run
        pytest.fail("the Ctrl-C came out of samvid as a traceback")
    assert code == 130
    assert capsys.readouterr().err == "samvid prelabel: interrupted\n"


def test_a_command_started_with_stdout_closed_still_succeeds(tmp_path: Path) -> None:
    # `samvid models list >&-`, a daemon that closed fd 1: Python's sys.stdout is then None.
    out = subprocess.run([sys.executable, "-m", "samvid.cli", "models", "list"], stderr=subprocess.PIPE,
                         text=True, timeout=60, check=False, preexec_fn=lambda: os.close(1),  # noqa: PLW1509
                         env={**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
