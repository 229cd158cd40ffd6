"""Click-to-mask latency of the backend, per model, on this machine.

Measures through the real ``Predictor`` (image read, embedding cache, decoder):
  encoder   median seconds of ``embed`` on a 1280x720 frame
  cold      first click on a frame never seen (read + encode + decode)
  cached    p50 / p90 of later clicks on the same frame (decoder only)
SAM models are built with random weights (none can be downloaded here): the
timings are real, the masks are noise.

    python bench/bench_predict.py [--models NAME ...] [--clicks 30] [--frames 3] [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import describe
from PIL import Image

from samvid.core.prompts import Prompt
from samvid.models import load_segmenter
from samvid.models.registry import MODELS
from samvid.predictor import Predictor
from samvid.settings import Settings

DEFAULT_MODELS = [
    "facebook/sam2.1-hiera-tiny",
    "facebook/sam2.1-hiera-small",
    "facebook/sam2.1-hiera-base-plus",
    "facebook/sam2.1-hiera-large",
    "facebook/sam-vit-base",
    "facebook/sam-vit-large",
    "facebook/sam-vit-huge",
    "classic",
]


def frames(folder: Path, n: int, size=(720, 1280)) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"frame{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path, quality=90)
        paths.append(str(path))
    return paths


# How long a click may wait for its embedding. The server's limit (SAMVID_REQUEST_TIMEOUT,
# 60 s) would end the bench at the first cold click slower than that (SAM ViT-H takes 54 s
# on an idle 2-core machine): the bench times the click, it does not enforce a limit.
CLICK_WAIT_S = 24 * 3600.0


def bench(model: str, paths: list[str], clicks: int, device: str = "cpu") -> dict[str, float]:
    settings = Settings.from_env({}, model=model, random_weights=True, local_roots=(Path(paths[0]).parent,),
                                 request_timeout=CLICK_WAIT_S)
    # The same random weights on every run, as bench_precision: the timings must not depend
    # on the draw (weights that drive activations into subnormal floats are slower on CPU).
    torch.manual_seed(0)
    segmenter = load_segmenter(model, device=device, random_weights=True)  # precision: auto
    predictor = Predictor.from_settings(settings, segmenter=segmenter)
    # The encoder alone, on an already decoded frame, after one warm-up run (on CUDA the
    # first run sets up its kernels).
    image = np.asarray(Image.open(paths[0]).convert("RGB"))
    enc = []
    for _ in range(4):
        t = time.perf_counter()
        segmenter.embed(image)
        enc.append(time.perf_counter() - t)
    rng = np.random.default_rng(1)
    h, w = image.shape[:2]
    colds, cached = [], []
    for path in paths:
        t = time.perf_counter()
        predictor.predict(path, Prompt(points=((w / 2, h / 2),), labels=(1,)))
        colds.append(time.perf_counter() - t)
        for _ in range(clicks):
            pts = tuple((float(x), float(y)) for x, y in rng.uniform([0, 0], [w, h], (2, 2)))
            prompt = Prompt(points=pts, labels=(1, 0))
            cached.append(predictor.predict(path, prompt).seconds)
    cached.sort()
    return {
        "encoder_s": statistics.median(enc[1:]),
        "cold_s": statistics.median(colds),
        "cached_p50_ms": 1000 * cached[len(cached) // 2],
        "cached_p90_ms": 1000 * cached[int(len(cached) * 0.9)],
    }


def model_name(name: str) -> str:
    """A ``--models`` value: a model of the registry, the stand-in, or a local model folder.
    Built with random weights, any other name (a typo) would give the default architecture,
    timed in a row that bears the name."""
    if name in MODELS or name.startswith("standin:") or Path(name).expanduser().is_dir():
        return name
    raise argparse.ArgumentTypeError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}, "
                                     "standin:R or a local model folder")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", type=model_name, default=DEFAULT_MODELS)
    parser.add_argument("--clicks", type=int, default=30)
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]; the precision is auto (fp16 on CUDA)")
    args = parser.parse_args()
    if args.clicks < 1 or args.frames < 1:
        parser.error("--clicks and --frames must be at least 1: the cached clicks and the cold first click "
                     "are measured on them")
    print(describe(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        paths = frames(Path(tmp), args.frames)
        print(f"| model ({args.device}) | encoder (s, 720p) | cold first click (s) | cached click p50 (ms) | p90 (ms) |")
        print("|---|---|---|---|---|")
        for model in args.models:
            r = bench(model, paths, args.clicks, args.device)
            print(
                f"| {model} | {r['encoder_s']:.2f} | {r['cold_s']:.2f} | "
                f"{r['cached_p50_ms']:.0f} | {r['cached_p90_ms']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
