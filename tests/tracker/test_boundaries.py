"""``samvid.tracker`` and ``samvid.core`` stand alone: nothing of the server or Label Studio.

Checked in a fresh interpreter, so what the test process has already imported cannot
hide an import.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import samvid.core
import samvid.tracker

# The server's and Label Studio's libraries.
FORBIDDEN = ("flask", "werkzeug", "gunicorn", "label_studio_sdk", "requests", "httpx", "redis", "rq")


def modules_of(package) -> list[str]:
    return [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]


def imported_by(modules: list[str]) -> set[str]:
    code = ("import importlib, json, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_the_tracker_and_the_core_import_nothing_of_the_server_or_label_studio() -> None:
    modules = modules_of(samvid.tracker) + modules_of(samvid.core)
    assert "samvid.tracker.engine" in modules and "samvid.core.errors" in modules
    loaded = imported_by(modules)
    libraries = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert libraries == []
    # Of samvid itself, only the core: not the server, Label Studio, jobs, settings or
    # models (a model engine loads its segmenter when it is made, not when imported).
    backend = sorted(m for m in loaded if m.startswith("samvid.")
                     and not m.startswith(("samvid.core", "samvid.tracker")))
    assert backend == []


def test_the_synthetic_benchmark_is_not_runtime_code() -> None:
    assert "samvid.tracker.synthetic" not in modules_of(samvid.tracker)
