"""``samvid prelabel --project P``: predictions for many frame tasks, as one job.

With ``REDIS_URL`` set the job goes on the Redis queue (a ``samvid worker`` runs it,
this command follows its progress; Ctrl-C stops following, not the job). Otherwise it
runs here, in this process; Ctrl-C stops it, and running the same command again
resumes it (done frames are skipped). Exit status 1 when some frames could not be
done (the others were: the result lists them), 2 on an error. The logic is in
``samvid.prelabel``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

from samvid.commands.arguments import project_ref
from samvid.commands.progress import ProgressLine, TerminalJob
from samvid.errors import ConfigError, SamvidError
from samvid.prelabel import JOB_KIND, MODES, PrelabelRequest, parse_frames, run_job
from samvid.redact import redis_url_for_messages
from samvid.settings import Settings
from samvid.studio.client import Studio
from samvid.tracker.engines import EngineOptions, check_device_and_precision, choose_engine, configure

POLL = 0.5  # seconds between progress reads of a queued job


def clip_id(text: str) -> str:
    """A --clip value. An empty one (``--clip "$CLIP"`` with CLIP unset) would read as no
    --clip, and pre-label, with --force redo, every clip of the project."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty clip id: give the clip's id (task data 'clip'), "
                                         "or leave --clip out for every clip of the project")
    return text


def frames_range(text: str) -> str:
    """A --frames value. An empty one (``--frames "$RANGE"`` with RANGE unset) would read as
    no --frames: every frame of the project, redone with --force."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty frame range: write A:B (A: or :B leave a side "
                                         "open), or leave --frames out for every frame")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", type=project_ref, required=True, help="project id or exact title")
    parser.add_argument("--clip", type=clip_id, help="only this clip (task data 'clip')")
    parser.add_argument("--frames", type=frames_range, metavar="A:B",
                        # `--frames -5:` reads to argparse as an option, "expected one argument":
                        # the help says why no such range is taken.
                        help="only source frames A <= frame < B (A: or :B leave a side open); frames "
                             "count from 0, with no negative index from the end (-5: is no range)")
    parser.add_argument("--mode", choices=MODES, default="auto",
                        help="auto: automatic masks per frame; propagate: spread each human "
                             "frame's masks to the following frames (default: %(default)s)")
    parser.add_argument("--force", action="store_true",
                        help="redo frames that already have samvid predictions")
    parser.add_argument("--grid", type=int, default=16, metavar="N",
                        help="auto mode: N x N clicks per frame (default: %(default)s)")
    parser.add_argument("--url", help="default: $LABEL_STUDIO_URL or http://localhost:8080")
    parser.add_argument("--api-key", help="default: $LABEL_STUDIO_API_KEY")
    parser.add_argument("--json", action="store_true", help="print the job's result as JSON")


def run(args: argparse.Namespace) -> int:
    studio = Studio(args.url, args.api_key)
    settings = Settings.from_env(label_studio_url=studio.url, label_studio_api_key=studio.api_key)
    first, end = parse_frames(args.frames)
    fields = {"clip": args.clip, "first": first, "end": end, "mode": args.mode, "force": args.force,
              "grid": args.grid,
              # It loads no click model: auto tracks with SAMVID_TRACKER_MODEL when set, else flow.
              "engine": choose_engine(settings.tracker, settings.tracker_model or None)}
    if not settings.redis_url:
        # The job runs here: its engine with this machine's SAMVID_DEVICE and SAMVID_PRECISION,
        # as serve's and a worker's do (it ran at "auto" whatever they said).
        configure(EngineOptions.of(settings), auto=fields["engine"])
        if _loads_a_model(settings, args.mode, fields["engine"]):
            # Said before Label Studio is asked, as `samvid propagate` says it: the job loads
            # its model only once the tasks are read (or never, behind a Label Studio down).
            check_device_and_precision(settings)
    # A bad value (--grid 0) is said before Label Studio is asked, not after its answer
    # (or instead of it, when it is down): checked with a stand-in project first.
    PrelabelRequest.from_payload({**fields, "project": 1})
    req = PrelabelRequest.from_payload({**fields, "project": studio.project_id(args.project)})
    bar = None if args.json else ProgressLine()
    try:
        if settings.redis_url:
            result = _on_redis(settings, req, bar)
        else:
            result = run_job(req.to_payload(), TerminalJob(bar, f"prelabel {req.mode}"), settings)
    finally:  # an error or Ctrl-C is said on a line of its own, not after the bar
        if bar is not None:
            bar.close()
    print(json.dumps(result, indent=2) if args.json else _summary(result))
    # As `samvid track` and `eval`: the others were done, but a script must be able to tell.
    return 1 if result.get("not_labelled") or result.get("not_propagated") else 0


def _loads_a_model(settings: Settings, mode: str, engine: str) -> bool:
    """Whether the job runs a model on SAMVID_DEVICE: automatic masks of a SAM model, or a
    model engine's propagation (flow and classic run on the CPU whatever the device says: a
    laptop sharing a GPU server's settings pre-labels with flow)."""
    from samvid.tracker.engines import MODEL_ENGINES

    if mode == "auto":
        return not (settings.model == "classic" or settings.model.partition(":")[0] == "standin")
    kind, _, model = engine.partition(":")
    weight_free = model.partition(":")[0] in ("", "classic", "standin")  # guided's segmenter
    return kind in MODEL_ENGINES and not (kind == "guided" and weight_free)


def _on_redis(settings: Settings, req: PrelabelRequest, bar: ProgressLine | None) -> dict[str, Any]:
    from samvid.jobs import CANCELLED, FINAL, RUNNERS
    from samvid.redis_jobs import RedisJobs

    if JOB_KIND not in RUNNERS:
        raise ConfigError("this samvid cannot queue pre-labelling jobs (jobs.RUNNERS lacks "
                          f"{JOB_KIND!r}); unset REDIS_URL to run it here")
    jobs = RedisJobs(settings.redis_url)
    status = jobs.submit(JOB_KIND, req.key, req.to_payload(), order=req.order)
    logging.getLogger(__name__).info("queued job %s on %s; a `samvid worker` runs it",
                                     status.id, redis_url_for_messages(settings.redis_url))  # may hold a password
    try:
        while status.state not in FINAL:
            time.sleep(POLL)
            status = jobs.get(status.id)
            if bar is not None:
                bar.update(f"prelabel {req.mode}", status.frames_done, status.frames_total)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print(f"stopped following job {status.id}; it goes on in the worker", file=sys.stderr)
        raise
    if status.state == CANCELLED:
        # Most often superseded: the same request submitted again takes over the work.
        raise SamvidError(f"job {status.id} was cancelled: the same pre-labelling was started "
                          "again (that run goes on with the work), or it was cancelled with "
                          f"DELETE /jobs/{status.id}")
    if status.state != "done":
        raise SamvidError(f"job {status.id} {status.state}: {status.error or 'no reason given'}")
    return status.result or {}


def _summary(result: dict[str, Any]) -> str:
    return ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in result.items()) or "nothing to do"
