"""Tiny DAVIS-layout roots and a way to run a bench's ``main`` with arguments, for the
bench scripts' smoke tests (seconds, no ../shared needed)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from synthetic import BENCHMARK_SET, with_frames, write_sequence


def tiny_davis(root: Path, base: str = "fast", frames: int = 6, size: tuple[int, int] = (48, 86)) -> Path:
    """``root`` holding one sequence, ``tiny``: the first ``frames`` of synthetic ``base``."""
    write_sequence(replace(with_frames(BENCHMARK_SET[base], frames), name="tiny"), root, size)
    return root


def run_main(monkeypatch: pytest.MonkeyPatch, main: Callable[[], Any], script: str, *argv: str) -> Any:
    """What ``main`` returns when ``script`` is run with ``argv``."""
    monkeypatch.setattr(sys, "argv", [script, *argv])
    return main()
