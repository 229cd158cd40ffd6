"""Session-wide fixtures: real Label Studio and real Redis on 127.0.0.1.

Label Studio takes ~30 s to start on a fresh data dir, so one instance serves
the whole test session; tests create their own projects in it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from services import LabelStudio, Redis  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Real data that is never committed here: CI and the project's machines have it beside
# the checkout; a fresh clone does not, and the tests that need it skip.
SHARED = REPO.parent / "shared"
SHARED_DATA = {"media": "the real test clips", "davis16": "the DAVIS 2016 sequences"}


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    ls = LabelStudio(root=tmp_path_factory.mktemp("label-studio")).start()
    try:
        yield ls
    finally:
        ls.stop()


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    server = Redis(root=tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


def shared_data(name: str) -> Path:
    """``../shared/<name>``, or skip the calling test with one line naming what is missing.

    With ``SAMVID_REQUIRE_SHARED=1`` (set by .ci/run) a missing folder fails instead, so CI
    never passes by skipping.
    """
    path = SHARED / name
    if not path.is_dir():
        message = f"needs ../shared/{name} ({SHARED_DATA[name]}): {path} is missing"
        if os.environ.get("SAMVID_REQUIRE_SHARED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def media() -> Path:
    """The real test videos of ../shared/media."""
    return shared_data("media")


@pytest.fixture(scope="session")
def davis16() -> Path:
    """The real DAVIS 2016 sequences of ../shared/davis16 (JPEGImages/, Annotations/)."""
    return shared_data("davis16")
