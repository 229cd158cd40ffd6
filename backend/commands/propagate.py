"""``samvid propagate``: fill the frames after (or before) an annotated frame.

Runs here by default (needs Label Studio credentials), or on a running backend
with ``--backend-url`` (its jobs, its workers), polling the job to the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import requests

from samvid.commands.arguments import project_ref
from samvid.commands.importer import DEFAULT_BACKEND_URL
from samvid.commands.progress import ProgressLine, TerminalJob
from samvid.errors import BadRequest, ConfigError, SamvidError, StudioError
from samvid.propagation import PropagationRequest, propagator_for
from samvid.propagation.propagator import NAMING
from samvid.redact import server_url_for_messages, text_without_url_password
from samvid.settings import DIRECTIONS, Settings, studio_url_problem
from samvid.studio.client import Studio, backoff
from samvid.studio.protocol import project_id_in

log = logging.getLogger(__name__)
# Seconds a lost backend is waited for while following its job (a restart; its Redis
# restarting is a 503 after the Redis client's own ~40 s of retries).
POLL_RETRY_SECONDS = 60.0
TRANSIENT_STATUS = (502, 503, 504)  # a proxy without its backend, Redis away, a gateway timeout


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", type=project_ref, required=True, help="project id or exact title")
    parser.add_argument("--clip", required=True, help="clip id (task data 'clip')")
    parser.add_argument("--from-frame", type=int, required=True, help="the annotated frame index")
    # None: not given, so the settings a submit uses decide (read in run, after the env).
    parser.add_argument("--direction", choices=DIRECTIONS,
                        help="which open stretches to track, towards the clip's ends "
                             "(default: $SAMVID_PROPAGATE_DIRECTION, else forward)")
    parser.add_argument("--frames", type=int,
                        help="at most N frames (0: up to the next human frame; "
                             "default: $SAMVID_PROPAGATE_FRAMES, else 0)")
    # A job tracks at most 100 objects: a crowded frame is propagated in groups.
    parser.add_argument("--object", dest="objects", action="append", default=[], metavar="ID", type=object_arg,
                        help="track only this object of the frame: its region id, or its object-id number "
                             "(--object 3 is the region with id '3' where the frame has one, else object "
                             "number 3); repeat for several (default: every object on the frame)")
    parser.add_argument("--engine", help="tracker engine (SAMVID_TRACKER, default auto: flow here, or "
                        "SAM 2's memory engine with SAMVID_TRACKER_MODEL)")
    parser.add_argument("--all-frames", action="store_true",
                        help="track through every frame of the source video between frame tasks "
                             "(for sparse imports: --stride, --keyframes, --scene-change)")
    bridge = parser.add_mutually_exclusive_group()
    bridge.add_argument("--bridge", action="store_true",
                        help="also recompute back to the previous human frame, and track each stretch "
                             "between two human frames from both (SAMVID_PROPAGATE_BRIDGE=1)")
    bridge.add_argument("--no-bridge", action="store_true",
                        help="track only from this frame, even with SAMVID_PROPAGATE_BRIDGE=1")
    parser.add_argument("--backend-url", help="run the job on this samvid backend instead of here")
    parser.add_argument("--json", action="store_true", help="print the final job record as JSON")


def run(args: argparse.Namespace) -> int:
    if args.backend_url and (problem := studio_url_problem(args.backend_url, DEFAULT_BACKEND_URL)):
        # Said before any lookup: requests' bare "InvalidSchema" came after the project's.
        raise ConfigError(f"--backend-url {server_url_for_messages(args.backend_url)!r}, the samvid backend "
                          f"to run the job on: {problem}")
    settings = Settings.from_env(tracker=args.engine)
    bar = ProgressLine()
    try:
        if args.backend_url:
            # The backend decides auto itself, and takes an id as it is: this machine may have
            # no Label Studio key. The request's own checks come before Label Studio is asked.
            _request(args, settings, 1, settings.tracker)
            project = project_id_in(args.project)
            if project is None:
                project = Studio(settings.label_studio_url, settings.label_studio_api_key).project_id(args.project)
            record = _remote(args.backend_url.rstrip("/"), _request(args, settings, project, settings.tracker),
                             bar, settings)
        else:
            from samvid.tracker.engines import start_configured

            # Here as in `samvid worker`: no click model is loaded, so auto tracks with
            # SAMVID_TRACKER_MODEL when set, else flow. Checked before Label Studio is asked.
            engine = start_configured(settings, None)
            _request(args, settings, 1, engine)  # a bad --from-frame is said before Label Studio is asked
            # Nothing runs yet: a Label Studio that is down is said at once, as `samvid export`
            # and `prelabel` say it. Once the job runs, an outage is waited out.
            project = Studio(settings.label_studio_url, settings.label_studio_api_key).project_id(args.project)
            studio = Studio(settings.label_studio_url, settings.label_studio_api_key,
                            retry_delays=backoff(settings.studio_retry_seconds))
            req = _request(args, settings, project, engine)
            record = {"state": "done", **propagator_for(studio, settings).run(req, TerminalJob(bar, f"propagate {args.clip}"))}
    finally:  # an error or Ctrl-C is said on a line of its own, not after the bar
        bar.close()
    if args.json:
        print(json.dumps(record))
    if record["state"] == "cancelled":
        # Most often superseded: a later submit on the clip (a correction) takes over the work.
        raise SamvidError(f"job {record.get('id')} was cancelled: a later job on the clip (another "
                          "propagation, a submit in Label Studio) took over its frames, or it was "
                          f"cancelled with DELETE /jobs/{record.get('id')}")
    if record["state"] != "done":
        # As the same failure here: one error line and exit 2, whichever machine ran the job.
        raise SamvidError(f"job {record.get('id')} {record['state']}: "
                          f"{record.get('error') or 'no reason given'}")
    # A backend's job record holds the job's result apart; its frames_done counts engine
    # steps (a bridged stretch is walked twice), not frames written.
    result = record.get("result") or (record if not args.backend_url else {})
    if not args.json:
        empty = result.get("frames_empty", 0)
        print(f"{record['state']}: {result.get('frames_written', 0)} "
              f"frames of clip {args.clip!r} from frame {args.from_frame}"
              + (f" ({empty} more with every object gone: no prediction)" if empty else ""))
    skipped = int(result.get("frames_skipped", 0))
    if skipped:
        # Exit 1, as prelabel does for frames it left undone: a script must not take the clip as filled.
        print(f"{skipped} frame(s) of clip {args.clip!r} got no prediction: their images could not be "
              "read (the backend's log names them); fix them and run the same command again",
              file=sys.stderr)
    missing = result.get("objects_missing") or []
    if missing:
        # Exit 1 too: a typo in one of a group's IDs left that object untracked under a "done".
        print(f"no object of frame {args.from_frame} of clip {args.clip!r} is named "
              f"{', '.join(map(repr, missing))} (--object): those were not tracked; {NAMING}", file=sys.stderr)
    return 1 if skipped or missing else 0


def object_arg(value: str) -> str:
    """One ``--object``, stripped: an ID read from a file or a script (a trailing "\\r" or
    space) named no object, and the job went on without it. Region ids are short random
    strings ("aB3x_9", "-x1" too), so only a blank and a number below 1 (no object-id
    number is) are refused here."""
    key = value.strip()
    if not key or (key.isascii() and key.isdigit() and int(key) == 0):
        raise argparse.ArgumentTypeError(f"{value!r} names no object: give a region id or an object-id "
                                         "number from 1")
    return key


def _request(args: argparse.Namespace, settings: Settings, project: int, engine: str) -> PropagationRequest:
    return PropagationRequest.from_payload({
        "project": project, "clip": args.clip, "frame": args.from_frame,
        "direction": settings.propagate_direction if args.direction is None else args.direction,
        "frames": settings.propagate_frames if args.frames is None else args.frames, "engine": engine,
        "all_frames": args.all_frames, "bridge": (settings.propagate_bridge or args.bridge) and not args.no_bridge,
        "objects": args.objects})


def _remote(url: str, req: PropagationRequest, bar: ProgressLine, settings: Settings) -> dict:
    auth = (settings.auth_user, settings.auth_password) if settings.auth_user else None
    job: dict = {}  # none yet: Ctrl-C before the backend took the job leaves none running
    try:
        resp = requests.post(f"{url}/propagate", json=req.to_payload(), auth=auth, timeout=30)
        if resp.status_code >= 400:
            raise BadRequest(f"the backend refused the job: {_error_of(resp)}")
        job = _job_of(resp, url)
        while job["state"] in ("queued", "running"):
            time.sleep(0.5)
            poll = _poll(f"{url}/jobs/{job['id']}", auth, job["id"])
            if poll.status_code == 404:
                raise StudioError(f"the samvid backend at {server_url_for_messages(url)} no longer knows "
                                  f"job {job['id']} (restarted?): run the command again")
            if poll.status_code >= 400:
                raise BadRequest(f"the backend refused to report job {job['id']}: "
                                 f"{_error_of(poll)}")
            job = _job_of(poll, url)
            bar.update(f"propagate {req.clip}", job["frames_done"], max(job["frames_total"], 1), job["fps"])
    except KeyboardInterrupt:
        # Ctrl-C stops this command only: the backend goes on writing the clip's frames.
        if job.get("id"):
            bar.close()
            print(f"stopped following job {job['id']}; it goes on on the backend "
                  f"(DELETE {server_url_for_messages(url)}/jobs/{job['id']} cancels it)", file=sys.stderr)
        raise
    except requests.RequestException as exc:
        raise StudioError(f"cannot reach the samvid backend at {server_url_for_messages(url)}: "
                          f"{type(exc).__name__}") from exc
    return job


def _poll(job_url: str, auth: tuple[str, str] | None, job_id: str) -> requests.Response:
    """The job's record, riding out a backend that is briefly away: a restart, or its Redis
    restarting (503). One failed poll ended the command (exit 2) while the job ran on."""
    delays = iter(backoff(POLL_RETRY_SECONDS))
    # One deadline for the waits and the polls both: a backend that takes connections and
    # never answers held each poll for its whole timeout, 390 s in all.
    deadline = time.monotonic() + POLL_RETRY_SECONDS
    while True:
        try:
            reply = requests.get(job_url, auth=auth, timeout=min(30.0, max(1.0, deadline - time.monotonic())))
            if reply.status_code not in TRANSIENT_STATUS:
                return reply
            reason = f"HTTP {reply.status_code}: {_error_of(reply)[:120]}"
        except requests.RequestException as exc:
            reason = type(exc).__name__
        delay, left = next(delays, None), deadline - time.monotonic()
        if delay is None or left <= 0:
            raise StudioError(f"lost touch with the samvid backend while following job {job_id} ({reason}); "
                              f"the job goes on there: follow it with GET {server_url_for_messages(job_url)} "
                              "(DELETE cancels it)")
        delay = min(delay, left)  # the last try lands on the deadline
        log.warning("following job %s: the backend did not answer (%s); trying again in %.1f s",
                    job_id, reason, delay)
        time.sleep(delay)


def _job_of(reply: requests.Response, url: str) -> dict:
    """The job record of a samvid answer. A page instead (a proxy's login page, another
    server at that address) was reached all the same: "cannot reach" would mislead."""
    try:
        job = reply.json()
    except ValueError:
        job = None
    if not isinstance(job, dict) or "state" not in job:
        raise StudioError(f"{server_url_for_messages(url)} answered with no samvid job (HTTP "
                          f"{reply.status_code}: {text_without_url_password(reply.text, url)[:120]!r}): "
                          "is --backend-url a samvid backend?")
    return job


def _error_of(reply: requests.Response) -> str:
    """The ``error`` of a samvid error answer, or its text (a proxy's page, a 401)."""
    try:
        return str(reply.json().get("error") or reply.text)[:300]
    except ValueError:
        return reply.text[:300]
