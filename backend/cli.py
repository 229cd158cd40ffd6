"""``samvid`` command line: a thin dispatcher.

Each command lives in ``samvid.commands.<module>`` and exposes
``add_arguments(parser)`` and ``run(args) -> int``. Only the chosen command's
module is imported, so ``samvid --help`` starts instantly (no torch import).
Errors a user can act on (``SamvidError``) become one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import re
import sys

from samvid import __version__
from samvid.errors import SamvidError
from samvid.redact import url_without_credentials

# name -> (module under samvid.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("serve", "run the Label Studio ML backend (HTTP)"),
    "worker": ("worker", "run a propagation worker on the Redis queue (REDIS_URL)"),
    "up": ("up", "start Label Studio + samvid with a demo project, ready to label"),
    "import": ("importer", "import videos into Label Studio as one task per frame"),
    "propagate": ("propagate", "propagate a frame's masks through the following frames"),
    "prelabel": ("prelabel", "write predictions for many tasks at once"),
    "export": ("export", "export a project per video with object identity (COCO, YTVIS, DAVIS, YOLO)"),
    "track": ("track", "run a tracker engine on a DAVIS-layout folder"),
    "eval": ("evaluate", "score predicted masks against ground truth (J, F, J&F)"),
    "models": ("models", "list and pull segmentation models"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="samvid",
        description="Segment Anything for video, inside Label Studio.",
    )
    parser.add_argument("--version", action="version", version=f"samvid {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


# A URL's query in a log line, such as urllib3's lines name the path and query of each request,
# redirect and retry: an image's presigned URL carries its signature in the query.
_QUERY = re.compile(r"\?[^\s\"']*")


def _unsigned_query(match: re.Match[str]) -> str:
    query = match.group()
    # "(url=...?q): error": the line's punctuation, not the query's.
    bare = query.rstrip("):,;.")
    return url_without_credentials(bare) + query[len(bare):]


class QueryCut(logging.Filter):
    """Keeps a record's line (a fetch's host, path and status help debugging) without the
    query parameters that sign the URLs in it; the others (a local file's ``?d=``) stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: the handler reports it
            return True
        if "?" in message:
            record.msg, record.args = _QUERY.sub(_unsigned_query, message), None
        return True


class _Urllib3Lines(logging.Handler):
    """Put on the "urllib3" logger: every urllib3 logger's records (connection's "Failed to
    parse headers (url=...)" at WARNING, and any module's to come) pass it on their way up,
    before the root's handlers see them. A filter on a logger misses its child loggers'
    records, and the root's handlers are replaced (gunicorn's, a test's)."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(QueryCut())

    def emit(self, record: logging.LogRecord) -> None:
        pass  # its filter did the work, on the record every later handler gets


def configure_logging(level: int | str) -> None:
    """Logging of every command at ``level``: ``samvid serve`` sets none of its own, and its
    gunicorn workers are forked from this process with these settings (``samvid up`` starts
    its backend as ``samvid serve``)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # A line per Label Studio call otherwise (propagate, export, serve's fills); debug
        # logging (-v, SAMVID_LOG_LEVEL=DEBUG) keeps them.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    urllib3 = logging.getLogger("urllib3")
    if not any(isinstance(h, _Urllib3Lines) for h in urllib3.handlers):
        urllib3.addHandler(_Urllib3Lines())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Parse only the global part first; the command's own parser takes the rest.
    top, rest = parser.parse_known_args(argv)
    if top.command is None:
        parser.print_help()
        return 2
    module_name, help_text = COMMANDS[top.command]
    try:
        # Inside: a Ctrl-C in the seconds a command's imports take was a long traceback.
        module = importlib.import_module(f"samvid.commands.{module_name}")
        cmd_parser = argparse.ArgumentParser(prog=f"samvid {top.command}", description=help_text)
        module.add_arguments(cmd_parser)
        args, extra = cmd_parser.parse_known_args(rest)
        if extra:  # argparse's own error, with what old `--seq a b` scripts need to hear
            hint = ("; --seq takes one name: repeat it (--seq a --seq b)"
                    if getattr(args, "seq", None) and not extra[0].startswith("-") else "")
            cmd_parser.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
        from samvid.settings import log_level  # not before: `samvid --help` stays instant

        configure_logging(logging.DEBUG if top.verbose else log_level())  # SAMVID_LOG_LEVEL
        code = int(module.run(args) or 0)
        if sys.stdout is not None:  # None when started with stdout closed (`>&-`)
            sys.stdout.flush()  # here, not at exit, where a reader gone is an "Exception ignored"
        return code
    except SamvidError as exc:
        print(f"samvid {top.command}: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"samvid {top.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (`samvid models list | head -1`): no traceback, and
        # nothing more written (Python's flush at exit would fail again). 128 + SIGPIPE, as
        # the shell says of a program that the closed pipe stopped.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
