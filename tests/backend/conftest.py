"""Backend fixtures: an app with the deterministic stand-in segmenter."""

from __future__ import annotations

from pathlib import Path

import pytest

from samvid.app import create_app
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.settings import Settings


@pytest.fixture
def images(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    root.mkdir()
    return root


@pytest.fixture
def app(images: Path):
    settings = Settings.from_env({}, model="standin", local_roots=(images,), precompute_on_open=False)
    predictor = Predictor.from_settings(settings, segmenter=StandInSegmenter(radius=10))
    app = create_app(settings, predictor)
    app.testing = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()
