"""``samvid export``: a project's frame tasks as whole videos, objects keeping their ids.

Formats, flags and the object-identity rules: docs/export.md.
"""

from __future__ import annotations

import argparse
import errno
import logging
import shutil
import tempfile
from pathlib import Path
from typing import TextIO

from samvid.commands.arguments import at_least_one, path_arg, project_ref
from samvid.commands.progress import ProgressLine
from samvid.errors import BadRequest
from samvid.export import FORMATS, Progress, Summary, export
from samvid.export.frames import KINDS, ExportFrame, Problems
from samvid.export.images import ImageFetcher
from samvid.export.reader import ProjectReader
from samvid.settings import studio_access
from samvid.studio.client import Studio

log = logging.getLogger(__name__)

# Hidden folders of an export in progress inside OUT (``partial_folder``, ``put_in_place``).
PARTIAL_PREFIX = ".samvid-partial-"
OLD_PREFIX = ".samvid-old-"


# More requests in flight than Label Studio's server has workers only queue there (and
# each holds a connection and a frame's image here).
MAX_WORKERS = 64


def worker_count(text: str) -> int:
    """--workers: 1 to ``MAX_WORKERS``."""
    value = at_least_one(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{value}: at most {MAX_WORKERS} requests in flight at once")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=path_arg, help="output folder (created)")
    parser.add_argument("--project", type=project_ref, required=True, help="project id or exact title")
    parser.add_argument("--format", required=True, choices=sorted(FORMATS), dest="fmt")
    parser.add_argument("--include-predictions", action="store_true",
                        help="frames with no annotation use any model's latest prediction")
    parser.add_argument("--fill", action="store_true",
                        help="frames with no annotation use samvid's own latest prediction "
                        "(marked source=prediction)")
    parser.add_argument("--no-images", dest="images", action="store_false",
                        help="do not copy the frame images (annotations only)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a non-empty OUT: the new export takes its place once it "
                        "has succeeded (the old folder and everything in it is removed)")
    parser.add_argument("--workers", type=worker_count, default=4,
                        help=f"requests to Label Studio in flight at once (default 4, at most {MAX_WORKERS})")
    parser.add_argument("--url", help="Label Studio URL (default: $LABEL_STUDIO_URL or http://localhost:8080)")
    parser.add_argument("--api-key", help="Label Studio API token (default: $LABEL_STUDIO_API_KEY)")


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


def partial_folder(out: Path) -> Path:
    """Make the folder an export is written into before it takes the place of ``out``'s
    contents (and ``out`` when it is new): inside ``out``, so that ``out`` itself is never
    renamed (it may be a mount point, the current folder, or under a parent this user
    cannot write) and moving the files in is a rename on one file system.

    Its name is new each time: one left by a killed export may bear this process's id
    (a container gives its command the same pid on every run)."""
    out.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=out))


def put_in_place(new: Path, out: Path) -> None:
    """Replace ``out``'s contents with the finished export ``new`` (a folder inside it):
    the older contents are moved aside first and removed after, so no file of them
    outlives the new export; if a move fails, they are put back."""
    # A new name, as for the partial folder: an older one left by a killed export is
    # moved aside with the rest and removed.
    old = Path(tempfile.mkdtemp(prefix=OLD_PREFIX, dir=out))
    aside = {new.name, old.name}
    moved_in: list[Path] = []
    try:
        for entry in list(out.iterdir()):
            if entry.name not in aside:
                entry.rename(old / entry.name)
        for entry in list(new.iterdir()):
            entry.rename(out / entry.name)
            moved_in.append(out / entry.name)
    except BaseException:  # a Ctrl-C too: else the old export stayed hidden, the new half in place
        # Only what came in of the new export goes again: an older entry that could not
        # be moved aside (a mount point, a folder this user may not move) is still in
        # ``out`` and must stay, contents and all.
        for entry in moved_in:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        for entry in list(old.iterdir()):
            entry.rename(out / entry.name)
        old.rmdir()
        raise
    # The new export is in place: failing to clear up after it changes nothing in it.
    try:
        new.rmdir()
        shutil.rmtree(old)
    except OSError as exc:
        log.warning("the export is in place, but the previous contents of %s could not all be removed "
                    "(%s): they are in %s, which can be removed", out, exc, old)


