"""A fresh clone, with no ../shared beside it, collects the whole suite and skips (not
fails) the tests that need ../shared, each with one line naming what is missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Tests that take ../shared/media, and are fast to run without a Label Studio.
NEEDS_MEDIA = [
    "tests/tracker/test_frames.py::test_random_access_equals_sequential",
    "tests/tracker/test_frames.py::test_read_subset_in_order",
    "tests/tracker/test_frames.py::test_real_clips_are_well_over_real_time",
]


def _checkout_copy(dest: Path) -> Path:
    """What a clone of the working tree would hold: tracked files as they are now, and
    untracked files git does not ignore (so uncommitted work counts too)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout, cannot list its files: {exc}")
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the working tree is left out
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def _pytest(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SAMVID_REQUIRE_SHARED", "PYTEST_ADDOPTS")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=300)


def test_suite_collects_and_skips_without_shared(tmp_path: Path) -> None:
    clone = _checkout_copy(tmp_path / "samvid")
    assert not (clone.parent / "shared").exists()
    # The editable install maps the ``samvid`` package to this checkout, so the copy's
    # tests import this checkout's package, not the copy's: what is checked here is the
    # tests' side (collection, fixtures, skips), which is the part that needs ../shared.

    # One session collects the whole suite and runs the tests that need ../shared: a
    # --collect-only run, then a run of those tests, started pytest and imported the suite's
    # conftests twice (some 4 s of 20 here).
    ran = _pytest(clone, "-v", "-rs", "-k", " or ".join(test.split("::")[-1] for test in NEEDS_MEDIA))
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output[-3000:]
    collected = next((line for line in output.splitlines() if "collected " in line), output[-3000:])
    assert "deselected" in collected and "error" not in collected, collected
    for test in NEEDS_MEDIA:  # each ran (a parametrized one as its cases), and was skipped
        assert re.search(rf"^{re.escape(test)}(\[[^\]]*\])? SKIPPED", output, re.MULTILINE), output[-3000:]
    assert "4 skipped" in output and "passed" not in output and "failed" not in output, output[-3000:]
    # One line per skipped test, naming what is missing.
    reasons = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert reasons, output[-3000:]
    missing = f"needs ../shared/media (the real test clips): {tmp_path / 'shared' / 'media'} is missing"
    assert all(line.endswith(missing) for line in reasons), reasons
