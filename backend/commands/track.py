"""``samvid track``: run a tracker engine on a DAVIS-layout folder.

Reads ``SRC/JPEGImages/<seq>/*.jpg`` (or ``.png``, as ``samvid export`` copies a project
imported with ``--png``) and the mask of each sequence's first frame
(``SRC/Annotations/<seq>/<first frame's name>.png``, ``.PNG`` too), or the official layout
with a resolution level (``SRC/JPEGImages/480p/<seq>``, ``--resolution``); writes ``OUT/Annotations/<seq>/*.png``.
A sequence that fails is reported and the others still run (exit status 1). A sequence's
earlier PNGs in OUT are removed first, so OUT holds only this run's masks; an OUT whose
``Annotations`` is SRC's ground truth, or lies among SRC's frames, is refused.
Synthetic input with exact ground truth: ``python bench/synthetic.py SRC``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from samvid.errors import BadRequest, NotFound, TrackingError

if TYPE_CHECKING:
    from samvid.tracker.davis import Tracked


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from samvid.tracker.engines import engine_choices

    parser.add_argument("src", type=Path, help="DAVIS root (JPEGImages/, Annotations/)")
    parser.add_argument("out", type=Path, help="where to write Annotations/<seq>/*.png")
    parser.add_argument("--engine", default="flow", metavar="ENGINE",
                        help=f"one of {engine_choices()} (default flow; MODEL: a hub name or a local folder, "
                             "e.g. sam2:facebook/sam2.1-hiera-small, guided:classic)")
    parser.add_argument("--seq", nargs="*", action="extend",
                        help="sequences to track (default: all; repeatable)")
    parser.add_argument("--resolution", default="480p",
                        help="resolution level of the official DAVIS layout (default 480p; ignored for the flat one)")


def overlaps(a: Path, b: Path) -> bool:
    """Whether folders ``a`` and ``b`` (resolved) are one, or one holds the other."""
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


def summary(name: str, tracked: Tracked, seconds: float) -> str:
    """``seq: 3 of 4 frames in 0.2 s (15.0 frames/s); skipped 00002`` (a frame the engine could
    not read has no mask, and eval scores it as empty)."""
    line = (f"{name}: {tracked.written} of {tracked.total} frames in {seconds:.1f} s "
            f"({tracked.written / max(seconds, 1e-9):.1f} frames/s)")
    return f"{line}; skipped {', '.join(tracked.skipped)}" if tracked.skipped else line


def run(args: argparse.Namespace) -> int:
    from samvid.images import let_pillow_open
    from samvid.settings import Settings
    from samvid.tracker.davis import frames_dir, sequence_names, sequences, track_one
    from samvid.tracker.engines import EngineOptions, choose_engine, make_engine
    from samvid.tracker.metrics import annotations_dir

    try:
        if not frames_dir(args.src, args.resolution).is_dir():
            raise NotFound(f"{args.src} has no JPEGImages/ folder: give a DAVIS-layout root")
        names = sequence_names(args.seq or sequences(args.src, args.resolution),
                               frames_dir(args.src, args.resolution))
        if not (args.src / "Annotations").is_dir():
            # Else ``annotations_dir`` takes SRC itself for the ground truth, and an OUT inside
            # SRC would be refused as overwriting ground truth that does not exist.
            raise NotFound(f"{args.src} has no Annotations/ folder: put each sequence's first mask in "
                           f"{args.src / 'Annotations'}/<seq>/ (pixel value = object id)")
        truth = annotations_dir(args.src, args.resolution)
    except FileNotFoundError as exc:  # no sequence folders, or a --resolution the root lacks
        raise NotFound(str(exc)) from None
    except ValueError as exc:  # a --seq that names no sequence
        raise BadRequest(str(exc)) from None
    if overlaps(args.out / "Annotations", truth):
        raise BadRequest(f"{args.out / 'Annotations'} would overwrite the ground truth in {truth}: "
                         "give another OUT folder")
    if overlaps(args.out / "Annotations", args.src / "JPEGImages"):
        # Written among the frames, it would be read as one more sequence (or level) by the
        # next run, and by any DAVIS tool.
        raise BadRequest(f"{args.out / 'Annotations'} would be written among the frames in "
                         f"{args.src / 'JPEGImages'}: give an OUT folder outside it")
    # An unknown engine or a model without weights: said before any work. Engines keep no
    # state between runs, so one serves every sequence (a model is loaded once).
    settings = Settings.from_env()  # SAMVID_PRECISION, SAMVID_DEVICE, SAMVID_TRACKER_MODEL for auto/sam2
    let_pillow_open(settings.max_image_pixels)  # label PNGs as large as samvid reads images
    engine = make_engine(choose_engine(args.engine, settings.tracker_model or None), EngineOptions.of(settings))
    failed = []
    for name in names:
        t0 = time.perf_counter()
        try:
            tracked = track_one(engine, args.src, name, args.out, args.resolution)
        except (OSError, ValueError, TrackingError) as exc:  # this sequence's data: the others still run
            failed.append(name)
            print(f"{name}: FAILED ({exc})")
            continue
        print(summary(name, tracked, time.perf_counter() - t0))
    if failed:
        print(f"{len(failed)} of {len(names)} sequences failed: {', '.join(failed)}")
    return 1 if failed else 0
