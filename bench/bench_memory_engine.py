"""Speed of the model engines with random weights (timings are real, masks are noise).

SAM 2.1-tiny memory engine: frames/s for 1 and 3 objects (the cost of extra objects
should be sub-linear: the image encoder runs once per frame for all of them), and the
flow-guided engine around SAM ViT-B, at 480p on this CPU.

    python bench/bench_memory_engine.py [--frames 6]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from samvid.tracker.memory_engine import MemoryEngine, load_video_model


def disk(cx: int, cy: int, shape=(480, 854), r: int = 40) -> np.ndarray:
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r


def per_frame(engine, frames, objects: int) -> float:
    state = engine.init_state(frames)
    for k in range(objects):
        engine.add_mask(state, 0, k + 1, disk(150 + 250 * k, 240))
    times, last = [], time.perf_counter()
    for fm in engine.propagate(state, start=0):
        now = time.perf_counter()
        if fm.frame > 0:  # frame 0 is the conditioning frame
            times.append(now - last)
        last = now
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=6)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (480, 854, 3), dtype=np.uint8) for _ in range(args.frames)]
    rows = []
    engine = MemoryEngine(load_video_model(random_weights=True))
    for objects in (1, 3):
        s = per_frame(engine, frames, objects)
        rows.append((f"sam2 (SAM 2.1-tiny), {objects} object{'s' if objects > 1 else ''}", s))
    import torch
    import transformers as tf

    from samvid.models.sam import SamSegmenter
    from samvid.tracker.guided_engine import GuidedEngine

    sam = SamSegmenter(tf.SamModel(tf.SamConfig()).eval(), "sam", "sam-vit-base@random", "cpu", torch.float32)
    rows.append(("guided (SAM ViT-B), 1 object", per_frame(GuidedEngine(sam), frames, 1)))
    print("| engine, 480p, random weights | s per frame (median) | frames/s |")
    print("|---|---|---|")
    for name, s in rows:
        print(f"| {name} | {s:.2f} | {1 / s:.2f} |")


if __name__ == "__main__":
    main()
