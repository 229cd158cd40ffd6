"""SAMVID_PRECISION: which precision ``auto`` picks, what each device refuses (at start,
naming the choices), and that bf16 and int8 clicks give masks of the image's size.
Random weights (none can be downloaded here): shapes and refusals are asserted, not masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samvid.core.prompts import Prompt
from samvid.models.precision import UnsupportedPrecision, resolve_precision
from samvid.models.sam import load_sam
from samvid.settings import Settings

AMX = frozenset({"avx512f", "amx_tile", "amx_bf16"})
AVX512_BF16 = frozenset({"avx512f", "avx512_bf16"})
AVX2 = frozenset({"avx2"})


@pytest.mark.parametrize(("device", "flags", "picked"), [
    ("cpu", AMX, "bf16"),
    ("cpu", AVX512_BF16, "bf16"),
    ("cpu", AVX2, "fp32"),
    ("cuda", AVX2, "fp16"),
    ("cuda:1", AMX, "fp16"),
    ("mps", AMX, "fp32"),
])
def test_auto_is_bf16_on_cpus_with_bf16_units_fp16_on_cuda_fp32_otherwise(device, flags, picked):
    assert resolve_precision("auto", device, flags).name == picked


@pytest.mark.parametrize(("precision", "device", "says"), [
    ("fp16", "cpu", "use bf16 .*int8 or fp32"),
    ("int8", "cuda", "CPU only: on CUDA use fp16, bf16 or fp32"),
    ("int8", "cuda:0", "CPU only"),
])
def test_a_precision_the_device_lacks_is_refused_with_the_choices(precision, device, says):
    with pytest.raises(UnsupportedPrecision, match=says):
        resolve_precision(precision, device)


def test_an_unknown_precision_is_refused_when_the_settings_are_read():
    with pytest.raises(UnsupportedPrecision, match="choose one of auto, fp32, bf16, fp16, int8"):
        Settings.from_env({"SAMVID_PRECISION": "fp8"})
    assert Settings.from_env({}).precision == "auto"


def test_fp16_on_the_cpu_fails_at_load_before_any_model_is_built(monkeypatch):
    import samvid.models.sam as sam

    monkeypatch.setattr(sam, "_random_model", lambda *a: pytest.fail("built a model first"))
    with pytest.raises(UnsupportedPrecision, match="fp16 runs on CUDA"):
        load_sam("facebook/sam2.1-hiera-tiny", device="cpu", random_weights=True, precision="fp16")


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_bf16_and_int8_clicks_give_a_mask_of_the_image_size(small_hiera, precision):
    seg = load_sam("facebook/sam2.1-hiera-tiny", device="cpu", random_weights=True, precision=precision)
    assert seg.precision == precision and seg.version.endswith(f"+{precision}")
    assert seg.tracking_model is None  # random weights: nothing for `auto` to track with
    image = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    emb = seg.embed(image)
    out = seg.segment(emb, Prompt(points=((40.5, 30.5),), labels=(1,)))
    assert out.mask.shape == (60, 80) and out.mask.dtype == bool
    assert np.isfinite(out.score)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: CI has none")
def test_on_cuda_auto_loads_fp16_and_a_click_gives_a_mask_of_the_image_size():
    seg = load_sam("facebook/sam2.1-hiera-tiny", random_weights=True)  # device and precision: auto
    assert str(seg.device).startswith("cuda") and seg.precision == "fp16" and seg.version.endswith("+fp16")
    image = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    out = seg.segment(seg.embed(image), Prompt(points=((320.5, 240.5),), labels=(1,)))
    assert out.mask.shape == (480, 640) and out.mask.dtype == bool
    assert np.isfinite(out.score)
