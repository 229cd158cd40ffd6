"""The click bench (``bench/bench_predict.py``): it times clicks through the real
``Predictor``; a slow model must give a slow figure, not end the bench."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import bench_predict
import numpy as np
import pytest
import torch

from samvid.models.standin import StandInSegmenter
from samvid.settings import Settings


class SlowEncoder(StandInSegmenter):
    """The stand-in, with an encoder slower than the server's click limit below."""

    def embed(self, image: np.ndarray):  # type: ignore[no-untyped-def]
        time.sleep(0.3)
        return super().embed(image)


def test_a_cold_click_slower_than_the_servers_click_limit_is_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server's SAMVID_REQUEST_TIMEOUT (60 s) stands here as 0.05 s, so a 0.3 s encoder
    # is over it as SAM ViT-H's 54 s cold click is close to it. Before the fix the bench
    # built its Predictor with that limit and died on TimedOut, losing the rows after it.
    real = Settings.from_env.__func__  # type: ignore[attr-defined]

    def server_limit(cls: type[Settings], env: dict[str, str] | None = None, **overrides: object) -> Settings:
        overrides.setdefault("request_timeout", 0.05)
        return real(cls, env, **overrides)

    monkeypatch.setattr(Settings, "from_env", classmethod(server_limit))
    monkeypatch.setattr(bench_predict, "load_segmenter", lambda *a, **k: SlowEncoder())
    paths = bench_predict.frames(tmp_path, 1)
    result = bench_predict.bench("standin", paths, clicks=2)
    assert set(result) == {"encoder_s", "cold_s", "cached_p50_ms", "cached_p90_ms"}



@pytest.mark.parametrize("option", ["--clicks", "--frames"])
def test_zero_clicks_or_frames_is_refused_with_one_line(
    option: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix --clicks 0 died in IndexError on an empty list of timings, --frames 0
    # on paths[0], after printing the table's header.
    monkeypatch.setattr(sys, "argv", ["bench_predict.py", "--models", "standin", option, "0"])
    with pytest.raises(SystemExit) as exit_:
        bench_predict.main()
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert "must be at least 1" in captured.err
    assert "| model" not in captured.out


class DrawsAtBuild(StandInSegmenter):
    """The stand-in, drawing from torch's global generator when built, as a random-weight
    SAM model initialises its weights."""

    def __init__(self) -> None:
        super().__init__()
        self.weights = torch.rand(4)


def test_every_run_builds_the_model_from_the_same_random_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before the fix each run drew other weights, so timings could depend on the draw.
    built: list[DrawsAtBuild] = []

    def load(*args: object, **kwargs: object) -> DrawsAtBuild:
        built.append(DrawsAtBuild())
        return built[-1]

    monkeypatch.setattr(bench_predict, "load_segmenter", load)
    paths = bench_predict.frames(tmp_path, 1)
    bench_predict.bench("standin", paths, clicks=1)
    bench_predict.bench("standin", paths, clicks=1)
    assert torch.equal(built[0].weights, built[1].weights)


def test_an_unknown_model_name_is_refused_before_anything_is_timed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix a typo was built with random weights as the default architecture and
    # timed, its row bearing the typo: a figure for a model that does not exist.
    monkeypatch.setattr(bench_predict, "load_segmenter", lambda *a, **k: pytest.fail("a model was built"))
    monkeypatch.setattr(sys, "argv", ["bench_predict.py", "--models", "standin", "facebook/sam-vit-hgue"])
    with pytest.raises(SystemExit) as exit_:
        bench_predict.main()
    assert exit_.value.code == 2
    assert "unknown model 'facebook/sam-vit-hgue'" in capsys.readouterr().err
