"""Argument types shared by the commands: a bad value is argparse's one-line error (exit 2)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from samvid.homes import NoSuchHome, expand_home


def tcp_port(text: str) -> int:
    """A TCP port a server can listen on, 1-65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (1-65535)")
    return port


def at_least_one(text: str) -> int:
    """A count of workers, threads, ...: 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be 1 or more")
    return value


def positive_seconds(text: str) -> float:
    """A wait in seconds: more than 0 and finite (0, -5 or nan would give up before starting)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: must be a finite number of seconds above 0")
    return value


def project_ref(text: str) -> str:
    """A --project id or title. An empty one (``--project "$PROJECT"`` with PROJECT unset)
    matched a project with no title (Label Studio's default for one made by its API)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty project: give the project's id or exact title")
    return text


def path_arg(text: str) -> Path:
    """A file or folder argument. An empty one (``"$OUT"`` with OUT unset) is ``Path("")``,
    the current folder: ``samvid export "$OUT" --overwrite`` replaced everything in it."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty path: give a file or folder (is a variable unset?)")
    try:
        # Expanded here: a quoted or `--opt=~/x` tilde reaches samvid unexpanded, and
        # `import --frames-root '~/ls'` wrote frames to ./~/ls, not where the backend looks.
        return expand_home(text)
    except NoSuchHome:  # ~nosuchuser/...: every later expanduser() was a traceback
        raise argparse.ArgumentTypeError(f"{text}: no such user's home folder") from None


def model_arg(text: str) -> str:
    """A --model name or folder. An empty one (``--model "$M"`` with M unset) was read as the
    current folder, which holds no model: classic was started without a word of why."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty model: give a model name or folder (is a variable unset?)")
    return text


def video_path(text: str) -> Path:
    """A VIDEO argument: a local file or folder. A URL was read as a path, its ``//`` made
    ``/``: "https:/example.com/a.mp4: no such file or folder" did not say to download it."""
    path = path_arg(text)
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", text) and not path.exists():
        raise argparse.ArgumentTypeError(f"{text} is a URL: samvid reads videos from this machine; "
                                         "download it first and give the file")
    return path
