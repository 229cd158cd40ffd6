"""Engines by name, as SAMVID_TRACKER, `samvid track --engine` and /propagate name them."""

from __future__ import annotations

import pytest

from samvid.errors import ModelUnavailable, TrackingError
from samvid.tracker.engines import make_engine
from samvid.tracker.guided_engine import GuidedEngine


def test_guided_without_a_model_uses_the_weight_free_segmenter():
    engine = make_engine("guided")
    assert isinstance(engine, GuidedEngine) and engine.segmenter.version.startswith("samvid-classic")


def test_a_memory_engine_without_weights_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable, match="samvid models pull"):
        make_engine(f"sam2:{tmp_path / 'nothing-here'}")


def test_an_unknown_engine_lists_the_choices():
    with pytest.raises(TrackingError, match="flow, flow-preview.*sam2, guided"):
        make_engine("nope")
