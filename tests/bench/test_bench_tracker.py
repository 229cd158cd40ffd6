"""The tracker bench (``bench/bench_tracker.py``) on a tiny real-layout root: the tables it
prints, and the command-line values it refuses with argparse's one-line error (exit 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import bench_tracker
import pytest
import tiny_roots
from synthetic import main as synthetic_main
from tiny_roots import tiny_davis


def run_main(monkeypatch: pytest.MonkeyPatch, *argv: str) -> None:
    assert tiny_roots.run_main(monkeypatch, bench_tracker.main, "bench_tracker.py", *argv) == 0


def test_the_real_video_table_has_a_row_per_sequence_and_the_mean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_main(monkeypatch, "--davis", str(tiny_davis(tmp_path)), "--engines", "copy", "flow-preview",
             "--no-synthetic", "--no-speed")
    out = capsys.readouterr().out
    assert f"Real video: {tmp_path.name}, 1 sequences, frame 0 given" in out
    assert "| sequence | copy J / F / J&F | flow-preview J / F / J&F |" in out
    assert "| tiny | " in out and "| **mean** | " in out
    assert "| sequences above copy | 0 of 1 |" in out


def test_the_variants_table_has_a_row_per_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_main(monkeypatch, "--davis", str(tiny_davis(tmp_path)), "--engines", "copy", "--variants")
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[0][2:] for r in rows[1:]] == list(bench_tracker.SEQUENCE_VARIANTS)
    assert all("(tiny " in r for r in rows[1:])


@pytest.mark.parametrize(("argv", "error"), [
    (["--size", "480"], "'480' is not a size HxW, such as 480x854"),
    (["--engines"], "--engines: expected at least one argument"),
    (["--davis", "/nonexistent/davis16"], "no real sequences at /nonexistent/davis16"),
])
def test_a_bad_value_is_refused_before_anything_runs(
    argv: list[str], error: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix --size 480 crashed in the renderer after the real table, --engines
    # alone printed tables with no column, and a --davis that does not exist was skipped
    # with a printed line and exit 0.
    def run(*_: object) -> None:
        raise AssertionError("measured for nothing")

    for name in ("real", "real_variants", "quality", "speed"):
        monkeypatch.setattr(bench_tracker, name, run)
    monkeypatch.setattr(sys, "argv", ["bench_tracker.py", "--no-speed", *argv])
    with pytest.raises(SystemExit) as exit_:
        bench_tracker.main()
    assert exit_.value.code == 2
    assert error in capsys.readouterr().err


def test_the_generator_takes_its_sequences_before_the_output_folder(tmp_path: Path) -> None:
    # Before the fix --seq took every word after it: the folder became an unknown sequence.
    assert synthetic_main(["--seq", "fast", "--seq", "twins", str(tmp_path), "--size", "48x86"]) == 0
    assert sorted(p.name for p in (tmp_path / "JPEGImages").iterdir()) == ["fast", "twins"]
