"""``samvid eval PRED GT``: DAVIS J, F and J&F per sequence and their mean.

Both are DAVIS roots (or their ``Annotations`` folders). The first frame is excluded;
the mean is over all objects of all sequences, as DAVIS reports it. A predicted frame
that is missing is scored as empty and counted aloud; a sequence that cannot be scored
(no object in its first ground-truth frame, predicted ids none of the ground truth's, no
frame left to score) is reported as FAILED (exit status 1).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from samvid.commands.arguments import path_arg
from samvid.errors import BadRequest, NotFound


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pred", type=path_arg, help="predicted masks (DAVIS layout)")
    parser.add_argument("gt", type=path_arg, help="ground truth (DAVIS layout)")
    # One name per --seq: a list option took PRED and GT after it as sequences. A bare --seq
    # (``--seq $SEQS`` with SEQS unset) is still refused: it scored every sequence.
    parser.add_argument("--seq", action="append", metavar="NAME",
                        help="a sequence to score (default: all in GT; repeat for several: --seq a --seq b)")
    parser.add_argument("--resolution", default="480p",
                        help="resolution level of the official DAVIS layout (default 480p; ignored for the flat one)")
    parser.add_argument("--skip-last", action="store_true", help="also drop the last frame (DAVIS 2017)")


def nothing_to_score(truth: Path, frames: Path | None, skip_last: bool) -> str:
    """Why a sequence (``truth``: its ground-truth folder; ``frames``: its frames folder in
    the GT root, if there is one) left no frame to score, and what to do."""
    from samvid.tracker.frames import list_images
    from samvid.tracker.metrics import label_pngs

    last = " and, with --skip-last, the last" if skip_last else ""
    if len(label_pngs(truth)) != 1:
        return f"no frame to score: the score leaves out the first frame{last}"
    if frames is not None and frames.is_dir() and len(list_images(frames)) == 1:
        # A clip of one frame: its GT is complete, and asking for later masks sent the
        # reader looking for frames that do not exist.
        return f"no frame to score: {truth.name} has one frame, and the score leaves out the first frame"
    # A root made to track from (`samvid track` needs the first mask only) given as GT:
    # "the score leaves out the first frame" did not say that the GT was the wrong folder.
    return (f"no frame to score: {truth} holds the first frame's mask only, and the score leaves "
            f"out the first frame{last}; give as GT a folder with masks of the later frames too")


def run(args: argparse.Namespace) -> int:
    from samvid.commands.track import check_sequences
    from samvid.images import let_pillow_open
    from samvid.settings import Settings, env_value
    from samvid.tracker.davis import sequence_names
    from samvid.tracker.metrics import annotations_dir, dataset_mean, evaluate_folders, sequence_folders

    # Label PNGs as large as samvid reads images, as ``track`` reads them. That setting alone:
    # a SAMVID_DEVICE or REDIS_URL this offline scorer never uses is no reason to refuse it.
    pixels = env_value("SAMVID_MAX_IMAGE_PIXELS")
    let_pillow_open(Settings.from_env({"SAMVID_MAX_IMAGE_PIXELS": pixels} if pixels else {}).max_image_pixels)
    try:
        for root in (args.pred, args.gt):
            if not annotations_dir(root, args.resolution).is_dir():
                raise NotFound(f"{root} is not a folder of masks")
        # A sequence named twice is scored once: the mean is over objects, and a repeat
        # would count its objects twice.
        truth = annotations_dir(args.gt, args.resolution)
        names = sequence_names(args.seq or sequence_folders(truth), truth)
        check_sequences(names, truth)  # a typo: said before any scoring, as track says it
    except FileNotFoundError as exc:  # no sequence folders, or a --resolution the root lacks
        raise NotFound(str(exc)) from None
    except ValueError as exc:  # a --seq that names no sequence
        raise BadRequest(str(exc)) from None
    scores, failed = [], []
    for name in names:
        try:
            (score,) = evaluate_folders(args.pred, args.gt, [name], args.skip_last, args.resolution)
            if not score.scored:
                # Too short for DAVIS's rule: a row of nan would read as a score, and the mean
                # would count objects it never scored.
                raise ValueError(nothing_to_score(truth / name, _frames_of(args.gt, args.resolution, name),
                                                  args.skip_last))
        except (OSError, ValueError) as exc:
            failed.append(name)
            print(f"{name}: FAILED ({exc})")
            continue
        scores.append(score)
        if scores[-1].missing:
            # Scored as empty, as DAVIS does; said, so a partial output is not read as lost frames.
            print(f"{name}: {scores[-1].missing} of {scores[-1].n_frames} scored frames have no "
                  "predicted mask (scored as empty)")
    print(f"{'sequence':<16} {'objects':>7} {'J':>6} {'F':>6} {'J&F':>6}")
    for s in scores:
        print(f"{s.name:<16} {len(s.objects):>7} {s.j:6.3f} {s.f:6.3f} {s.jf:6.3f}")
    if scores:  # with every sequence failed, a mean of nothing (nan) would read as a score
        j, f, jf = dataset_mean(scores)
        print(f"{'mean':<16} {sum(len(s.objects) for s in scores):>7} {j:6.3f} {f:6.3f} {jf:6.3f}")
    if failed:
        print(f"{len(failed)} of {len(names)} sequences failed: {', '.join(failed)}")
    return 1 if failed else 0


def _frames_of(root: Path, resolution: str, name: str) -> Path | None:
    """The frames folder of sequence ``name`` in a DAVIS root, or None (a GT root of masks only)."""
    from samvid.tracker.davis import frames_dir

    try:
        return frames_dir(root, resolution) / name
    except (OSError, ValueError):
        return None
