"""The propagation bench (``bench/bench_propagation.py``): what it refuses to measure, and
a failed job reported at once with its error rather than after the frame's long timeout."""

from __future__ import annotations

import sys

import bench_propagation
import pytest
from prometheus_client import generate_latest

from samvid.metrics import Metrics


@pytest.mark.parametrize("argv", [["--frames", "1"], ["--frames", "0"], ["--clips", "0"], ["--workers", "0"]])
def test_what_it_cannot_measure_is_refused_before_starting_anything(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix --frames 1 started Label Studio and Redis, then waited 300 s for a
    # frame 1 that does not exist (its IndexError swallowed as "not ready yet") and died.
    def start(service: object) -> None:
        raise AssertionError(f"{type(service).__name__} started for nothing")

    for service in (bench_propagation.LabelStudio, bench_propagation.Redis):
        monkeypatch.setattr(service, "start", start)
    monkeypatch.setattr(sys, "argv", ["bench_propagation.py", *argv])
    with pytest.raises(SystemExit) as exit_:
        bench_propagation.main()
    assert exit_.value.code == 2
    assert "--frames must be at least 2" in capsys.readouterr().err


def test_a_failed_job_ends_the_wait_at_once_with_its_error() -> None:
    # Before the fix the bench only looked for the frame's prediction, so a job that had
    # failed left it waiting out the 900 s given to the last frame.
    looks: list[int] = []

    def labelled() -> bool:
        looks.append(1)
        return False

    with pytest.raises(bench_propagation.JobFailed, match="no annotated mask on frame 0"):
        bench_propagation.wait_labelled(labelled, lambda: "job ab12: no annotated mask on frame 0",
                                        timeout=900, what="the last frame")
    assert len(looks) == 1


def test_the_failed_jobs_are_counted_from_the_backends_metrics_page() -> None:
    states = {"queued": 2, "running": 1, "done": 5, "failed": 0, "cancelled": 3}
    metrics = Metrics(None, lambda: states)  # type: ignore[arg-type]  # the job states alone are read
    assert bench_propagation.failed_jobs(generate_latest(metrics.registry).decode()) == 0
    states["failed"] = 1
    assert bench_propagation.failed_jobs(generate_latest(metrics.registry).decode()) == 1
