"""Fixtures shared by the SAM model tests."""

from __future__ import annotations

import pytest

# A Hiera of SAM 2's layout (four stages, query pooling between them, windowed attention and
# one global block) at a fraction of hiera-tiny's width and depth: random weights give noise
# masks at any size, and this one encodes a 1024 frame in a fraction of a second on a CPU.
SMALL_HIERA = {
    "hidden_size": 16,
    "blocks_per_stage": [1, 1, 2, 1],
    "embed_dim_per_stage": [16, 32, 64, 128],
    "num_attention_heads_per_stage": [1, 1, 1, 1],
    "global_attention_blocks": [3],  # not a stage's first (pooling) block: those are windowed
}


@pytest.fixture(scope="module")
def small_hiera():
    """Random-weight ``facebook/sam2.1-hiera-tiny`` models of this module are built with
    ``SMALL_HIERA``: the same code paths (loading, precision, encoder, decoder), seconds less."""
    import samvid.models.sam as sam

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sam.SAM2_BACKBONES, "tiny", SMALL_HIERA)
        yield SMALL_HIERA
