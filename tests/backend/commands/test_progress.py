"""The progress line every long-running command shares."""

from __future__ import annotations

import io

from samvid.commands.progress import ProgressLine, TerminalJob


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_shows_count_bar_and_rate_on_a_terminal():
    out = _Terminal()
    line = ProgressLine(out, width=10)
    line("clip-1", 5, 10)
    line("clip-1", 10, 10)
    line.close()
    text = out.getvalue()
    assert "10/10" in text and "frames/s" in text and "[##########]" in text and text.endswith("\n")


def test_progress_line_is_silent_when_not_a_terminal():
    out = io.StringIO()
    line = ProgressLine(out)
    line.update("clip", 1, 2)
    line.close()
    assert out.getvalue() == ""


def test_a_foreground_job_reports_to_the_line_and_is_never_cancelled():
    out = _Terminal()
    job = TerminalJob(ProgressLine(out), "propagate c")
    job.progress(3, 3, 12.5)
    assert "propagate c" in out.getvalue() and "12.5 frames/s" in out.getvalue()
    assert job.cancelled() is False


def test_progress_rate_counts_only_this_labels_frames(monkeypatch):
    import samvid.commands.progress as progress

    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    out = _Terminal()
    line = ProgressLine(out, width=10)
    line("export a", 1, 200)  # the first draw: no time has passed, so no rate yet
    assert "-- frames/s" in out.getvalue()
    clock[0] = 110.0
    line("export b", 101, 200)  # ``done`` counts on across clips, as ``samvid export`` calls it
    clock[0] = 119.9
    line("export b", 200, 200)  # 99 frames of this label in 9.9 s
    assert out.getvalue().rstrip("\n").split("\r")[-1].split()[-2] == "10.0"


def test_an_export_that_fails_mid_run_says_so_on_its_own_line_after_the_progress_bar(
        tmp_path, monkeypatch) -> None:
    import sys
    from types import SimpleNamespace

    from samvid.cli import main
    from samvid.commands import export as command
    from samvid.errors import StudioError

    def half_done(reader, writer, progress):
        progress.start(10)
        for _ in range(3):
            progress.update(SimpleNamespace(clip="walk"))
        raise StudioError("cannot reach Label Studio")

    monkeypatch.setattr(command, "ProjectReader", lambda *a, **k: SimpleNamespace(categories=[]))
    monkeypatch.setattr(command, "export", half_done)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["export", str(tmp_path / "out"), "--project", "1", "--format", "coco",
                 "--url", "http://127.0.0.1:9", "--api-key", "k"]) == 2
    lines = terminal.getvalue().split("\n")
    error = next(line for line in lines if "error:" in line)
    assert error.startswith("samvid export: error: cannot reach Label Studio")
    assert "/10" in lines[lines.index(error) - 1]  # the bar, as far as it was drawn
    assert not (tmp_path / "out").exists()


def test_a_jobs_own_rate_is_not_shown_before_half_a_second_has_passed_but_its_last_one_is(monkeypatch):
    import samvid.commands.progress as progress

    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    out = _Terminal()
    job = TerminalJob(ProgressLine(out, width=10), "propagate c")
    job.progress(1, 300, 250.0)  # one step in 4 ms: noise
    assert out.getvalue().endswith("-- frames/s\033[K")
    clock[0] = 101.0
    job.progress(30, 300, 30.0)
    assert out.getvalue().endswith("30.0 frames/s\033[K")
