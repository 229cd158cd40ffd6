"""``~`` in a path a user gave, expanded one way everywhere.

``Path("~nosuchuser/x").expanduser()`` raises RuntimeError, a traceback wherever it was
not caught; each caller turns NoSuchHome into its own error (a config error, argparse's
one-line error) or keeps the path as given.
"""

from __future__ import annotations

import os
from pathlib import Path


class NoSuchHome(ValueError):
    """A path that starts with ``~user`` (or ``~``) whose home folder this machine does not know."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path}: no such user's home folder")
        self.path = path


def expand_home(path: str | os.PathLike[str]) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; NoSuchHome where that home is unknown.

    >>> expand_home("/data/frames"), expand_home("frames/~x")
    (PosixPath('/data/frames'), PosixPath('frames/~x'))
    """
    text = os.fspath(path)
    if not text.startswith("~"):
        kept = Path(text)
        if kept.parts and kept.parts[0].startswith("~"):
            # "./~x": pathlib drops the "./", and any later expanduser() would read the
            # folder ~x here as a user's home; made absolute, it never is.
            return Path.cwd() / kept
        return kept
    try:
        return Path(text).expanduser()
    except RuntimeError:  # "Could not determine home directory."
        raise NoSuchHome(text) from None