def write_error(exc: OSError, out: Path) -> BadRequest:
    """One line for a file-system error: the path and what to do."""
    path = exc.filename or out
    if exc.errno == errno.ENOSPC:
        advice = "free some space or export elsewhere"
    elif exc.errno == errno.ENAMETOOLONG:
        advice = "choose a shorter OUT path"
    else:
        advice = "choose an OUT folder you can write to"
    return BadRequest(f"cannot write {path}: {exc.strerror or exc}: {advice} "
                      f"(nothing was changed in {out})")


def summary_lines(summary: Summary, fill: bool) -> list[str]:
    """What the command says when it is done, after the summary line."""
    lines = [f"{count} x {kind}: {KINDS[kind]}" for kind, count in sorted(summary.problems.items())]
    if not summary.frames and summary.prediction_only and not fill:
        lines.append(f"{summary.prediction_only} frames have only predictions: pass --fill to "
                     "export samvid's (--include-predictions: any model's)")
    elif summary.prediction_only and fill:
        # --fill takes samvid's predictions alone: a frame another model prelabelled is left
        # out, which must not pass unsaid (a project prelabelled elsewhere exported nothing).
        lines.append(f"{summary.prediction_only} frames have only other models' predictions, "
                     "which --fill does not take: pass --include-predictions to export them")
    return lines


def run(args: argparse.Namespace) -> int:
    url, key = studio_access(args.url, args.api_key)
    if not key:
        raise BadRequest("no Label Studio token: pass --api-key or set LABEL_STUDIO_API_KEY")
    studio = Studio(url, key)
    out: Path = args.out
    created = not out.exists()
    try:
        if out.exists() and not out.is_dir():
            raise BadRequest(f"{out} is a file: give a folder to export into")
        # Mixing two exports in one folder leaves stale frames that look valid: refuse.
        # (A killed export's hidden folders do not count: the swap sweeps them away.)
        if out.exists() and not args.overwrite and any(
                not e.name.startswith((PARTIAL_PREFIX, OLD_PREFIX)) for e in out.iterdir()):
            raise BadRequest(f"{out} is not empty: choose a new folder or pass --overwrite")
        summary = export_into(args, studio, out)
        created = False
    except OSError as exc:
        raise write_error(exc, out) from exc
    finally:
        # A failed export leaves nothing behind: a new OUT goes (export_into removes
        # its partial folder), the previous OUT is untouched.
        if created:
            shutil.rmtree(out, ignore_errors=True)
    log.info(
        "exported %d frames (%d from predictions) of %d clips, %d objects, to %s%s",
        summary.frames, summary.predicted_frames, summary.clips, summary.objects, out,
        f"; {summary.left_out} more frames read but left out (below)" if summary.left_out else "",
    )
    for line in summary_lines(summary, args.fill or args.include_predictions):
        log.warning("%s", line)
    return 0


def export_into(args: argparse.Namespace, studio: Studio, out: Path) -> Summary:
    """Export into a partial folder, then put it in ``out``'s place; a failure removes it."""
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
    partial = partial_folder(out)
    progress = TerminalProgress()
    try:
        writer_class, _load = FORMATS[args.fmt]
        writer = writer_class(partial, reader.categories, problems)
        summary = export(reader, writer, progress)
        put_in_place(partial, out)
    finally:
        progress.finish()  # an error or Ctrl-C is said on a line of its own, not after the bar
        shutil.rmtree(partial, ignore_errors=True)  # gone already once put in place
    return summary
