"""Session-wide fixtures: real Label Studio and real Redis on 127.0.0.1.

Label Studio takes ~30 s to start on a fresh data dir, so one instance serves
the whole test session; tests create their own projects in it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from services import LabelStudio, Redis  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"


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


@pytest.fixture(scope="session")
def media() -> Path:
    """The real test videos of ../shared/media (never committed here)."""
    if not MEDIA.is_dir():
        pytest.fail(f"{MEDIA} is missing: the repository must sit beside shared/")
    return MEDIA
