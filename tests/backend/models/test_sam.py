"""The SAM family through transformers, built with random weights (none can be
downloaded here): every code path runs; mask content is not asserted."""

from __future__ import annotations

import numpy as np
import pytest
import transformers as tf

from samvid.core.prompts import Prompt
from samvid.errors import ModelUnavailable
from samvid.models import load_segmenter
from samvid.models.sam import load_sam


@pytest.fixture(scope="module")
def sam2_tiny():
    return load_sam("facebook/sam2.1-hiera-tiny", device="cpu", random_weights=True)


@pytest.fixture(scope="module")
def embeddings(sam2_tiny):
    """One landscape and one portrait frame, encoded once (each encoder run costs seconds)."""
    rng = np.random.default_rng(0)
    return {
        (h, w): sam2_tiny.embed(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        for h, w in [(61, 97), (97, 61)]
    }


@pytest.fixture(scope="module")
def small_sam_folder(tmp_path_factory):
    """A tiny SAM (ViT) saved as safetensors, as `samvid models pull` leaves it."""
    folder = tmp_path_factory.mktemp("tiny-sam")
    vision = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                  global_attn_indexes=[1], mlp_dim=128)
    tf.SamModel(tf.SamConfig(vision_config=vision)).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("shape", [(61, 97), (97, 61)])
def test_sam2_masks_come_back_at_the_original_size(sam2_tiny, embeddings, shape):
    h, w = shape
    emb = embeddings[shape]
    assert emb.image_size == (h, w)
    for prompt in [
        Prompt(points=((10.5, 20.5),), labels=(1,)),
        Prompt(points=((10.5, 20.5), (30.5, 40.5)), labels=(1, 0)),
        Prompt(box=(2.0, 3.0, 40.0, 50.0)),
        Prompt(points=((10.5, 20.5),), labels=(1,), box=(2.0, 3.0, 40.0, 50.0)),
    ]:
        result = sam2_tiny.segment(emb, prompt)
        assert result.mask.shape == (h, w) and result.mask.dtype == bool
        assert np.isfinite(result.score)


def test_one_click_asks_for_three_masks_and_several_clicks_for_one(sam2_tiny, embeddings):
    emb = embeddings[(61, 97)]
    logits, scores = sam2_tiny.decode(emb, Prompt(points=((5.5, 5.5),), labels=(1,)))
    assert logits.shape[0] == 3 and scores.shape == (3,)
    logits, _ = sam2_tiny.decode(emb, Prompt(points=((5.5, 5.5), (9.5, 9.5)), labels=(1, 1)))
    assert logits.shape[0] == 1


def test_embedding_survives_serialisation_for_the_shared_cache(sam2_tiny, embeddings):
    from samvid.core.segmenter import Embedding

    emb = embeddings[(97, 61)]
    again = Embedding.from_bytes(emb.to_bytes())
    prompt = Prompt(points=((5.5, 5.5),), labels=(1,))
    np.testing.assert_array_equal(sam2_tiny.segment(emb, prompt).mask, sam2_tiny.segment(again, prompt).mask)


def test_model_loads_from_a_local_folder(small_sam_folder):
    segmenter = load_segmenter(str(small_sam_folder), device="cpu")
    assert segmenter.family == "sam"
    emb = segmenter.embed(np.zeros((40, 70, 3), np.uint8))
    assert segmenter.segment(emb, Prompt(box=(5.0, 5.0, 30.0, 30.0))).mask.shape == (40, 70)


@pytest.mark.parametrize("shape", [(1, 3000), (3000, 1)])
def test_sam_vit_segments_an_image_far_longer_than_it_is_wide(small_sam_folder, shape):
    # Brought to 1024 on its long side, its short side rounds to 0 pixels.
    h, w = shape
    segmenter = load_segmenter(str(small_sam_folder), device="cpu")
    emb = segmenter.embed(np.zeros((h, w, 3), np.uint8))
    for prompt in (Prompt(points=((w / 2, h / 2),), labels=(1,)), Prompt(box=(0.0, 0.0, float(w), float(h)))):
        assert segmenter.segment(emb, prompt).mask.shape == (h, w)


def test_missing_weights_fail_at_load_with_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelUnavailable) as info:
        load_segmenter("facebook/sam2.1-hiera-tiny")
    assert "samvid models pull" in info.value.message and "--fallback classic" in info.value.message


@pytest.mark.parametrize("name", ["/no/such/folder", "./models/sam2-tiny", "~/no-such-model"])
def test_a_model_path_that_is_no_folder_is_refused_without_asking_the_hub(monkeypatch, tmp_path, name):
    # A path is never a hub id: asking the hub would only add a minute of retries and then
    # suggest `samvid models pull` of a path.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelUnavailable, match=f"{name}: no such folder; give the folder that holds"):
        load_segmenter(name)
