"""constraints.txt pins the whole dependency closure, and pins pytest below 9.2."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def _freeze_module():
    spec = importlib.util.spec_from_file_location("freeze_constraints", ROOT / ".ci" / "freeze_constraints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_dependency_is_pinned():
    pins = _pins()
    needed = set(_freeze_module().closure()) - {"samvid", "torch"}
    assert not needed - set(pins), "refresh with: python3 .ci/freeze_constraints.py > constraints.txt"
    assert "samvid" not in pins and "torch" not in pins


def test_pytest_stays_below_9_2():
    # schemathesis' pytest plugin fails on pytest 9.2: 'Function' object has no attribute '_nodeid'.
    assert Version(_pins()["pytest"]) < Version("9.2")
    for tool in ("schemathesis", "hypothesis", "playwright", "ruff"):
        assert tool in _pins()
