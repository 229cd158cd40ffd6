"""SAMVID_TRACKER=auto in the running app: /health and /versions name the engine it chose,
propagated predictions carry it in their model_version, and a bad engine, tracker model or
precision stops the app from starting. Random weights: which engine runs is asserted, not masks."""

from __future__ import annotations

import pytest

from samvid.app import create_app
from samvid.errors import SamvidError
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.settings import Settings


@pytest.fixture(autouse=True)
def _process_engine_restored():
    """Starting an app sets what ``auto`` means in this process; later tests must not inherit it."""
    from samvid.tracker import engines

    saved = engines._defaults, engines._auto
    yield
    engines._defaults, engines._auto = saved


def test_a_job_asking_for_auto_names_the_engine_the_process_chose():
    from samvid.tracker import engines

    engines.configure(engines.EngineOptions(), auto="flow-preview")
    assert engines.resolved("auto") == "flow-preview"
    assert engines.resolved("copy") == "copy"
    assert engines.make_engine("auto").name == engines.make_engine("flow-preview").name


class SamTwoStandIn(StandInSegmenter):
    """A click model loaded with SAM 2.1-tiny weights, as far as ``auto`` can tell."""

    tracking_model = "facebook/sam2.1-hiera-tiny"


def app_for(segmenter, **env):
    settings = Settings.from_env({"SAMVID_DEVICE": "cpu", **env}, model="standin", precompute_on_open=False)
    return create_app(settings, Predictor.from_settings(settings, segmenter=segmenter)).test_client()


def test_without_sam2_weights_auto_propagates_with_flow_and_says_so():
    client = app_for(StandInSegmenter())
    assert client.get("/versions").get_json()["tracker"] == "flow"
    assert client.get("/health").get_json()["tracker"] == "flow"


def test_with_sam2_weights_auto_propagates_with_sam2_and_says_so():
    # The stand-in reports weights; the video model itself is built with random ones here.
    client = app_for(SamTwoStandIn(), SAMVID_RANDOM_WEIGHTS="1", SAMVID_PRECISION="bf16")
    body = client.get("/versions").get_json()
    assert body["tracker"] == "sam2:facebook/sam2.1-hiera-tiny"
    assert body["versions"] == ["samvid-standin-r20"]


@pytest.mark.parametrize(("env", "says"), [
    ({"SAMVID_TRACKER": "sam3"}, "unknown engine 'sam3'; choose one of auto, flow"),
    ({"SAMVID_TRACKER_MODEL": "facebook/sam-vit-base"}, "no video memory: choose a SAM 2-family"),
    ({"SAMVID_PRECISION": "fp16"}, "fp16 runs on CUDA, not on the CPU"),
    ({"SAMVID_PRECISION": "half"}, "choose one of auto, fp32, bf16, fp16, int8"),
])
def test_a_bad_engine_tracker_model_or_precision_stops_the_start(env, says):
    with pytest.raises(SamvidError, match=says):
        app_for(StandInSegmenter(), **env)


@pytest.mark.parametrize(("tracker", "line"), [
    ("sam2:facebook/sam2.1-hiera-tiny", "Propagation  sam2:facebook/sam2.1-hiera-tiny  (SAM 2's memory tracker; "
                                         "SAMVID_TRACKER=flow for the weight-free one)"),
    ("flow", "Propagation  flow  (weight-free; SAM 2 tracks when its weights are here)"),
])
def test_samvid_up_names_the_engine_the_backend_reported(capsys, tracker, line):
    from samvid.commands.up import _banner
    from samvid.launcher import Ready

    _banner(Ready("http://ls", "http://be", 1, [1], "http://ls/p", "standin", "", "admin", None,
                  tracker=tracker), owns_processes=True)
    assert f"  {line}" in capsys.readouterr().out.splitlines()
