"""One self-rewriting progress line on stderr, shared by the long-running commands.

Drawn only when stderr is a terminal, at most ten times a second:
``propagate clip-a  [########......]  120/200  85.2 frames/s``
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

MIN_SECONDS = 0.5  # a rate over less time is noise (the first draw of a label: none at all)


def measured_rate(done: int, seconds: float) -> float | None:
    """``done`` per second, or None while too little time has passed to tell."""
    return done / seconds if seconds >= MIN_SECONDS else None


class ProgressLine:
    def __init__(self, stream: TextIO | None = None, width: int = 30, unit: str = "frames") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.width, self.unit = width, unit
        self.label = ""
        self.started = time.monotonic()
        self.done0 = 0  # ``done`` when the label changed: callers may count on across labels
        self._drawn = 0.0

    def update(self, label: str, done: int, total: int, rate: float | None = None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if label != self.label:
            if self.label:
                self.stream.write("\n")
            self.label, self.started, self.done0 = label, now, done
        if done < total and now - self._drawn < 0.1:
            return
        self._drawn = now
        filled = self.width * min(done, total) // max(total, 1)
        if rate is None:
            rate = measured_rate(done - self.done0, now - self.started)
        elif done < total and now - self.started < MIN_SECONDS:
            # A job's own rate is as noisy over its first steps (one frame in a few ms); its
            # last report is its whole run's.
            rate = None
        shown = "--" if rate is None else f"{rate:.1f}"
        self.stream.write(
            f"\r{label[:40]:40}  [{'#' * filled}{'.' * (self.width - filled)}]  "
            f"{done}/{total}  {shown} {self.unit}/s\033[K"
        )
        self.stream.flush()

    __call__ = update  # usable as a plain ``(label, done, total)`` callback

    def close(self) -> None:
        if self.enabled and self.label:
            self.stream.write("\n")
            self.label = ""


class TerminalJob:
    """The job context of a job run in the foreground: progress on the terminal;
    Ctrl-C (KeyboardInterrupt) is the cancellation."""

    def __init__(self, line: ProgressLine | None, label: str) -> None:
        self.line, self.label = line, label

    def progress(self, frames_done: int, frames_total: int, fps: float) -> None:
        if self.line is not None:
            self.line.update(self.label, frames_done, frames_total, fps)

    def note(self, text: str) -> None:
        pass  # the wait is logged as a warning on this terminal already

    def cancelled(self) -> bool:
        return False
