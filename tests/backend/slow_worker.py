"""``samvid worker`` for the lock tests: a 1 s ``ALIVE_TTL`` (heartbeat every 0.2 s) and a
``sleep`` job kind that records when it ran, so a job can outlive its TTL several times
in a few seconds.

    python tests/backend/slow_worker.py --name w1     # REDIS_URL in the environment
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import samvid.jobs
import samvid.redis_jobs

samvid.redis_jobs.ALIVE_TTL, samvid.redis_jobs.HEARTBEAT = 1, 0.2
samvid.jobs.RUNNERS["sleep"] = "slow_worker:sleep_job"


def sleep_job(payload: dict[str, Any], ctx: Any, settings: Any) -> dict[str, Any]:
    """Sleep ``payload["seconds"]`` (or until cancelled), reporting progress; append the
    run's span to ``payload["log"]``."""
    start, steps, done = time.time(), 10, 0
    while done < steps and not ctx.cancelled():
        time.sleep(payload["seconds"] / steps)
        done += 1
        ctx.progress(done, steps, 0.0)
    span = {"name": payload["name"], "start": start, "end": time.time(), "steps": done}
    with open(payload["log"], "a") as out:
        out.write(json.dumps(span) + "\n")
    return {"steps": done}


if __name__ == "__main__":
    from samvid.cli import main

    sys.exit(main(["worker", *sys.argv[1:]]))
