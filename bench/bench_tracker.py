"""Tracker benchmark: J&F per synthetic sequence for every engine, speed, memory.

    python bench/bench_tracker.py                 # everything (~12 min on 2 cores)
    python bench/bench_tracker.py --engines flow warp --no-speed --no-jpeg

1. Quality: each engine on the fixed ``BENCHMARK_SET`` at 480p, scored with DAVIS J&F
   (first frame excluded): once on the rendered frames, once on the same frames
   JPEG-compressed at quality 92 as DAVIS ships them (``samvid track`` on the folders
   from ``python -m samvid.tracker.synthetic`` sees exactly these). One table each.
   ``guided`` is the flow-guided engine around the weight-free classic segmenter; the
   SAM-based engines need weights for their J&F (their speed: bench_memory_engine.py).
2. Speed: median seconds per frame for one object (sequence "scale") at 480p and 720p,
   reported as frames/s per object.
Memory over a 10-minute 1080p video is bench_long_video.py.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

import cv2
import numpy as np

from samvid.tracker.davis import label_map, masks_of
from samvid.tracker.engines import ENGINES, make_engine
from samvid.tracker.metrics import SequenceScore, dataset_mean, score_sequence
from samvid.tracker.synthetic import BENCHMARK_SET, SyntheticVideo, as_jpeg


def frame_times(
    engine_name: str, frames: list[np.ndarray], first: np.ndarray
) -> tuple[list[np.ndarray], list[float]]:
    """Label maps and the seconds each propagated frame took (frame 0 excluded)."""
    engine = make_engine(engine_name)
    state = engine.init_state(frames)
    for o, m in masks_of(first).items():
        engine.add_mask(state, 0, o, m)
    labels, times = [], []
    t = time.perf_counter()
    for fm in engine.propagate(state, 0):
        now = time.perf_counter()
        if fm.frame > 0:
            times.append(now - t)
        labels.append(label_map(fm))
        t = time.perf_counter()
    return labels, times


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
    ap.add_argument("--engines", nargs="*", default=names, choices=names)
    ap.add_argument("--no-jpeg", action="store_true", help="skip the JPEG-compressed quality table")
    ap.add_argument("--size", default="480x854", help="HxW of the quality runs (default 480x854)")
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cv2.setNumThreads(max(1, cv2.getNumThreads()))
    print(f"cv2 threads: {cv2.getNumThreads()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
    if not args.no_quality:
        size = tuple(int(v) for v in args.size.split("x"))
        print_quality(quality(args.engines, False, size), f"Rendered frames, {args.size}")
        if not args.no_jpeg:
            print_quality(
                quality(args.engines, True, size), f"The same frames as JPEG (quality 92), {args.size}"
            )
    if not args.no_speed:
        speed(args.engines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
