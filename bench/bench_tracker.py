"""Tracker benchmark: J&F per synthetic sequence for every engine, speed, memory.

    python bench/bench_tracker.py                 # everything (~12 min on 2 cores)
    python bench/bench_tracker.py --engines flow warp --no-speed --long-frames 0

1. Quality: each engine on the fixed ``BENCHMARK_SET`` at 480p (frames rendered in memory
   before timing), scored with DAVIS J&F (first frame excluded). One run, one table.
2. Speed: median seconds per frame for one object (sequence "scale") at 480p and 720p,
   reported as frames/s per object.
3. Memory: the flow engine on a long streamed 1080p synthetic video (frames rendered on
   demand, never stored): peak RSS at checkpoints must stay flat as the length grows.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from samvid.tracker.davis import label_map, masks_of
from samvid.tracker.engines import ENGINES, make_engine
from samvid.tracker.metrics import SequenceScore, dataset_mean, score_sequence
from samvid.tracker.synthetic import BENCHMARK_SET, SyntheticVideo, long_sequence


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def frame_times(engine_name: str, frames: list[np.ndarray], first: np.ndarray) -> tuple[list[np.ndarray], list[float]]:
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


def quality(engines: list[str]) -> dict[str, list[SequenceScore]]:
    results: dict[str, list[SequenceScore]] = {e: [] for e in engines}
    for name, spec in BENCHMARK_SET.items():
        video = SyntheticVideo(spec)
        frames = [video[i] for i in range(len(video))]
        gt = [video.labels(i) for i in range(len(video))]
        for e in engines:
            pred, _ = frame_times(e, frames, gt[0])
            results[e].append(score_sequence(name, pred, gt))
            print(f"  {e:<13} {name:<12} J&F {results[e][-1].jf:.3f}", flush=True)
    return results


def print_quality(results: dict[str, list[SequenceScore]]) -> None:
    engines = list(results)
    print("\n| sequence | " + " | ".join(engines) + " |")
    print("|---|" + "---:|" * len(engines))
    for k, name in enumerate(BENCHMARK_SET):
        print(f"| {name} | " + " | ".join(f"{results[e][k].jf:.3f}" for e in engines) + " |")
    print("| **mean J&F** (over objects) | " + " | ".join(f"**{dataset_mean(results[e])[2]:.3f}**" for e in engines) + " |")
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


def memory(n_frames: int, engine_name: str) -> None:
    video = SyntheticVideo(long_sequence(n_frames), (1080, 1920))
    engine = make_engine(engine_name)
    state = engine.init_state(video)
    engine.add_mask(state, 0, 1, video.labels(0) == 1)
    checkpoints = sorted({n_frames // 8, n_frames // 4, n_frames // 2, n_frames - 1})
    print(f"\n1080p streamed synthetic video, {n_frames} frames, engine {engine_name}")
    print("| frames done | peak RSS (MiB) | frames/s (incl. rendering) |")
    print("|---:|---:|---:|")
    t0 = time.perf_counter()
    for fm in engine.propagate(state, 0):
        if fm.frame in checkpoints:
            fps = (fm.frame + 1) / (time.perf_counter() - t0)
            print(f"| {fm.frame + 1} | {peak_rss_mib():.0f} | {fps:.1f} |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engines", nargs="*", default=list(ENGINES), choices=list(ENGINES))
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--long-frames", type=int, default=600, help="0 skips the memory run")
    ap.add_argument("--long-engine", default="flow-preview", choices=list(ENGINES))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cv2.setNumThreads(max(1, cv2.getNumThreads()))
    print(f"cv2 threads: {cv2.getNumThreads()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
    if not args.no_quality:
        print_quality(quality(args.engines))
    if not args.no_speed:
        speed(args.engines)
    if args.long_frames:
        memory(args.long_frames, args.long_engine)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
