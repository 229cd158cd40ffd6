#!/usr/bin/env python3
"""Print constraints.txt: the installed versions of samvid[studio,dev]'s dependency closure.

Run it in the environment the tests were just green in:

    python3 .ci/freeze_constraints.py > constraints.txt

Only what samvid needs, walked from its installed metadata (unlike ``pip freeze``, which
would also pin whatever else the machine has), less samvid itself and torch, which
.ci/run installs first at a fixed version.
"""

from __future__ import annotations

import importlib.metadata as md
import platform
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT, EXTRAS = "samvid", {"studio", "dev"}
LEFT_OUT = {"samvid", "torch"}

HEADER = """\
# Versions the test suite was last green with (Python {py}, {system} {machine}).
# The dependency closure of samvid[studio,dev], less samvid itself and torch
# (.ci/run installs torch==2.13.0 first). Use: pip install -c constraints.txt -e ".[studio,dev]"
# Refresh after a green run: python3 .ci/freeze_constraints.py > constraints.txt
"""


def closure(root: str = ROOT, extras: set[str] = EXTRAS) -> dict[str, str]:
    """Canonical name -> installed version of every distribution ``root[extras]`` requires."""
    seen: dict[str, set[str]] = {}
    todo = [(root, set(extras))]
    while todo:
        name, wanted = todo.pop()
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            raise SystemExit(f"{name} is required but not installed") from None
        key = canonicalize_name(dist.metadata["Name"])
        if key in seen and wanted <= seen[key]:
            continue
        seen[key] = seen.get(key, set()) | wanted
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in wanted | {""}):
                todo.append((req.name, set(req.extras)))
    return {key: md.version(key) for key in seen}


def main() -> None:
    sys.stdout.write(HEADER.format(py=platform.python_version(), system=platform.system(),
                                   machine=platform.machine()))
    for key, version in sorted(closure().items()):
        if key not in LEFT_OUT:
            sys.stdout.write(f"{key}=={version}\n")


if __name__ == "__main__":
    main()
