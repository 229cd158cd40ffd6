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
