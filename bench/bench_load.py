"""Load on loopback: many concurrent interactive clicks against `samvid serve`.

Starts the real server (gunicorn with --workers N, or Flask for N=1), optionally
with a real redis-server as the shared embedding cache, and sends REQUESTS clicks
from CLIENTS threads over FRAMES frames. Prints p50/p99 latency, errors and the
embedding-cache hit rate (from the X-Samvid-Embedding response header).

    python bench/bench_load.py --model standin --workers 2 --clients 16 --requests 2000
    python bench/bench_load.py --model standin --workers 2 --redis
    python bench/bench_load.py --model facebook/sam2.1-hiera-tiny --random-weights --workers 1 \
        --requests 60 --clients 4 --frames 6
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from machine import describe
from PIL import Image

from samvid.commands.arguments import at_least_one

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "backend"))
from ls_requests import BRUSH_CONFIG, keypoint  # noqa: E402
from services import Redis, free_port, wait_for  # noqa: E402


def start_server(cmd: list[str], env: dict[str, str], url: str, log: Path) -> subprocess.Popen:
    """``cmd`` started and answering ``url``/health. Its output goes to ``log``; if it exits
    or never answers, SystemExit quotes the log's last lines: the reason (a model with no
    weights here, a port taken) is what the bench's user needs."""
    with open(log, "wb") as out:  # the child keeps its own descriptor
        server = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: requests.get(f"{url}/health", timeout=2).ok, 300, "samvid serve", server)
    except RuntimeError as exc:
        server.kill()
        server.wait(30)
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise SystemExit(f"{exc}; its last lines:\n" + "\n".join(tail)) from None
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="standin")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--workers", type=at_least_one, default=2)
    parser.add_argument("--clients", type=at_least_one, default=16)
    parser.add_argument("--requests", type=at_least_one, default=2000)
    parser.add_argument("--frames", type=at_least_one, default=20)
    parser.add_argument("--redis", action="store_true", help="share embeddings through a real redis-server")
    args = parser.parse_args()
    print(describe(), flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="samvid-load-"))
    rng = np.random.default_rng(0)
    w, h = 1280, 720
    paths = []
    for i in range(args.frames):
        path = tmp / f"frame{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path, quality=85)
        paths.append(str(path))
    redis = Redis(root=tmp / "redis").start() if args.redis else None
    port = free_port()
    env = dict(os.environ, SAMVID_LOCAL_ROOTS=str(tmp), SAMVID_PRECOMPUTE="off")
    if redis:
        env["REDIS_URL"] = redis.url
    cmd = [sys.executable, "-m", "samvid.cli", "serve", "--port", str(port), "--model", args.model,
           "--workers", str(args.workers)]
    if args.random_weights:
        cmd.append("--random-weights")
    url = f"http://127.0.0.1:{port}"
    server = None
    try:
        server = start_server(cmd, env, url, tmp / "serve.log")
        latencies, errors, cached = [], 0, 0
        lock = threading.Lock()
        session = threading.local()

        def one(i: int) -> None:
            nonlocal errors, cached
            s = getattr(session, "s", None) or requests.Session()
            session.s = s
            x, y = rng.uniform(1, w - 1), rng.uniform(1, h - 1)
            body = {"tasks": [{"id": i, "data": {"image": paths[i % len(paths)]}}], "label_config": BRUSH_CONFIG,
                    "params": {"context": {"result": [keypoint(x, y, w, h)]}}}
            t = time.perf_counter()
            try:
                r = s.post(f"{url}/predict", json=body, timeout=600)
                ok, hit = r.status_code == 200, r.headers.get("X-Samvid-Embedding") == "cached"
            except requests.RequestException:
                ok, hit = False, False
            with lock:
                latencies.append(time.perf_counter() - t)
                errors += not ok
                cached += hit

        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(one, range(args.requests)))
        wall = time.perf_counter() - start
        latencies.sort()
        p = lambda q: 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
        print("| model | workers | redis | clients | requests | p50 ms | p99 ms | errors | cache hit rate | req/s |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        print(f"| {args.model} | {args.workers} | {'yes' if redis else 'no'} | {args.clients} | {args.requests} | "
              f"{statistics.median(latencies) * 1000:.0f} | {p(0.99):.0f} | {errors} | "
              f"{cached / args.requests:.1%} | {args.requests / wall:.0f} |")
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        if redis:
            redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
