"""Propagation inside Label Studio, end to end: submit -> next frame labelled.

Starts a real Label Studio, imports a synthetic 640x480 clip, connects `samvid serve`
and annotates frame 0 through the API (as the UI's submit does). Measures the time
until frame 1 has its prediction and the frames filled per second, with the
embedded thread jobs and with N `samvid worker` processes on a real Redis (each
worker takes one clip; several clips are submitted at once).

    python bench/bench_propagation.py [--frames 40] [--clips 2] [--workers 2]

A job that fails ends the bench at once with its error (``GET /jobs/<id>``); the logs of
``samvid serve`` and the workers are kept in the bench's temporary folder.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import requests
from machine import describe
from prometheus_client.parser import text_string_to_metric_families

from samvid.jobs import FAILED

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "backend")]
from clips import annotate, import_clip, predictions  # noqa: E402
from ls_requests import BRUSH_CONFIG  # noqa: E402
from services import LabelStudio, Redis, free_port, wait_for  # noqa: E402

POLL_S = 0.3  # seconds between two looks at Label Studio's predictions
FIRST_FRAME_S, LAST_FRAME_S = 300.0, 900.0  # how long a frame may take before the bench gives up
FAILED_LOG_LINE = re.compile(r"job ([0-9a-f]+) failed")  # samvid.jobs.log_failure's line


class JobFailed(RuntimeError):
    """A propagation job ended in state ``failed``: the frames it had to fill never come,
    so the bench stops at once with the job's error instead of waiting for them."""


def failed_jobs(metrics: str) -> int:
    """How many jobs a ``/metrics`` page counts in state ``failed`` (``samvid_jobs``)."""
    for family in text_string_to_metric_families(metrics):
        if family.name == "samvid_jobs":
            return int(sum(sample.value for sample in family.samples if sample.labels.get("state") == FAILED))
    return 0


def job_errors(url: str, logs: list[Path]) -> str:
    """The error of each failed job the logs name, as ``GET /jobs/<id>`` reports it."""
    errors = []
    for log in logs:
        for job_id in FAILED_LOG_LINE.findall(log.read_text(errors="replace") if log.exists() else ""):
            status = requests.get(f"{url}/jobs/{job_id}", timeout=10).json()
            errors.append(f"job {job_id}: {status.get('error')}")
    return "; ".join(errors) or f"its error is not in the logs ({', '.join(map(str, logs))})"


def job_failure(url: str, logs: list[Path]) -> str | None:
    """The errors of the backend's failed jobs, or None while none has failed."""
    if not failed_jobs(requests.get(f"{url}/metrics", timeout=10).text):
        return None
    return job_errors(url, logs)


def wait_labelled(labelled: Callable[[], bool], failure: Callable[[], str | None], timeout: float,
                  what: str) -> None:
    """Wait until ``labelled()``. A failed job ends the wait at once with its error: it
    will never label the frame, and the timeout is long enough for the slowest clip."""
    deadline = time.monotonic() + timeout
    while not labelled():
        error = failure()
        if error is not None:
            raise JobFailed(f"a propagation job failed, so {what} will not be labelled: {error}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not labelled after {timeout:.0f} s")
        time.sleep(POLL_S)


def serve(ls: LabelStudio, redis: Redis | None, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, LABEL_STUDIO_URL=ls.url, LABEL_STUDIO_API_KEY=ls.token,
               SAMVID_LOCAL_ROOTS=str(ls.files_root), SAMVID_PRECOMPUTE="off")
    if redis:
        env["REDIS_URL"] = redis.url
    with log.open("wb") as err:  # the child keeps its own handle
        proc = subprocess.Popen([sys.executable, "-m", "samvid.cli", "serve", "--model", "standin",
                                 "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: requests.get(f"{url}/health", timeout=2).ok, 120, "samvid serve", proc)
    return proc, url


def run(ls: LabelStudio, url: str, frames: int, clips: int, tag: str, logs: list[Path]) -> dict[str, float]:
    made = [import_clip(ls, BRUSH_CONFIG, name=f"{tag}{i}", n=frames, size=(480, 640), radius=60)
            for i in range(clips)]
    for clip in made:
        requests.post(f"{ls.url}/api/ml", headers=ls.headers, timeout=60,
                      json={"url": url, "project": clip.project, "is_interactive": True}).raise_for_status()
    start = time.perf_counter()
    for clip in made:
        annotate(ls, clip.task_ids[0], clip.masks[0], region_id="obj")
    first = []
    failure = partial(job_failure, url, logs)
    for clip in made:
        wait_labelled(lambda c=clip: bool(predictions(ls, c.task_ids[1])), failure, FIRST_FRAME_S,
                      f"frame 1 of {clip.name}")
        first.append(time.perf_counter() - start)
    for clip in made:
        wait_labelled(lambda c=clip: bool(predictions(ls, c.task_ids[-1])), failure, LAST_FRAME_S,
                      f"the last frame of {clip.name}")
    total = time.perf_counter() - start
    return {"first_s": statistics.median(first), "fps": clips * (frames - 1) / total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    # Frame 0 is the annotated one: the bench times frames 1 onwards, of at least one clip,
    # and Redis jobs wait for a worker that would never come.
    if args.frames < 2 or args.clips < 1 or args.workers < 1:
        parser.error("--frames must be at least 2 (frame 0 is annotated, the others are propagated), "
                     "--clips and --workers at least 1")
    print(describe(), flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="samvid-bench-"))
    ls = LabelStudio(root=tmp / "ls").start()
    redis = Redis(root=tmp / "redis").start()
    rows = []
    try:
        log = tmp / "serve-threads.log"
        proc, url = serve(ls, None, log)
        try:
            rows.append(("embedded (threads)", run(ls, url, args.frames, args.clips, "emb", [log])))
        finally:
            proc.terminate()
        log = tmp / "serve-redis.log"
        proc, url = serve(ls, redis, log)
        env = dict(os.environ, LABEL_STUDIO_URL=ls.url, LABEL_STUDIO_API_KEY=ls.token,
                   REDIS_URL=redis.url, SAMVID_LOCAL_ROOTS=str(ls.files_root))
        logs = [log, *(tmp / f"worker{i}.log" for i in range(args.workers))]
        workers = []
        for worker_log in logs[1:]:
            with worker_log.open("wb") as err:  # the child keeps its own handle
                workers.append(subprocess.Popen([sys.executable, "-m", "samvid.cli", "worker"], env=env,
                                                stdout=subprocess.DEVNULL, stderr=err))
        try:
            rows.append((f"Redis + {args.workers} workers", run(ls, url, args.frames, args.clips, "rq", logs)))
        finally:
            for w in workers:
                w.terminate()
            proc.terminate()
    except JobFailed as exc:
        sys.exit(f"bench_propagation: {exc}")
    finally:
        ls.stop()
        redis.stop()
    print("| jobs | clips x frames | submit -> frame 1 labelled (s, median) | frames filled / s |")
    print("|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {args.clips} x {args.frames} | {r['first_s']:.2f} | {r['fps']:.1f} |")


if __name__ == "__main__":
    main()
