"""Engines by name, as SAMVID_TRACKER, `samvid track --engine` and /propagate name them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import small_models

from samvid.errors import ModelUnavailable, TrackingError
from samvid.tracker.engines import EngineOptions, make_engine
from samvid.tracker.guided_engine import GuidedEngine


def test_guided_without_a_model_uses_the_weight_free_segmenter():
    engine = make_engine("guided")
    assert isinstance(engine, GuidedEngine) and engine.segmenter.version.startswith("samvid-classic")


def test_a_memory_engine_without_weights_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Options given: the process's defaults are what the last app started with (random weights
    # after a test of propagation with a random SAM 2).
    with pytest.raises(ModelUnavailable, match="samvid models pull"):
        make_engine(f"sam2:{tmp_path / 'nothing-here'}", EngineOptions())


@pytest.mark.parametrize("model", ["facebook/sam-vit-base", "classic"])
@pytest.mark.parametrize("random_weights", [False, True], ids=["weights", "random"])
def test_a_memory_engine_of_a_model_without_video_memory_is_refused_naming_the_ones_with_it(model, random_weights):
    # Random weights built a SAM 2 tiny under SAM's name; without them the advice was to
    # pull weights (of the weight-free classic segmenter, which has none).
    with pytest.raises(TrackingError, match=r"no video memory.*facebook/sam2\.1-hiera-tiny"):
        make_engine(f"sam2:{model}", EngineOptions(random_weights=random_weights))


def test_a_tracking_model_is_checked_for_video_memory_by_name_alone() -> None:
    # What `samvid up` checks before Label Studio starts, with no model loaded.
    from samvid.tracker.engines import check_tracking_model

    check_tracking_model("facebook/sam2.1-hiera-small")
    with pytest.raises(TrackingError, match=r"SAMVID_TRACKER_MODEL='classic' has no video memory"):
        check_tracking_model("classic")


def test_an_unknown_engine_lists_the_choices():
    with pytest.raises(TrackingError, match=r"auto, flow, flow-preview.*sam2\[:MODEL\], guided\[:MODEL\]"):
        make_engine("nope")


# -- SAMVID_TRACKER=auto and SAMVID_PRECISION for the model engines (random weights) ---------------

class WeightsStandIn:
    """A click model that reports SAM 2.1-tiny weights, as a pretrained SamSegmenter does."""

    tracking_model = "facebook/sam2.1-hiera-tiny"


class NoWeightsStandIn:
    """A click model without SAM 2 weights: classic, a stand-in, or random weights."""

    tracking_model = None


def _settings(**kw):
    from samvid.settings import Settings

    return Settings.from_env({"SAMVID_DEVICE": "cpu", "SAMVID_RANDOM_WEIGHTS": "1", **kw})


def test_auto_tracks_with_sam2_when_the_click_model_has_its_weights():
    from samvid.tracker.engines import start_configured

    assert _settings().tracker == "auto"
    assert start_configured(_settings(), WeightsStandIn()) == "sam2:facebook/sam2.1-hiera-tiny"


def test_auto_uses_the_weight_free_engine_when_no_sam2_weights_are_loaded():
    from samvid.tracker.engines import start_configured

    assert start_configured(_settings(), NoWeightsStandIn()) == "flow"
    assert start_configured(_settings(SAMVID_TRACKER="flow-preview"), WeightsStandIn()) == "flow-preview"


def test_auto_tracks_with_the_tracker_model_and_fails_at_start_when_it_has_no_weights(tmp_path, monkeypatch):
    from samvid.tracker.engines import start_configured

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = str(tmp_path / "sam2-nowhere")
    settings = _settings(SAMVID_TRACKER_MODEL=missing, SAMVID_RANDOM_WEIGHTS="0")
    with pytest.raises(ModelUnavailable, match="samvid models pull"):
        start_configured(settings, NoWeightsStandIn())


def test_a_bad_engine_or_precision_fails_at_start_naming_the_choices():
    from samvid.models.precision import UnsupportedPrecision
    from samvid.tracker.engines import start_configured

    with pytest.raises(TrackingError, match="choose one of auto, flow"):
        start_configured(_settings(SAMVID_TRACKER="sam3"), NoWeightsStandIn())
    with pytest.raises(UnsupportedPrecision, match="fp16 runs on CUDA"):
        start_configured(_settings(SAMVID_PRECISION="fp16"), WeightsStandIn())


@pytest.fixture
def small_random_sam2() -> Iterator[None]:
    with small_models.small_random_sam2():
        yield


def test_sam2_tracks_int8_quantized_with_frame_sized_masks_and_stable_ids(small_random_sam2):
    """int8: the linear layers quantized (bf16 tracking: test_memory_engine.py)."""
    import numpy as np

    engine = make_engine("sam2", EngineOptions("cpu", "int8", random_weights=True))
    frames = [np.random.default_rng(k).integers(0, 255, (48, 64, 3), dtype=np.uint8) for k in range(2)]
    ys, xs = np.mgrid[0:48, 0:64]
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 5, (xs - 20) ** 2 + (ys - 20) ** 2 <= 64)
    engine.add_mask(state, 0, 2, (xs - 45) ** 2 + (ys - 30) ** 2 <= 64)
    out = list(engine.propagate(state, start=0))
    assert [fm.frame for fm in out] == [0, 1]
    for fm in out:
        assert fm.object_ids == (2, 5) and fm.masks.shape == (2, 48, 64) and fm.masks.dtype == bool


def test_a_sam2_engine_on_a_gpu_this_machine_lacks_is_refused_naming_it():
    import torch

    from samvid.errors import ConfigError
    from samvid.tracker.engines import EngineOptions

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    # Was torch's "Torch not compiled with CUDA enabled" assertion at the model's .to().
    with pytest.raises(ConfigError, match="SAMVID_DEVICE=cuda: this machine has no CUDA GPU"):
        make_engine("sam2", EngineOptions("cuda", "fp32", random_weights=True))


@pytest.mark.parametrize("precision", [{}, {"SAMVID_PRECISION": "int8"}], ids=["auto", "int8"])
@pytest.mark.parametrize("engine", ["flow", "sam2"])
def test_a_start_with_a_gpu_this_machine_lacks_names_the_gpu_not_the_precision(engine, precision):
    import torch

    from samvid.models.sam import UnsupportedDevice
    from samvid.tracker.engines import start_configured

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    # int8 was refused "on cuda: use fp16", which this machine cannot run either; and
    # `samvid propagate`/worker with flow (at the auto precision) started on a GPU that is not there.
    settings = _settings(SAMVID_DEVICE="cuda", SAMVID_TRACKER=engine, **precision)
    with pytest.raises(UnsupportedDevice, match="SAMVID_DEVICE=cuda: this machine has no CUDA GPU.*use auto or cpu"):
        start_configured(settings, NoWeightsStandIn())
