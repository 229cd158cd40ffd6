"""``samvid track``: run a tracker engine on a DAVIS-layout folder.

Reads ``SRC/JPEGImages/<seq>/*.jpg`` (or ``.png``, as ``samvid export`` copies a project
imported with ``--png``) and the first mask of each sequence (``SRC/Annotations/<seq>/``, the
first PNG), or the official layout with a resolution level
(``SRC/JPEGImages/480p/<seq>``, ``--resolution``); writes ``OUT/Annotations/<seq>/*.png``.
A sequence that fails is reported and the others still run (exit status 1).
Synthetic input with exact ground truth: ``python bench/synthetic.py SRC``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from samvid.errors import NotFound, TrackingError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from samvid.tracker.engines import ENGINES, MODEL_ENGINES

    parser.add_argument("src", type=Path, help="DAVIS root (JPEGImages/, Annotations/)")
    parser.add_argument("out", type=Path, help="where to write Annotations/<seq>/*.png")
    names = ", ".join([*ENGINES, *(f"{m}[:MODEL]" for m in MODEL_ENGINES)])
    parser.add_argument("--engine", default="flow", metavar="ENGINE",
                        help=f"one of {names} (default flow; MODEL: a hub name or a local folder, "
                             "e.g. sam2:facebook/sam2.1-hiera-small, guided:classic)")
    parser.add_argument("--seq", nargs="*", help="sequences to track (default: all)")
    parser.add_argument("--resolution", default="480p",
                        help="resolution level of the official DAVIS layout (default 480p; ignored for the flat one)")


def run(args: argparse.Namespace) -> int:
    from samvid.settings import Settings
    from samvid.tracker.davis import frames_dir, sequences, track_sequence
    from samvid.tracker.engines import EngineOptions, choose_engine, make_engine

    if not frames_dir(args.src, args.resolution).is_dir():
        raise NotFound(f"{args.src} has no JPEGImages/ folder: give a DAVIS-layout root")
    names = args.seq or sequences(args.src, args.resolution)
    # An unknown engine or a model without weights: said before any work. Engines keep no
    # state between runs, so one serves every sequence (a model is loaded once).
    settings = Settings.from_env()  # SAMVID_PRECISION, SAMVID_DEVICE, SAMVID_TRACKER_MODEL for auto/sam2
    engine = make_engine(choose_engine(args.engine, settings.tracker_model or None), EngineOptions.of(settings))
    failed = []
    for name in names:
        t0 = time.perf_counter()
        try:
            n = track_sequence(engine, args.src, name, args.out, args.resolution)
        except (OSError, ValueError, TrackingError) as exc:  # this sequence's data: the others still run
            failed.append(name)
            print(f"{name}: FAILED ({exc})")
            continue
        dt = time.perf_counter() - t0
        print(f"{name}: {n} frames in {dt:.1f} s ({n / dt:.1f} frames/s)")
    if failed:
        print(f"{len(failed)} of {len(names)} sequences failed: {', '.join(failed)}")
    return 1 if failed else 0
