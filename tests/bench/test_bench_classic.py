"""The classic segmenter's bench (``bench/bench_classic.py``) on a tiny real-layout root:
the tables it prints, and the values it refuses with argparse's one-line error (exit 2)."""

from __future__ import annotations

from pathlib import Path

import bench_classic
import pytest
import tiny_roots


@pytest.fixture
def tiny_davis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bench's real frames: one 4-frame sequence, ``tiny``, at 96x170; its stills at 96x128."""
    tiny_roots.tiny_davis(tmp_path, "basic", 4, (96, 170))
    monkeypatch.setattr(bench_classic, "DAVIS", tmp_path)
    monkeypatch.setattr(bench_classic, "SIZES", {"96x128": (96, 128)})
    return tmp_path


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    """The table rows the bench prints."""
    tiny_roots.run_main(monkeypatch, bench_classic.main, "bench_classic.py", *argv)
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]


def cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip("|").split("|")]


def test_the_tables_have_a_row_per_set_of_frames(
    tiny_davis: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = run_main(monkeypatch, capsys, "--stride", "2", "--stride-720p", "4", "--seeds", "1")
    names = [cells(r)[0] for r in rows]
    assert names[:4] == ["real frames", "**davis16, every 2th frame**",
                         "davis16 resized to 1280x720, every 4th frame (first 5 clicks)", "tiny"]
    assert "render_still seeds 0-0, 96x128" in names
    real = cells(rows[1])
    assert real[1] == "2" and all(0 <= float(v) <= 1 for v in real[2:5])
    assert 1 <= float(real[6]) <= bench_classic.MAX_CLICKS


def test_the_720p_timing_shows_no_clicks_to_figure(
    tiny_davis: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix it showed the count capped at its 5 clicks as the clicks to 0.85 and
    # 0.90, where the full count is capped at 20 (docs/classic.md shows "–" there).
    rows = run_main(monkeypatch, capsys, "--stride", "2", "--stride-720p", "4", "--seeds", "1")
    at_720p = cells(next(r for r in rows if "1280x720" in r))
    assert at_720p[6:8] == ["–", "–"]


def test_the_variants_table_has_a_row_per_change(
    tiny_davis: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = run_main(monkeypatch, capsys, "--variants", "--stride", "3")
    assert [cells(r)[0] for r in rows[1:]] == list(bench_classic.VARIANTS)


@pytest.mark.parametrize("argv", [["--stride", "0"], ["--stride-720p", "-1"], ["--seeds", "0"]])
def test_a_stride_or_count_under_one_is_refused(
    argv: list[str], tiny_davis: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix --stride 0 crashed on a slice (ValueError), --stride-720p -1 read the
    # frames backwards and --seeds 0 crashed on an empty timing list (IndexError).
    with pytest.raises(SystemExit) as exit_:
        run_main(monkeypatch, capsys, *argv)
    assert exit_.value.code == 2
    assert "must be 1 or more" in capsys.readouterr().err
