"""Propagation inside Label Studio, end to end: submit -> next frame labelled.

Starts a real Label Studio, imports a synthetic 640x480 clip, connects `samvid serve`
and annotates frame 0 through the API (as the UI's submit does). Measures the time
until frame 1 has its prediction and the frames filled per second, with the
embedded thread jobs and with N `samvid worker` processes on a real Redis (each
worker takes one clip; several clips are submitted at once).

    python bench/bench_propagation.py [--frames 40] [--clips 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "backend")]
from clips import annotate, import_clip, predictions  # noqa: E402
from ls_requests import BRUSH_CONFIG  # noqa: E402
from services import LabelStudio, Redis, free_port, wait_for  # noqa: E402


def serve(ls: LabelStudio, redis: Redis | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, LABEL_STUDIO_URL=ls.url, LABEL_STUDIO_API_KEY=ls.token,
               SAMVID_LOCAL_ROOTS=str(ls.files_root), SAMVID_PRECOMPUTE="off")
    if redis:
        env["REDIS_URL"] = redis.url
    proc = subprocess.Popen([sys.executable, "-m", "samvid.cli", "serve", "--model", "standin",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: requests.get(f"{url}/health", timeout=2).ok, 120, "samvid serve", proc)
    return proc, url


def run(ls: LabelStudio, url: str, frames: int, clips: int, tag: str) -> dict[str, float]:
    made = [import_clip(ls, BRUSH_CONFIG, name=f"{tag}{i}", n=frames, size=(480, 640), radius=60)
            for i in range(clips)]
    for clip in made:
        requests.post(f"{ls.url}/api/ml", headers=ls.headers, timeout=60,
                      json={"url": url, "project": clip.project, "is_interactive": True}).raise_for_status()
    start = time.perf_counter()
    for clip in made:
        annotate(ls, clip.task_ids[0], clip.masks[0], region_id="obj")
    first = []
    for clip in made:
        wait_for(lambda c=clip: predictions(ls, c.task_ids[1]), 300, "frame 1")
        first.append(time.perf_counter() - start)
    for clip in made:
        wait_for(lambda c=clip: predictions(ls, c.task_ids[-1]), 900, "the last frame")
    total = time.perf_counter() - start
    return {"first_s": statistics.median(first), "fps": clips * (frames - 1) / total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(describe(), flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="samvid-bench-"))
    ls = LabelStudio(root=tmp / "ls").start()
    redis = Redis(root=tmp / "redis").start()
    rows = []
    try:
        proc, url = serve(ls, None)
        try:
            rows.append(("embedded (threads)", run(ls, url, args.frames, args.clips, "emb")))
        finally:
            proc.terminate()
        proc, url = serve(ls, redis)
        env = dict(os.environ, LABEL_STUDIO_URL=ls.url, LABEL_STUDIO_API_KEY=ls.token,
                   REDIS_URL=redis.url, SAMVID_LOCAL_ROOTS=str(ls.files_root))
        workers = [subprocess.Popen([sys.executable, "-m", "samvid.cli", "worker"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for _ in range(args.workers)]
        try:
            rows.append((f"Redis + {args.workers} workers", run(ls, url, args.frames, args.clips, "rq")))
        finally:
            for w in workers:
                w.terminate()
            proc.terminate()
    finally:
        ls.stop()
        redis.stop()
    print("| jobs | clips x frames | submit -> frame 1 labelled (s, median) | frames filled / s |")
    print("|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {args.clips} x {args.frames} | {r['first_s']:.2f} | {r['fps']:.1f} |")


if __name__ == "__main__":
    main()
