"""``samvid eval PRED GT``: DAVIS J, F and J&F per sequence and their mean.

Both are DAVIS roots (or their ``Annotations`` folders). The first frame is excluded;
the mean is over all objects of all sequences, as DAVIS reports it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from samvid.errors import NotFound


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pred", type=Path, help="predicted masks (DAVIS layout)")
    parser.add_argument("gt", type=Path, help="ground truth (DAVIS layout)")
    parser.add_argument("--seq", nargs="*", help="sequences to score (default: all in GT)")
    parser.add_argument("--skip-last", action="store_true", help="also drop the last frame (DAVIS 2017)")


def run(args: argparse.Namespace) -> int:
    from samvid.tracker.metrics import annotations_dir, dataset_mean, evaluate_folders

    for root in (args.pred, args.gt):
        if not annotations_dir(root).is_dir():
            raise NotFound(f"{root} is not a folder of masks")
    scores = evaluate_folders(args.pred, args.gt, args.seq, args.skip_last)
    print(f"{'sequence':<16} {'objects':>7} {'J':>6} {'F':>6} {'J&F':>6}")
    for s in scores:
        print(f"{s.name:<16} {len(s.objects):>7} {s.j:6.3f} {s.f:6.3f} {s.jf:6.3f}")
    j, f, jf = dataset_mean(scores)
    print(f"{'mean':<16} {sum(len(s.objects) for s in scores):>7} {j:6.3f} {f:6.3f} {jf:6.3f}")
    return 0
