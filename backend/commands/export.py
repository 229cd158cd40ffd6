"""``samvid export``: a project's frame tasks as whole videos, objects keeping their ids.

Formats, flags and the object-identity rules: docs/export.md.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TextIO

from samvid.commands.progress import ProgressLine
from samvid.errors import BadRequest
from samvid.export import FORMATS, Progress, export
from samvid.export.frames import KINDS, ExportFrame, Problems
from samvid.export.images import ImageFetcher
from samvid.export.reader import ProjectReader
from samvid.studio.client import Studio

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="output folder (created)")
    parser.add_argument("--project", required=True, help="project id or exact title")
    parser.add_argument("--format", required=True, choices=sorted(FORMATS), dest="fmt")
    parser.add_argument("--include-predictions", action="store_true",
                        help="frames with no annotation use any model's latest prediction")
    parser.add_argument("--fill", action="store_true",
                        help="frames with no annotation use samvid's own latest prediction "
                        "(marked source=prediction)")
    parser.add_argument("--no-images", dest="images", action="store_false",
                        help="do not copy the frame images (annotations only)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a non-empty OUT (files of an older export may remain)")
    parser.add_argument("--workers", type=int, default=4,
                        help="requests to Label Studio in flight at once (default 4)")
    parser.add_argument("--url", default=os.environ.get("LABEL_STUDIO_URL", "http://localhost:8080"),
                        help="Label Studio URL (env LABEL_STUDIO_URL)")
    parser.add_argument("--api-key", default=os.environ.get("LABEL_STUDIO_API_KEY"),
                        help="Label Studio API token (env LABEL_STUDIO_API_KEY)")


class TerminalProgress(Progress):
    """The export's progress as the shared one-line progress display."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.line = ProgressLine(stream)
        self.total = self.done = 0

    def start(self, total: int) -> None:
        self.total = total

    def update(self, frame: ExportFrame) -> None:
        self.done += 1
        self.line.update(f"export {frame.clip}", self.done, self.total)

    def finish(self) -> None:
        self.line.close()


def run(args: argparse.Namespace) -> int:
    if not args.api_key:
        raise BadRequest("no Label Studio token: pass --api-key or set LABEL_STUDIO_API_KEY")
    studio = Studio(args.url, args.api_key)
    if args.out.exists() and not args.out.is_dir():
        raise BadRequest(f"{args.out} is a file: give a folder to export into")
    # Mixing two exports in one folder leaves stale frames that look valid: refuse.
    if args.out.exists() and any(args.out.iterdir()) and not args.overwrite:
        raise BadRequest(f"{args.out} is not empty: choose a new folder or pass --overwrite")
    problems = Problems()
    reader = ProjectReader(
        studio,
        args.project,
        fetcher=ImageFetcher(studio.url, studio.api_key) if args.images else None,
        include_predictions=args.include_predictions,
        fill=args.fill,
        problems=problems,
        workers=args.workers,
    )
    writer_class, _load = FORMATS[args.fmt]
    writer = writer_class(args.out, reader.categories, problems)
    summary = export(reader, writer, TerminalProgress())
    log.info(
        "exported %d frames (%d from predictions) of %d clips, %d objects, to %s",
        summary.frames, summary.predicted_frames, summary.clips, summary.objects, summary.path,
    )
    for kind, count in sorted(summary.problems.items()):
        log.warning("%d x %s: %s", count, kind, KINDS[kind])
    return 0
