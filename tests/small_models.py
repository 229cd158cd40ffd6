"""Random-weight SAM-family models smaller than the smallest real one, for tests of the
code around a model (jobs, engines, precision), which random weights cannot judge by mask
content anyway: the same modules and code paths, a fraction of the seconds on a CPU."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

# A tiny SAM (ViT): two layers, its prompt encoder and mask decoder 32 wide rather than 256
# (the same layers and grids). ``initializer_range``: the vision config's default (1e-10)
# leaves activations in float32's denormal range, where a CPU computes ~25x slower.
TINY_SAM = dict(
    vision_config=dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, global_attn_indexes=[1],
                       mlp_dim=128, initializer_range=0.02, output_channels=32, num_pos_feats=16),
    prompt_encoder_config=dict(hidden_size=32),
    mask_decoder_config=dict(hidden_size=32, mlp_dim=64, iou_head_hidden_dim=32),
)

# A Hiera of SAM 2's layout (four stages, query pooling between them, windowed attention and
# one global block) at a fraction of hiera-tiny's width and depth, for the image model: it
# encodes a 1024 frame in a fraction of a second on a CPU.
SMALL_HIERA = {
    "hidden_size": 16,
    "blocks_per_stage": [1, 1, 2, 1],
    "embed_dim_per_stage": [16, 32, 64, 128],
    "num_attention_heads_per_stage": [1, 1, 1, 1],
    "global_attention_blocks": [3],  # not a stage's first (pooling) block: those are windowed
}


def small_sam2_video_model():
    """A SAM 2.1 video model slimmer than hiera-tiny: windowed and global attention in the
    backbone, memory attention, encoder and fuser; 1024x1024 input, 64x64 features and
    64-channel memories as tiny's, with fewer and narrower layers."""
    import transformers as tf

    config = tf.Sam2VideoConfig()
    backbone = config.vision_config.backbone_config
    backbone.hidden_size = 32
    backbone.embed_dim_per_stage = [32, 64, 128, 256]
    backbone.blocks_per_stage = [1, 1, 2, 1]
    backbone.global_attention_blocks = [3]  # a global block closing stage 3, as tiny's 9
    backbone.mlp_ratio = 1.0
    config.vision_config.backbone_channel_list = list(reversed(backbone.embed_dim_per_stage))
    config.memory_attention_num_layers = 1
    config.memory_attention_feed_forward_hidden_size = 256
    config.memory_fuser_num_layers = 1
    return tf.Sam2VideoModel(config).eval()


@contextmanager
def small_random_sam2() -> Iterator[None]:
    """While the block runs, random weights build ``small_sam2_video_model`` for the SAM 2
    engine. Engines keep their model per process: none is taken from before, none is left
    to the tests after."""
    import samvid.tracker.engines as engines
    import samvid.tracker.memory_engine as memory_engine

    load = memory_engine.load_video_model
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(memory_engine, "load_video_model",
                      lambda name, random_weights=False: small_sam2_video_model() if random_weights else load(name))
        engines._video_model.cache_clear()
        try:
            yield
        finally:
            engines._video_model.cache_clear()
