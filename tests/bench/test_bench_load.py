"""The load bench (``bench/bench_load.py``): when ``samvid serve`` does not start, the
bench says why, in the server's own words."""

from __future__ import annotations

import sys
from pathlib import Path

import bench_load
import pytest


def test_a_server_that_does_not_start_is_reported_with_its_reason(tmp_path: Path) -> None:
    # Before the fix the server's output went to /dev/null and the bench ended on
    # "RuntimeError: samvid serve exited with code 2 before it was ready", the cause unsaid.
    # A stand-in exits as `samvid serve --model nosuchmodel` does, its reason last.
    said = "samvid serve: error: no weights for 'nosuchmodel' on this machine"
    cmd = [sys.executable, "-c", f"import sys; print('starting'); sys.exit({said!r})"]
    with pytest.raises(SystemExit) as exit_:
        bench_load.start_server(cmd, {}, "http://127.0.0.1:9", tmp_path / "serve.log")
    message = str(exit_.value.code)
    assert "samvid serve exited with code 1 before it was ready" in message
    assert said in message


@pytest.mark.parametrize("option", ["--workers", "--clients", "--requests", "--frames"])
def test_a_count_under_one_is_refused_before_the_server_starts(
    option: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix --requests 0 started the server and ended on the median of no
    # latency (StatisticsError); --frames 0 divided by zero in every request.
    monkeypatch.setattr(bench_load, "start_server", lambda *a, **k: pytest.fail("the server was started"))
    monkeypatch.setattr(sys, "argv", ["bench_load.py", option, "0"])
    with pytest.raises(SystemExit) as exit_:
        bench_load.main()
    assert exit_.value.code == 2
    assert "must be 1 or more" in capsys.readouterr().err
