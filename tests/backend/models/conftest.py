"""Fixtures shared by the SAM model tests."""

from __future__ import annotations

import pytest
from small_models import SMALL_HIERA


@pytest.fixture(scope="module")
def small_hiera():
    """Random-weight ``facebook/sam2.1-hiera-tiny`` models of this module are built with
    ``SMALL_HIERA``: the same code paths (loading, precision, encoder, decoder), seconds less."""
    import samvid.models.sam as sam

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sam.SAM2_BACKBONES, "tiny", SMALL_HIERA)
        yield SMALL_HIERA
