"""Tracker benchmark: J&F per sequence for every engine, real video first; speed.

    python bench/bench_tracker.py                 # everything
    python bench/bench_tracker.py --engines flow copy --no-synthetic --no-speed
    python bench/bench_tracker.py --engines flow copy --variants

1. Real video, the yardstick: every engine on the DAVIS 2016 sequences of
   ``../shared/davis16`` (or ``--davis ROOT``, flat or official layout), frame 0's human
   mask given, every other frame scored against the human masks: J, F, J&F and frames/s
   per sequence, the copy-frame-0 baseline in the same run.
2. Synthetic, the second check: the fixed ``BENCHMARK_SET`` at 480p (exact masks), once
   rendered, once JPEG-compressed at quality 92 as DAVIS ships frames (``samvid track``
   on the folders from ``python bench/synthetic.py`` sees exactly these).
   ``guided`` is the flow-guided engine around the weight-free classic segmenter; the
   SAM-based engines need weights for their J&F (their speed: bench_memory_engine.py).
3. With ``--variants``: the real sequences changed as other footage differs from them
   (played backwards, every second frame, mirrored, half size, dull, heavy JPEG), the
   mean J&F per engine and its worst sequence.
4. Speed: median seconds per frame for one object (sequence "scale") at 480p and 720p,
   reported as frames/s per object.
Memory over a 10-minute 1080p video is bench_long_video.py.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from machine import describe
from synthetic import BENCHMARK_SET, SyntheticVideo, as_jpeg, parse_size
from variants import dull, jpeg, mirror, resize_image, resize_labels

from samvid.tracker.davis import JpegFolder, frames_dir, label_map, sequences
from samvid.tracker.engines import ENGINES, make_engine
from samvid.tracker.masks import read_label_png
from samvid.tracker.metrics import (
    SequenceScore,
    annotations_dir,
    dataset_mean,
    first_frame_objects,
    score_sequence,
)


def frame_times(
    engine_name: str, frames: list[np.ndarray], first: np.ndarray
) -> tuple[list[np.ndarray], list[float]]:
    """Label maps and the seconds each propagated frame took (frame 0 excluded)."""
    engine = make_engine(engine_name)
    state = engine.init_state(frames)
    for o in first_frame_objects(first):  # not DAVIS's void (255) beside them
        engine.add_mask(state, 0, o, first == o)
    labels, times = [], []
    t = time.perf_counter()
    for fm in engine.propagate(state, 0):
        now = time.perf_counter()
        if fm.frame > 0:
            times.append(now - t)
        labels.append(label_map(fm))
        t = time.perf_counter()
    return labels, times


DAVIS = Path(__file__).resolve().parents[2] / "shared" / "davis16"


def read_clip(root: Path, name: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A real sequence's frames and its human label maps."""
    src = JpegFolder.of(frames_dir(root) / name)
    ann = annotations_dir(root) / name
    return [src[i] for i in range(len(src))], [read_label_png(ann / (f.stem + ".png")) for f in src.files]


def real(engines: list[str], root: Path) -> None:
    """Per-sequence J, F, J&F and frames/s of every engine on real DAVIS sequences."""
    rows: dict[str, list[tuple[SequenceScore, float]]] = {e: [] for e in engines}
    names = sequences(root)
    for name in names:
        frames, gt = read_clip(root, name)
        for e in engines:
            t = time.perf_counter()
            pred, _ = frame_times(e, frames, gt[0])
            fps = len(frames) / (time.perf_counter() - t)
            rows[e].append((score_sequence(name, pred, gt), fps))
            print(f"  {e:<13} {name:<16} J&F {rows[e][-1][0].jf:.3f}  {fps:.1f} frames/s", flush=True)
    print(f"\nReal video: {root.name}, {len(names)} sequences, frame 0 given\n")
    print("| sequence | " + " | ".join(f"{e} J / F / J&F" for e in engines) + " |")
    print("|---|" + "---:|" * len(engines))
    for k, name in enumerate(names):
        cells = [f"{rows[e][k][0].j:.3f} / {rows[e][k][0].f:.3f} / **{rows[e][k][0].jf:.3f}**" for e in engines]
        print(f"| {name} | " + " | ".join(cells) + " |")
    means = {e: dataset_mean([r[0] for r in rows[e]]) for e in engines}
    print("| **mean** | " + " | ".join(f"{m[0]:.3f} / {m[1]:.3f} / **{m[2]:.3f}**" for m in means.values()) + " |")
    print("| frames/s per object, median | " + " | ".join(
        f"{statistics.median(r[1] for r in rows[e]):.1f}" for e in engines) + " |")
    if "copy" in rows:
        base = [r[0].jf for r in rows["copy"]]
        print("| sequences above copy | " + " | ".join(
            f"{sum(r[0].jf > b for r, b in zip(rows[e], base))} of {len(base)}" for e in engines) + " |")


Frames = list[np.ndarray]


def _backwards(frames: Frames, gt: Frames) -> tuple[Frames, Frames]:
    """Played backwards from the last frame that shows an object (surf's last shows none)."""
    last = max(i for i, g in enumerate(gt) if g.any())
    return frames[last::-1], gt[last::-1]


# Each keeps the human masks exact; frame 0 of the result is the one given.
SEQUENCE_VARIANTS: dict[str, Callable[[Frames, Frames], tuple[Frames, Frames]]] = {
    "as they are": lambda f, g: (f, g),
    "played backwards (the last frame given)": _backwards,
    "every second frame (twice the motion)": lambda f, g: (f[::2], g[::2]),
    "every third frame (three times the motion)": lambda f, g: (f[::3], g[::3]),
    "mirrored": lambda f, g: ([mirror(x) for x in f], [mirror(x) for x in g]),
    "half size (427x240)": lambda f, g: (
        [resize_image(x, (427, 240)) for x in f], [resize_labels(x, (427, 240)) for x in g]),
    "dull: 30% colour, 60% contrast": lambda f, g: ([dull(x) for x in f], g),
    "JPEG quality 20": lambda f, g: ([jpeg(x, 20) for x in f], g),
}


