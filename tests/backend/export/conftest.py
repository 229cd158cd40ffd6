"""Fixtures of the export tests: one real Label Studio project shared by the session."""

from __future__ import annotations

import pytest
from export_studio import Project, build


@pytest.fixture(scope="session")
def studio_project(label_studio) -> Project:
    """The frame-task project described in ``export_studio``."""
    return build(label_studio)
