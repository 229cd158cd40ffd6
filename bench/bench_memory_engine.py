"""Speed of the model engines with random weights (timings are real, masks are noise).

SAM 2.1-tiny memory engine: frames/s for 1 and 3 objects (the cost of extra objects
should be sub-linear: the image encoder runs once per frame for all of them), in float32
and bfloat16, and the flow-guided engine around SAM ViT-B, at 480p and 720p on this CPU.

A frame's cost grows while SAM 2's memory bank fills (the memory attention reads up to 6
earlier frames plus the prompt frame), so the median is taken over the frames after it is
full: with the default 12 frames, frames 8-11. Fewer frames than that give the median of
all of them, which flatters the memory engine.

On CUDA (``--device cuda``) the rows are fp32, bf16 and fp16 (the ``auto`` precision there).
The EdgeTAM rows are EdgeTAM's memory (its spatial perceiver) on a Hiera image encoder: a
random-weight ``EdgeTamVideoConfig()`` builds Hiera; only the published checkpoint names
EdgeTAM's RepViT encoder, which needs ``timm``.

    python bench/bench_memory_engine.py [--frames 12] [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from functools import cache

import numpy as np
from machine import describe

from samvid.models.precision import Precision
from samvid.tracker.memory_engine import MemoryEngine, load_video_model


def disk(cx: int, cy: int, shape: tuple[int, int], r: int = 40) -> np.ndarray:
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r


def per_frame(engine, frames, objects: int, settle: int) -> float:
    """Median seconds per tracked frame after the first ``settle`` ones (those are
    cheaper while SAM 2's memory bank fills)."""
    state = engine.init_state(frames)
    for k in range(objects):
        h, w = frames[0].shape[:2]
        engine.add_mask(state, 0, k + 1, disk(150 + 250 * k, h // 2, (h, w)))
    times, last = [], time.perf_counter()
    for fm in engine.propagate(state, start=0):
        now = time.perf_counter()
        if fm.frame > 0:  # frame 0 is the conditioning frame
            times.append(now - last)
        last = now
    return statistics.median(times[settle:] or times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    args = parser.parse_args()
    if args.frames < 2:  # frame 0 is the prompt frame: the median needs a tracked frame after it
        parser.error("--frames must be at least 2 (frame 0 is given, the frames after it are timed)")
    print(describe(), flush=True)
    import torch

    # Random weights drive SAM ViT-B's activations into subnormal floats, which this CPU
    # computes tens of times slower (a 480p frame took 110 s instead of 8 s). Flushing them
    # to zero, before torch starts its worker threads, measures the model, not that
    # artefact of random weights. It does not change SAM 2.1-tiny's times.
    torch.set_flush_denormal(True)
    warnings.filterwarnings("ignore", message="The value of the smallest subnormal")  # numpy notices the flush
    import transformers as tf

    from samvid.models.sam import SamSegmenter
    from samvid.tracker.guided_engine import GuidedEngine

    rng = np.random.default_rng(0)
    video = {
        name: [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(args.frames)]
        for name, (h, w) in (("480p", (480, 854)), ("720p", (720, 1280)))
    }
    # Every model is built from the same random weights on every run (seeded before each
    # build, so whichever rows run first), as bench_precision: the timings must not depend
    # on the draw.
    torch.manual_seed(0)
    model = load_video_model(random_weights=True)
    dev = args.device

    @cache
    def sam_vit_b(precision: str):  # one random SAM ViT-B per precision, built when first needed
        dtype = Precision(precision).dtype
        torch.manual_seed(0)
        return SamSegmenter(tf.SamModel(tf.SamConfig()).eval().to(dev, dtype), "sam", "sam-vit-base@random",
                            dev, dtype)

    def make(kind: str, precision: str):
        dtype = Precision(precision).dtype
        if kind == "guided":
            return GuidedEngine(sam_vit_b(precision))
        torch.manual_seed(0)
        video_model = model if kind == "sam2" else load_video_model("yonigozlan/EdgeTAM-hf", random_weights=True)
        return MemoryEngine(video_model, device=dev, dtype=dtype)

    names = {"sam2": "sam2 (SAM 2.1-tiny)", "edgetam": "sam2 (EdgeTAM memory, Hiera encoder)",
             "guided": "guided (SAM ViT-B)"}
    if dev == "cpu":
        runs = [("sam2", "fp32", "480p", 1), ("sam2", "fp32", "480p", 3), ("sam2", "fp32", "720p", 1),
                ("sam2", "bf16", "480p", 1), ("sam2", "bf16", "480p", 3), ("edgetam", "bf16", "480p", 1),
                ("guided", "fp32", "480p", 1), ("guided", "fp32", "720p", 1)]
    else:
        runs = [("sam2", "fp32", "480p", 1), ("sam2", "bf16", "480p", 1), ("sam2", "fp16", "480p", 1),
                ("sam2", "fp16", "480p", 3), ("sam2", "fp16", "720p", 1), ("edgetam", "fp16", "480p", 1),
                ("guided", "fp16", "480p", 1)]
    print("| engine, random weights | size | objects | s per frame (median) | frames/s |")
    print("|---|---|---:|---:|---:|")
    for kind, precision, size, objects in runs:
        name = f"{names[kind]} {precision}"
        try:
            engine = make(kind, precision)
        except Exception as exc:  # EdgeTAM without a working timm/torchvision: say so, go on
            print(f"| {name} | {size} | {objects} | not run: {type(exc).__name__}: {exc} | |", flush=True)
            continue
        s = per_frame(engine, video[size], objects, settle=model.config.num_maskmem)
        print(f"| {name} | {size} | {objects} | {s:.3f} | {1 / s:.2f} |", flush=True)


if __name__ == "__main__":
    main()
