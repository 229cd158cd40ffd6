"""The automatic-masks bench (``bench/bench_automatic.py``): its random-weight model is
the same on every run, so its timings do not depend on the draw."""

from __future__ import annotations

import sys

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


def test_an_unknown_model_name_is_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Before the fix a typo was timed as the default architecture under the typo's name.
    monkeypatch.setattr(bench_automatic, "load_segmenter", lambda *a, **k: pytest.fail("a model was built"))
    monkeypatch.setattr(sys, "argv", ["bench_automatic.py", "--model", "facebook/sam2.1-hiera-tnyi"])
    with pytest.raises(SystemExit) as exit_:
        bench_automatic.main()
    assert exit_.value.code == 2
    assert "unknown model 'facebook/sam2.1-hiera-tnyi'" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--grids", "--batch", "--threads"])
def test_a_count_under_one_is_refused_before_the_model_is_built(
    option: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix --batch 0 built the model and died in range() (ValueError), --grids 0
    # in point_grid.
    monkeypatch.setattr(bench_automatic, "load_segmenter", lambda *a, **k: pytest.fail("a model was built"))
    monkeypatch.setattr(sys, "argv", ["bench_automatic.py", option, "0"])
    with pytest.raises(SystemExit) as exit_:
        bench_automatic.main()
    assert exit_.value.code == 2
    assert "must be 1 or more" in capsys.readouterr().err
