"""The engine bench (``bench/bench_memory_engine.py``): its random-weight models are the
same on every run, so its timings do not depend on the draw."""

from __future__ import annotations

import sys

import bench_memory_engine
import pytest
import torch
from random_weights import Built, draw_weights


def test_every_run_builds_the_video_model_from_the_same_random_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before the fix each run drew other weights from torch's global generator.
    monkeypatch.setattr(bench_memory_engine, "load_video_model", draw_weights)
    monkeypatch.setattr(sys, "argv", ["bench_memory_engine.py", "--frames", "2"])
    drawn = []
    try:
        for _ in range(2):
            with pytest.raises(Built) as built:
                bench_memory_engine.main()
            drawn.append(built.value.weights)
    finally:
        torch.set_flush_denormal(False)  # main() sets it for the process; the other tests expect the default
    assert torch.equal(drawn[0], drawn[1])


@pytest.mark.parametrize("frames", ["0", "1"])
def test_fewer_than_two_frames_is_refused_before_a_model_is_built(
    frames: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix the models were built and the first row died on the median of no
    # tracked frame (StatisticsError).
    monkeypatch.setattr(bench_memory_engine, "load_video_model", lambda *a, **k: pytest.fail("a model was built"))
    monkeypatch.setattr(sys, "argv", ["bench_memory_engine.py", "--frames", frames])
    with pytest.raises(SystemExit) as exit_:
        bench_memory_engine.main()
    assert exit_.value.code == 2
    assert "--frames must be at least 2" in capsys.readouterr().err
