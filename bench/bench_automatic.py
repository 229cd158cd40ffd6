"""Automatic masks ("segment everything") per frame, on this machine.

For each grid: one encoder run (cached afterwards), then every click of the grid
decoded in batches on the cached embedding, filtered and de-duplicated:
  encoder   seconds of ``embed`` on a 1280x720 frame (once per frame)
  decode    seconds of the batched decoder passes for the whole grid
  filter    seconds of thresholds, NMS and upsampling of the kept masks
  frame     encoder + decode + filter: a frame nobody has opened yet
Random weights (none can be downloaded here): the timings are real, the masks are
noise, so the thresholds are opened (pred_iou, stability = 0) to time the worst case
of the filtering too (every candidate survives to NMS).

    python bench/bench_automatic.py [--model facebook/sam2.1-hiera-tiny] [--grids 16 32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from machine import describe

from samvid.automatic import (
    AutoConfig,
    Candidates,
    finish_masks,
    keep_candidates,
    point_grid,
    sam_decode_points,
    stability_score,
)
from samvid.commands.arguments import at_least_one
from samvid.models import load_segmenter

try:  # run as ``python bench/bench_automatic.py``: bench/ is on the path
    from bench_predict import model_name
except ImportError:  # pragma: no cover - imported as bench.bench_automatic
    from bench.bench_predict import model_name


def run(model: str, grids: list[int], batch: int, size: tuple[int, int]) -> list[dict]:
    # The same random weights on every run, as bench_precision: the timings must not depend
    # on the draw (weights that drive activations into subnormal floats are slower on CPU).
    torch.manual_seed(0)
    segmenter = load_segmenter(model, device="cpu", random_weights=True)
    image = np.random.default_rng(0).integers(0, 255, (*size, 3), dtype=np.uint8)
    t = time.perf_counter()
    emb = segmenter.embed(image)
    encoder = time.perf_counter() - t
    rows = []
    for n in grids:
        config = AutoConfig(grid=n, batch=batch, pred_iou=0.0, stability=0.0)
        points = point_grid(n, size[1], size[0])
        decode = filtering = 0.0
        parts = []
        for start in range(0, len(points), batch):
            t = time.perf_counter()
            logits, iou = sam_decode_points(segmenter, emb, points[start:start + batch])
            decode += time.perf_counter() - t
            t = time.perf_counter()
            logits = logits.reshape(-1, *logits.shape[-2:])
            part = Candidates(logits.astype(np.float16), iou.reshape(-1),
                              stability_score(logits, config.stability_offset))
            parts.append(keep_candidates(part, config))
            filtering += time.perf_counter() - t
        t = time.perf_counter()
        masks = finish_masks(keep_candidates(Candidates.concat(parts), config), size, config)
        filtering += time.perf_counter() - t
        rows.append({"grid": f"{n}x{n}", "clicks": n * n, "encoder": encoder, "decode": decode,
                     "per_click_ms": decode / (n * n) * 1000, "filter": filtering,
                     "frame": encoder + decode + filtering, "masks": len(masks)})
        print(f"  {rows[-1]}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=model_name, default="facebook/sam2.1-hiera-tiny")
    parser.add_argument("--grids", type=at_least_one, nargs="+", default=[16, 32])
    parser.add_argument("--batch", type=at_least_one, default=64, help="clicks per decoder pass")
    parser.add_argument("--threads", type=at_least_one, default=torch.get_num_threads())
    args = parser.parse_args()
    print(describe(), flush=True)
    torch.set_num_threads(args.threads)
    print(f"{args.model}, random weights, 1280x720, {args.threads} threads, batch {args.batch}")
    rows = run(args.model, args.grids, args.batch, (720, 1280))
    print("\n| grid | clicks | encoder s | decode s | ms/click | filter s | frame s | masks |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['grid']} | {r['clicks']} | {r['encoder']:.1f} | {r['decode']:.1f} | "
              f"{r['per_click_ms']:.0f} | {r['filter']:.1f} | {r['frame']:.1f} | {r['masks']} |")


if __name__ == "__main__":
    main()
