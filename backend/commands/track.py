"""``samvid track``: run a tracker engine on a DAVIS-layout folder.

Reads ``SRC/JPEGImages/<seq>/*.jpg`` (or ``.png``, as ``samvid export`` copies a project
imported with ``--png``) and the mask of each sequence's first frame
(``SRC/Annotations/<seq>/<first frame's name>.png``, ``.PNG`` too), or the official layout
with a resolution level (``SRC/JPEGImages/480p/<seq>``, ``--resolution``); writes ``OUT/Annotations/<seq>/*.png``.
A sequence that fails is reported and the others still run (exit status 1). A sequence's
earlier PNGs in OUT are removed first, so OUT holds only this run's masks; an OUT whose
``Annotations`` is SRC's ground truth, or lies among SRC's frames, or an OUT that is a DAVIS
root or a ``samvid export`` itself (``DATASET_MARKS``), is refused.
Synthetic input with exact ground truth: ``python bench/synthetic.py SRC``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from samvid.commands.arguments import path_arg
from samvid.errors import BadRequest, NotFound, TrackingError

if TYPE_CHECKING:
    from samvid.settings import Settings
    from samvid.tracker.davis import Tracked


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from samvid.tracker.engines import engine_choices

    parser.add_argument("src", type=path_arg, help="DAVIS root (JPEGImages/, Annotations/)")
    parser.add_argument("out", type=path_arg, help="where to write Annotations/<seq>/*.png")
    parser.add_argument("--engine", default="flow", metavar="ENGINE",
                        help=f"one of {engine_choices()} (default flow; MODEL: a hub name or a local folder, "
                             "e.g. sam2:facebook/sam2.1-hiera-small, guided:classic)")
    # One name per --seq: a list option took SRC and OUT after it as sequences. A bare --seq
    # (``--seq $SEQS`` with SEQS unset) is still refused: it tracked every sequence,
    # replacing each one's masks in OUT.
    parser.add_argument("--seq", action="append", metavar="NAME",
                        help="a sequence to track (default: all; repeat for several: --seq a --seq b)")
    parser.add_argument("--resolution", default="480p",
                        help="resolution level of the official DAVIS layout (default 480p; ignored for the flat one)")


def overlaps(a: Path, b: Path) -> bool:
    """Whether folders ``a`` and ``b`` (resolved) are one, or one holds the other."""
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


def not_a_root(src: Path) -> str:
    """What is wrong with a SRC that has no frames folder, and what to give instead."""
    from samvid.tracker.frames import VIDEO_SUFFIXES

    layout = "a DAVIS-layout root (JPEGImages/<seq>/*.jpg, Annotations/<seq>/<first frame>.png)"
    if not src.exists():
        return f"{src} does not exist: give {layout}"
    if src.is_file() and src.suffix.lower() in VIDEO_SUFFIXES:
        # A clip is what a user has at hand; track reads frames and the first frame's mask.
        return (f"{src} is a video file; track reads {layout}: split it into frames first "
                f"(ffmpeg -i {src} ROOT/JPEGImages/{src.stem}/%05d.jpg) and put the first frame's "
                f"mask in ROOT/Annotations/{src.stem}/00001.png (pixel value = object id)")
    return f"{src} has no JPEGImages/ folder: give {layout}"


def check_sequences(names: list[str], folder: Path) -> None:
    """Refuse ``--seq`` names with no folder in ``folder`` (SRC's frames, eval's GT) before
    any work, naming the sequences there: a typo failed alone as a bare "No such file or
    directory" (track, after the engine had loaded), and the exit status read as a
    sequence that failed."""
    from samvid.tracker.metrics import sequence_folders

    absent = [name for name in names if not (folder / name).is_dir()]
    if absent:
        there = sequence_folders(folder)
        shown = ", ".join(there[:10]) + (f" and {len(there) - 10} more" if len(there) > 10 else "")
        raise NotFound(f"--seq {', '.join(absent)}: no such sequence in {folder}; its sequences are {shown}")


def check_out(out: Path, names: list[str]) -> None:
    """Refuse an OUT where ``Annotations/<seq>/`` folders cannot be made because a file is in
    the way (OUT itself, OUT/Annotations, a folder above, or a sequence's own folder): every
    sequence (or that one) failed with a bare "Not a directory" or "File exists", after the
    engine had loaded."""
    target = out / "Annotations"
    for path in (target, *target.parents):
        if path.is_dir():
            break
        if path.exists():
            raise BadRequest(f"{path} is a file, not a folder: give an OUT folder (made if missing) "
                             "for Annotations/<seq>/*.png")
    for name in names:
        if (target / name).exists() and not (target / name).is_dir():
            raise BadRequest(f"{target / name} is a file, not a folder: track writes the masks of {name} "
                             "there (Annotations/<seq>/*.png); move the file away or give another OUT folder")


# What a DAVIS root or a `samvid export` has and `samvid track` never writes: frames, the
# export's manifest (``samvid.export.manifest.MANIFEST``), the lists of sequences.
DATASET_MARKS = ("JPEGImages", "samvid.json", "ImageSets")


def check_not_a_dataset(out: Path, names: list[str]) -> None:
    """Refuse an OUT that is a DAVIS root or a `samvid export` (the full dataset beside a
    subset, an export made with --no-images): its Annotations are people's masks, and each
    tracked sequence's were deleted and replaced. A folder of Annotations/ alone cannot be
    told from an earlier run's OUT, which must stay re-trackable into (docs/tracker.md)."""
    found = [mark for mark in DATASET_MARKS if (out / mark).exists()]
    if not found:
        return
    shown = ", ".join(f"{mark}/" if (out / mark).is_dir() else mark for mark in found)
    held = [name for name in names if (out / "Annotations" / name).is_dir()]
    # Overwriting is named only where it would happen: a root without Annotations/, or in
    # the official layout (Annotations/480p/<seq>), loses nothing, yet is still no OUT.
    losing = (f", and would delete and replace the masks of {', '.join(held)} in {out / 'Annotations'}"
              if held else "")
    raise BadRequest(f"{out} is a DAVIS root or a samvid export (it has {shown}): track writes its "
                     f"predictions to a folder of their own{losing}; give another OUT folder")


# What track reads from the environment: the engine's options (``EngineOptions.of``), the
# model of ``auto`` and ``sam2``, and how large an image it opens.
TRACK_VARIABLES = ("SAMVID_DEVICE", "SAMVID_PRECISION", "SAMVID_RANDOM_WEIGHTS", "SAMVID_TRACKER_MODEL",
                   "SAMVID_MAX_IMAGE_PIXELS")


def track_settings() -> Settings:
    """The settings of ``TRACK_VARIABLES`` alone, checked as ``Settings.from_env`` checks them:
    a REDIS_URL or LABEL_STUDIO_URL this offline command never uses is no reason to refuse it
    (as ``samvid eval`` reads only SAMVID_MAX_IMAGE_PIXELS)."""
    from samvid.settings import Settings, env_value

    return Settings.from_env({var: value for var in TRACK_VARIABLES if (value := env_value(var)) is not None})


def summary(name: str, tracked: Tracked, seconds: float) -> str:
    """``seq: 3 of 4 frames in 0.2 s (15.0 frames/s); skipped 00002`` (a frame the engine could
    not read has no mask, and eval scores it as empty)."""
    line = (f"{name}: {tracked.written} of {tracked.total} frames in {seconds:.1f} s "
            f"({tracked.written / max(seconds, 1e-9):.1f} frames/s)")
    return f"{line}; skipped {', '.join(tracked.skipped)}" if tracked.skipped else line


def run(args: argparse.Namespace) -> int:
    from samvid.images import let_pillow_open
    from samvid.tracker.davis import frames_dir, sequence_names, sequences, track_one
    from samvid.tracker.engines import EngineOptions, choose_engine, make_engine
    from samvid.tracker.metrics import annotations_dir

    try:
        if not frames_dir(args.src, args.resolution).is_dir():
            raise NotFound(not_a_root(args.src))
        names = sequence_names(args.seq or sequences(args.src, args.resolution),
                               frames_dir(args.src, args.resolution))
        check_sequences(names, frames_dir(args.src, args.resolution))
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
    check_not_a_dataset(args.out, names)
    check_out(args.out, names)
    # An unknown engine or a model without weights: said before any work. Engines keep no
    # state between runs, so one serves every sequence (a model is loaded once).
    settings = track_settings()
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
