"""The automatic-masks bench (``bench/bench_automatic.py``): its random-weight model is
the same on every run, so its timings do not depend on the draw."""

from __future__ import annotations

import bench_automatic
import pytest
import torch
from random_weights import Built, draw_weights


def test_every_run_builds_the_model_from_the_same_random_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before the fix each run drew other weights from torch's global generator.
    monkeypatch.setattr(bench_automatic, "load_segmenter", draw_weights)
    drawn = []
    for _ in range(2):
        with pytest.raises(Built) as built:
            bench_automatic.run("facebook/sam2.1-hiera-tiny", [2], 4, (16, 16))
        drawn.append(built.value.weights)
    assert torch.equal(drawn[0], drawn[1])
