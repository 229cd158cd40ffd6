"""The SAM family through transformers, built with random weights (none can be
downloaded here): every code path runs; mask content is not asserted."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import transformers as tf
from prompt_encoder import recorded_clicks
from small_models import TINY_SAM

from samvid.core.prompts import Prompt
from samvid.errors import ModelUnavailable
from samvid.models import load_segmenter
from samvid.models.sam import load_sam


@pytest.fixture(scope="module")
def sam2_tiny(small_hiera):
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
    tf.SamModel(tf.SamConfig(**TINY_SAM)).save_pretrained(folder)
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


def _save_tiny_sam(folder, tuned: bool) -> None:
    """The tiny SAM into ``folder``; ``tuned``: every weight moved, as fine-tuning leaves it."""
    torch.manual_seed(0)
    model = tf.SamModel(tf.SamConfig(**TINY_SAM))
    if tuned:
        with torch.no_grad():
            for param in model.parameters():
                param.add_(torch.randn_like(param) * 0.05)
    model.save_pretrained(folder)


def test_weights_saved_again_into_the_same_folder_do_not_find_the_former_weights_embeddings(tmp_path):
    # Embeddings are shared through Redis by the cache key: with the folder's name alone,
    # a model fine-tuned into its folder was served its former weights' embeddings.
    _save_tiny_sam(tmp_path, tuned=False)
    first, again = load_sam(str(tmp_path), device="cpu"), load_sam(str(tmp_path), device="cpu")
    assert first.cache_key() == again.cache_key()  # the same weights share their embeddings
    _save_tiny_sam(tmp_path, tuned=True)
    tuned = load_sam(str(tmp_path), device="cpu")
    assert tuned.cache_key() != first.cache_key()
    image = np.zeros((40, 70, 3), np.uint8)
    assert tuned.embed(image).model != first.embed(image).model
    assert tuned.version == first.version  # what Label Studio is told: the model's name


def test_a_random_weight_model_keeps_its_name_as_its_cache_key_across_loads():
    # fp32 named: "auto" is bf16 on a CPU with AVX512-BF16 or AMX, which adds "+bf16" to the key.
    keys = {load_sam("facebook/sam2.1-hiera-tiny", device="cpu", random_weights=True, precision="fp32").cache_key()
            for _ in range(2)}
    assert keys == {"facebook/sam2.1-hiera-tiny@random-weights"}


@pytest.mark.parametrize("shape", [(1, 3000), (3000, 1)])
def test_sam_vit_segments_an_image_far_longer_than_it_is_wide(small_sam_folder, shape):
    # Brought to 1024 on its long side, its short side rounds to 0 pixels.
    h, w = shape
    segmenter = load_segmenter(str(small_sam_folder), device="cpu")
    emb = segmenter.embed(np.zeros((h, w, 3), np.uint8))
    for prompt in (Prompt(points=((w / 2, h / 2),), labels=(1,)), Prompt(box=(0.0, 0.0, float(w), float(h)))):
        assert segmenter.segment(emb, prompt).mask.shape == (h, w)


def test_missing_weights_fail_at_load_with_what_to_do(monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # The hub library read the variable when it was imported: else it asks huggingface.co.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
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


def test_a_checkpoint_file_given_as_the_model_is_said_to_be_a_file(monkeypatch, tmp_path):
    # SAM's own .pt checkpoint was told "no such folder" though it is right there.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    checkpoint = tmp_path / "sam_vit_b_01ec64.pth"
    checkpoint.write_bytes(b"\0" * 16)
    with pytest.raises(ModelUnavailable, match=f"{checkpoint} is a file, not a model folder: samvid loads a model in the Hugging Face"):
        load_segmenter(str(checkpoint))


def _rgb(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (30, 50, 3), dtype=np.uint8)


@pytest.mark.parametrize("kind", ["grey", "grey-1-channel", "rgba", "16-bit"])
def test_grey_rgba_and_16_bit_images_are_encoded_as_their_rgb_copy(small_sam_folder, kind):
    # 16-bit levels read as 8-bit ones are a white image to the encoder, with no error.
    rgb = _rgb()
    grey = rgb[..., 0]
    image, same = {
        "grey": (grey, np.repeat(grey[..., None], 3, axis=2)),
        "grey-1-channel": (grey[..., None], np.repeat(grey[..., None], 3, axis=2)),
        "rgba": (np.dstack([rgb, np.full(grey.shape, 128, np.uint8)]), rgb),
        "16-bit": (rgb.astype(np.uint16) * 257, rgb),
    }[kind]
    segmenter = load_segmenter(str(small_sam_folder), device="cpu")
    emb = segmenter.embed(image)
    assert emb.image_size == (30, 50)
    np.testing.assert_array_equal(emb.tensors["level0"], segmenter.embed(same).tensors["level0"])


def test_an_image_of_floats_is_refused_saying_what_is_taken(small_sam_folder):
    # Floats have no one agreed range (0-1 or 0-255): guessing would encode a black image.
    segmenter = load_segmenter(str(small_sam_folder), device="cpu")
    with pytest.raises(ValueError, match=r"expected an RGB uint8 image \(H, W, 3\)"):
        segmenter.embed(_rgb().astype(np.float32) / 255)


def test_sam2_takes_click_labels_given_as_floats_or_booleans(sam2_tiny, embeddings):
    # The labels index an embedding table: a float label crashed SAM 2's prompt encoder.
    emb = embeddings[(61, 97)]
    expected = sam2_tiny.segment(emb, Prompt(points=((5.5, 5.5), (30.5, 20.5)), labels=(1, 0))).mask
    for labels in [(1.0, 0.0), (True, False), tuple(np.array([1, 0]))]:
        got = sam2_tiny.segment(emb, Prompt(points=((5.5, 5.5), (30.5, 20.5)), labels=labels)).mask
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", ["sam2", "sam-vit-base", "sam2.1-hiera-tiny"])
def test_a_bare_model_name_that_is_not_known_is_refused_naming_the_models(monkeypatch, tmp_path, name):
    # Every SAM checkpoint is org/name: a bare name is a typo, not weights to pull.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelUnavailable, match=f"unknown model '{name}': give one of facebook/sam2.1-hiera-tiny"):
        load_segmenter(name)


@pytest.mark.parametrize("name", ["sam-vit-bse", "facebook/sam-vit-bse", "facebook/sam2.1-hiera-smal"])
def test_a_model_name_that_is_not_known_is_refused_with_random_weights_too(name):
    # A random model's size comes from its name: a typo must not quietly build the default.
    with pytest.raises(ModelUnavailable, match=f"unknown model '{name}': give one of facebook/sam2.1-hiera-tiny"):
        load_segmenter(name, device="cpu", random_weights=True)


@pytest.mark.parametrize("device, says", [
    ("cuda", "SAMVID_DEVICE=cuda: this machine has"),
    ("cuda:7", "SAMVID_DEVICE=cuda:7: this machine has"),
    ("gpu", "SAMVID_DEVICE='gpu' is not a device; give auto, cpu, cuda, cuda:N or mps"),
])
def test_a_device_this_machine_lacks_is_refused_at_load_naming_it(small_sam_folder, device, says):
    import torch

    from samvid.errors import ConfigError

    if device.startswith("cuda") and torch.cuda.device_count() > int(device.partition(":")[2] or 0):
        pytest.skip("this machine has that GPU")
    with pytest.raises(ConfigError, match=says):
        load_segmenter(str(small_sam_folder), device=device, precision="fp32")


def test_a_cpu_device_spelled_with_an_index_as_torch_takes_it_loads_on_the_cpu(small_sam_folder):
    # `cpu:0` was refused as "not a device", though torch takes it (and the memory engine did).
    assert load_segmenter(str(small_sam_folder), device="cpu:0", precision="fp32").device == "cpu"


@pytest.mark.parametrize("device, says", [
    ("mps:0", "SAMVID_DEVICE=mps:0: this machine has no Apple GPU (MPS)"),
    ("cuda:01", "SAMVID_DEVICE='cuda:01' is not a device"),
    ("mps:1", "SAMVID_DEVICE='mps:1' is not a device"),
])
def test_a_device_is_judged_as_torch_spells_it(device, says):
    from samvid.models.sam import UnsupportedDevice, check_device

    if device.startswith("mps") and torch.backends.mps.is_available():
        pytest.skip("this machine has an Apple GPU")
    # mps:0 was "not a device" rather than the machine's lack of one; cuda:01, which torch
    # refuses, was taken for cuda:1.
    with pytest.raises(UnsupportedDevice, match=re.escape(says)):
        check_device(device)


@pytest.mark.parametrize("contents", [{}, {"config.json": "{broken"}])
def test_a_folder_without_a_loadable_model_is_named_as_the_fault_not_a_download(monkeypatch, tmp_path, contents):
    # Nothing is downloaded from a folder: "pull the path" was no advice.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name, text in contents.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ModelUnavailable) as info:
        load_segmenter(str(tmp_path), device="cpu")
    assert info.value.message.startswith(f"the folder {tmp_path} holds no model that loads")
    assert "could not be downloaded" not in info.value.message


@pytest.mark.parametrize("keep", [0.5, 0.0], ids=["half-the-weights", "a-few-bytes"])
def test_a_folder_whose_weights_were_cut_short_is_named_as_the_fault_so_the_fallback_can_take_over(
        small_sam_folder, tmp_path, monkeypatch, keep):
    import shutil

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "copied"
    shutil.copytree(small_sam_folder, folder)
    weights = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(weights[:max(4, int(len(weights) * keep))])
    with pytest.raises(ModelUnavailable) as info:  # what --fallback classic catches
        load_segmenter(str(folder), device="cpu")
    assert info.value.message.startswith(f"the folder {folder} holds no model that loads")


def test_a_click_reaches_the_prompt_encoder_at_the_pixel_centre_it_names(small_sam_folder):
    # The encoder adds 0.5 to reach a pixel's centre (it takes pixel indices); a prompt's
    # centres already lie at index + 0.5, so clicks landed half a model pixel down-right.
    clicks = Prompt(points=((10.5, 20.5), (0.5, 255.5)), labels=(1, 0))
    seen = _encoded_clicks(load_segmenter(str(small_sam_folder), device="cpu", precision="fp32"), clicks)
    np.testing.assert_allclose(seen, [[21.0, 41.0], [1.0, 511.0]])


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_a_click_keeps_its_place_in_a_model_of_lower_precision(small_sam_folder, precision):
    # bf16 spaces numbers of 512-1024 model pixels 4 apart: a click moved by up to 2 model
    # pixels (4 px of a 1080p frame) before the encoder saw it.
    clicks = Prompt(points=((10.5, 20.5), (300.3, 255.5)), labels=(1, 0))
    seen = _encoded_clicks(load_segmenter(str(small_sam_folder), device="cpu", precision=precision), clicks)
    np.testing.assert_allclose(seen, [[21.0, 41.0], [600.6, 511.0]], rtol=1e-6)


def test_automatic_clicks_reach_the_prompt_encoder_where_the_same_clicks_of_an_annotator_do(small_sam_folder):
    from samvid.automatic import sam_decode_points

    segmenter = load_segmenter(str(small_sam_folder), device="cpu", precision="bf16")
    points = ((10.5, 20.5), (300.3, 255.5))
    one_by_one = [_encoded_clicks(segmenter, Prompt(points=(p,), labels=(1,)))[0] for p in points]
    grid = _encoded_clicks(segmenter, None, lambda emb: sam_decode_points(segmenter, emb, np.array(points)))
    np.testing.assert_allclose(grid[:, 0], one_by_one, rtol=1e-6)  # (clicks, a click each + padding, xy)


def _encoded_clicks(segmenter, prompt, decode=None):
    """Where the prompt encoder places ``prompt``'s clicks on a 256x512 frame (x2 to the
    model's 1024), after its own shift to pixel centres (``decode``: another way of
    sending clicks, given the embedding)."""
    emb = segmenter.embed(np.zeros((256, 512, 3), np.uint8))
    with recorded_clicks(segmenter.model) as seen:
        decode(emb) if decode is not None else segmenter.decode(emb, prompt)
    if prompt is None:
        return seen[0][0].numpy()  # one click per prompt row
    return seen[0][0, 0, : len(prompt.points)].numpy()


def test_an_empty_sam_mask_reports_no_confidence():
    # SAM's IoU head scores whatever the decoder gave, even no pixel at all (a negative
    # click that took the whole object): an empty mask found nothing.
    from samvid.core.segmenter import Embedding
    from samvid.models.sam import SamSegmenter

    segmenter = SamSegmenter(model=None, family="sam2", version="fake", device="cpu", dtype=None)
    logits = np.full((1, 200, 300), -5.0, np.float32)
    segmenter.decode = lambda embedding, prompt: (logits, np.array([0.97], np.float32))
    prompt = Prompt(points=((150.5, 100.5),), labels=(0,), box=(140.0, 90.0, 160.0, 110.0))
    result = segmenter.segment(Embedding("fake", (200, 300), {}), prompt)
    assert not result.mask.any()
    assert result.score == 0.0