def real_variants(engines: list[str], root: Path) -> None:
    """Mean J&F of every engine on the real sequences changed as in ``SEQUENCE_VARIANTS``."""
    clips = [(name, *read_clip(root, name)) for name in sequences(root)]
    print("\n| real sequences | " + " | ".join(f"{e}: mean J&F (worst sequence)" for e in engines) + " |")
    print("|---|" + "---:|" * len(engines))
    for variant, change in SEQUENCE_VARIANTS.items():
        cells = []
        for e in engines:
            scores = []
            for name, frames, gt in clips:
                f, g = change(frames, gt)
                pred, _ = frame_times(e, f, g[0])
                scores.append(score_sequence(name, pred, g))
            worst = min(scores, key=lambda sc: sc.jf)
            cells.append(f"{dataset_mean(scores)[2]:.3f} ({worst.name} {worst.jf:.3f})")
        print(f"| {variant} | " + " | ".join(cells) + " |", flush=True)


def quality(engines: list[str], compress: bool, size: tuple[int, int]) -> dict[str, list[SequenceScore]]:
    results: dict[str, list[SequenceScore]] = {e: [] for e in engines}
    for name, spec in BENCHMARK_SET.items():
        video = SyntheticVideo(spec, size)
        frames = [as_jpeg(video[i]) if compress else video[i] for i in range(len(video))]
        gt = [video.labels(i) for i in range(len(video))]
        for e in engines:
            pred, _ = frame_times(e, frames, gt[0])
            results[e].append(score_sequence(name, pred, gt))
            print(
                f"  {e:<13} {name:<12} {'jpeg' if compress else 'raw':<4} J&F {results[e][-1].jf:.3f}",
                flush=True,
            )
    return results


def print_quality(results: dict[str, list[SequenceScore]], title: str) -> None:
    engines = list(results)
    print(f"\n{title}\n\n| sequence | " + " | ".join(engines) + " |")
    print("|---|" + "---:|" * len(engines))
    for k, name in enumerate(BENCHMARK_SET):
        print(f"| {name} | " + " | ".join(f"{results[e][k].jf:.3f}" for e in engines) + " |")
    print(
        "| **mean J&F** (over objects) | "
        + " | ".join(f"**{dataset_mean(results[e])[2]:.3f}**" for e in engines)
        + " |"
    )
    print("| mean J | " + " | ".join(f"{dataset_mean(results[e])[0]:.3f}" for e in engines) + " |")
    print("| mean F | " + " | ".join(f"{dataset_mean(results[e])[1]:.3f}" for e in engines) + " |")
    print("| worst sequence | " + " | ".join(f"{min(s.jf for s in results[e]):.3f}" for e in engines) + " |")


def speed(engines: list[str]) -> None:
    print("\n| engine | 480p frames/s per object | 720p frames/s per object |")
    print("|---|---:|---:|")
    rows: dict[str, list[str]] = {e: [] for e in engines}
    for size in ((480, 854), (720, 1280)):
        video = SyntheticVideo(BENCHMARK_SET["scale"], size)
        frames = [video[i] for i in range(len(video))]
        first = video.labels(0)
        for e in engines:
            _, times = frame_times(e, frames, first)
            rows[e].append(f"{1 / statistics.median(times):.1f}")
    for e in engines:
        print(f"| {e} | " + " | ".join(rows[e]) + " |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    names = [*ENGINES, "guided"]
    ap.add_argument("--engines", nargs="+", default=names, choices=names)
    ap.add_argument("--no-jpeg", action="store_true", help="skip the JPEG-compressed quality table")
    ap.add_argument("--no-raw", action="store_true", help="skip the rendered-frames quality table")
    ap.add_argument("--size", type=parse_size, default=(480, 854), help="HxW of the quality runs (default 480x854)")
    ap.add_argument("--davis", type=Path, help=f"real DAVIS root (default {DAVIS}, its table skipped if absent)")
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--no-synthetic", action="store_true")
    ap.add_argument("--no-quality", action="store_true", help="neither real nor synthetic")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--variants", action="store_true", help="only the real sequences, changed (see variants.py)")
    args = ap.parse_args()
    if args.davis is not None and not args.davis.is_dir():  # named, so meant: not skipped quietly
        ap.error(f"no real sequences at {args.davis}: give the DAVIS root (JPEGImages/, Annotations/)")
    root = args.davis or DAVIS
    print(describe(), flush=True)
    logging.basicConfig(level=logging.WARNING)
    cv2.setNumThreads(max(1, cv2.getNumThreads()))
    print(f"cv2 threads: {cv2.getNumThreads()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
    if args.variants:
        if not root.is_dir():
            ap.error(f"no real sequences at {root}: --variants needs them (--davis ROOT)")
        real_variants(args.engines, root)
        return 0
    if not args.no_quality and not args.no_real:
        if root.is_dir():
            real(args.engines, root)
        else:
            print(f"no real sequences at {root}: real-video table skipped (--davis ROOT)")
    if not args.no_quality and not args.no_synthetic:
        size = "x".join(map(str, args.size))
        if not args.no_raw:
            print_quality(quality(args.engines, False, args.size), f"Rendered frames, {size}")
        if not args.no_jpeg:
            print_quality(quality(args.engines, True, args.size), f"The same frames as JPEG (quality 92), {size}")
    if not args.no_speed:
        speed(args.engines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
