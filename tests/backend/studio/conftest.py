"""Fixtures for the Label Studio import tests: a Studio client on the session's real
Label Studio, and import options for a fresh project per test."""

from __future__ import annotations

import pytest

from samvid.studio.client import Studio
from samvid.studio.configs import load_config
from samvid.studio.import_plan import ImportOptions


@pytest.fixture
def studio(label_studio) -> Studio:
    return Studio(label_studio.url, label_studio.token)


@pytest.fixture
def options(label_studio, request: pytest.FixtureRequest) -> ImportOptions:
    """Options for a fresh project named after the test, frames under LS's document root."""
    return ImportOptions(
        project=f"t-{request.node.name}"[:100],
        label_config=load_config("brush").render(["car", "person"]),
        document_root=label_studio.files_root,
        frames_root=label_studio.files_root / "samvid",
    )
