#!/usr/bin/env python3
"""Run mypy over samvid as Python imports it: ``python3 .ci/typecheck.py [mypy args]``.

The package ``samvid`` lives in ``backend/`` and ``samvid.tracker`` in ``tracker/``
(pyproject's package-dir), and mypy can neither read that mapping nor follow the
editable install's import hook. So this builds the package as a tree of links in a
temporary folder, runs mypy there with the settings of pyproject.toml, and prints its
findings with the repository's own paths (``backend/app.py``, ``tracker/flow.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Package folders inside samvid that live elsewhere in the repository.
MOUNTS = {"tracker": ROOT / "tracker", "labeling_configs": ROOT / "labeling_configs"}


def link_tree(dest: Path) -> Path:
    """``dest/samvid``: a link to each entry of backend/, and the mounted folders."""
    package = dest / "samvid"
    package.mkdir()
    for entry in (ROOT / "backend").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, folder in MOUNTS.items():
        (package / name).symlink_to(folder)
    return package


def repo_paths(text: str) -> str:
    """mypy's ``samvid/...`` paths as the repository's."""
    text = text.replace("samvid/tracker/", "tracker/").replace("samvid/labeling_configs/", "labeling_configs/")
    return "\n".join(
        line.replace("samvid/", "backend/", 1) if line.startswith("samvid/") else line
        for line in text.splitlines()
    )


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="samvid-typecheck-") as tmp:
        link_tree(Path(tmp))
        cache = ROOT / ".mypy_cache"  # ignored by git (.gitignore)
        command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                   "--cache-dir", str(cache), "-p", "samvid", *argv]
        done = subprocess.run(command, cwd=tmp, capture_output=True, text=True,
                              env={**os.environ, "MYPYPATH": tmp})
    sys.stdout.write(repo_paths(done.stdout) + "\n")
    sys.stderr.write(done.stderr)
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
