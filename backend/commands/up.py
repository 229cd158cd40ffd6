"""``samvid up``: Label Studio + samvid with a demo project, ready to label, in one command.

The work is in ``samvid.launcher``; this module parses flags and prints the banner.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from samvid.commands.arguments import model_arg, path_arg, positive_seconds, tcp_port, video_path
from samvid.errors import ConfigError
from samvid.launcher import Ready, Stack, UpOptions, default_data_dir
from samvid.models.registry import DEFAULT_MODEL
from samvid.redact import server_url_for_messages
from samvid.settings import Settings, env_path, env_value, named_as_typed
from samvid.studio.configs import parse_labels
from samvid.studio.protocol import project_id_in

log = logging.getLogger("samvid.up")
STUDIO_PORT = 8080  # Label Studio's own default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="*", type=video_path, metavar="VIDEO",
                        help="videos to import (default: a small generated demo clip)")
    parser.add_argument("--data-dir", type=path_arg, default=default_data_dir(),
                        help="where Label Studio's database, frames, logs and the admin's "
                             "credentials live (default: %(default)s)")
    # Not defaulted from SAMVID_MODEL here: argparse would check the variable as the flag, and a
    # refusal must name the variable (as serve's does).
    parser.add_argument("--model", type=model_arg,
                        help=f"model for the backend (default: $SAMVID_MODEL or {DEFAULT_MODEL}); "
                             "falls back to `classic` when its weights are not here")
    # Not defaulted from SAMVID_DEVICE here: the backend reads that itself, and a refusal
    # names the flag or the variable, whichever the user set.
    parser.add_argument("--device", default=None,
                        help="auto, cpu, cuda, cuda:N or mps (default: $SAMVID_DEVICE or auto)")
    parser.add_argument("--project", default="samvid demo", help="project title")
    parser.add_argument("--labels", help="comma-separated labels (default: Object)")
    net = parser.add_argument_group("addresses")
    net.add_argument("--host", default="127.0.0.1",
                     help="address Label Studio and the backend listen on (default %(default)s)")
    # None: not given, so that --no-studio (no Label Studio started) can say it is ignored.
    net.add_argument("--port", type=tcp_port,
                     help=f"port of the Label Studio samvid up starts (default {STUDIO_PORT}; ignored with --no-studio)")
    net.add_argument("--backend-port", type=tcp_port, default=9090, help="samvid backend port")
    net.add_argument("--backend-url",
                     help="the backend's URL as Label Studio reaches it "
                          "(default http://HOST:BACKEND_PORT)")
    net.add_argument("--timeout", type=positive_seconds, default=300.0,
                     help="seconds to wait for each service to start (default %(default)s)")
    attach = parser.add_argument_group("attach to an existing Label Studio")
    attach.add_argument("--no-studio", action="store_true",
                        help="do not start Label Studio; use --label-studio-url and --api-key")
    attach.add_argument("--no-backend", action="store_true",
                        help="do not start the backend either: register the one at "
                             "--backend-url, import, print the URL and exit (docker compose)")
    attach.add_argument("--label-studio-url", default=env_value("LABEL_STUDIO_URL"),
                        help="default: $LABEL_STUDIO_URL")
    attach.add_argument("--api-key", default=env_value("LABEL_STUDIO_API_KEY"),
                        help="default: $LABEL_STUDIO_API_KEY")
    attach.add_argument("--document-root", type=path_arg,
                        help="that Label Studio's LOCAL_FILES_DOCUMENT_ROOT, when it runs on "
                             "this machine (default: upload frames through its API)")


def run(args: argparse.Namespace) -> int:
    _check_title(args.project)
    if args.no_studio and args.port is not None:
        # It was ignored without a word: the Label Studio attached to has its port in its URL.
        # Said, not refused: a harmless extra flag in a script must not stop its start.
        log.warning("--port %s is the port of the Label Studio samvid up starts, and --no-studio starts "
                    "none: ignored (that Label Studio's address is --label-studio-url; the samvid "
                    "backend's port is --backend-port)", args.port)
    limits = _check_backend_settings(args.device)  # SAMVID_MODEL=" " included, named as such
    from_env = None if args.model else env_value("SAMVID_MODEL")
    model, model_from = (from_env, "SAMVID_MODEL") if from_env else (args.model or DEFAULT_MODEL, "--model")
    options = UpOptions(
        data_dir=args.data_dir, model=model, model_from=model_from, device=args.device, host=args.host,
        port=STUDIO_PORT if args.port is None else args.port, backend_port=args.backend_port,
        backend_url=args.backend_url,
        videos=list(args.videos), project=args.project, labels=parse_labels(args.labels),
        no_studio=args.no_studio, no_backend=args.no_backend,
        studio_url=args.label_studio_url, api_key=args.api_key,
        # The variable read only where it is used: a bad one blocked `samvid up --help`.
        document_root=args.document_root or (env_path("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT")
                                             if args.no_studio else None),
        timeout=args.timeout,
    )
    # A mistyped video, a file that is no video, a frame folder of two sizes, a video over
    # the limits: said now, not after Label Studio's and the backend's start (a minute or
    # more) and their shutdown. Planned as the launcher's import plans them (every frame,
    # SAMVID_MAX_VIDEO_*); raises VideoError naming the file.
    from samvid.studio.import_plan import ImportOptions, plan_clips  # here: imports OpenCV and PyAV

    plan_clips(options.videos, ImportOptions(project=options.project, label_config="",
                                             max_seconds=limits.max_video_seconds,
                                             max_pixels=limits.max_video_pixels))
    # `kill` (and docker stop, systemd) must stop the children as Ctrl-C does, and so must
    # closing the terminal or losing the SSH session: the children run in sessions of their
    # own, so nothing else would stop them.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    with Stack(options) as stack:
        try:
            ready = stack.start()
            _banner(ready, owns_processes=bool(stack.children),
                    reused_studio=not args.no_studio and all(c.name != "Label Studio" for c in stack.children))
            if not stack.children:  # nothing started here: registering was the whole job
                return 0
            stopped = stack.watch()
        except KeyboardInterrupt:
            if not stack.children:
                # Nothing of ours runs (--no-studio --no-backend, or not started yet): the work
                # was cut short, not stopped; exit 0 told the script that ran it the import was done.
                raise
            # Named as they are: a Label Studio found running or attached to is not stopped.
            names = " and ".join(_CHILD_NAMES.get(c.name, c.name) for c in stack.children)
            print(f"\nstopping {names}...", file=sys.stderr)
            return 0
        print(f"samvid up: {stopped.died()}", file=sys.stderr)
        return 1


_CHILD_NAMES = {"samvid serve": "the samvid backend"}

# Set by samvid.launcher.backend_env for the backend it starts (REDIS_URL is dropped there), so
# whatever this shell holds for them is not what the backend reads.
_SET_FOR_THE_BACKEND = ("REDIS_URL", "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "SAMVID_LOCAL_ROOTS",
                        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT")


def _check_backend_settings(device: str | None) -> Settings:
    """Refuse now a SAMVID_* value the backend would refuse (SAMVID_DEVICE=gpu): otherwise it is
    said in the backend's log after Label Studio's start, a minute or more later. Returns the
    settings without the variables set for the backend: a LABEL_STUDIO_URL or REDIS_URL this shell
    holds for something else (localhost:6379) is not samvid up's, and must not stop it."""
    env = {k: v for k, v in os.environ.items() if k not in _SET_FOR_THE_BACKEND}
    with named_as_typed(device=device):
        return Settings.from_env(env, **({"device": device} if device else {}))


def _check_title(title: str) -> None:
    """Refuse now a title Label Studio would refuse (or the other commands misread) as
    ``samvid import`` does: otherwise it is said after Label Studio's and the backend's start."""
    title = title.strip()  # Label Studio strips it too
    if not 3 <= len(title) <= 50:
        raise ConfigError(f"--project {title!r}: Label Studio titles are 3-50 characters, "
                          f"this one has {len(title)}")
    # As export, propagate and prelabel read --project: ASCII digits are an id (not '١٢٣').
    if project_id_in(title) is not None:
        raise ConfigError(f"--project {title!r}: a title of digits only would be read as a project "
                          "id by the other commands (their --project takes an id or a title); add a "
                          f"letter, e.g. 'project {title}'")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _banner(ready: Ready, owns_processes: bool, reused_studio: bool = False) -> None:
    lines = ["", "samvid is up.", "",
             f"  Open         {server_url_for_messages(ready.open_url)}"]
    creds = ready.new_credentials
    if creds is not None:  # shown once; later runs point at the file
        lines += [f"  Log in as    {creds.username}",
                  f"  Password     {creds.password}",
                  f"  API token    {creds.token}",
                  f"               (saved in {ready.credentials_file}; not shown again)"]
    elif ready.credentials_file:
        lines += [f"  Log in as    {ready.username} (password in {ready.credentials_file})"]
    # Every video's frames: the first one's alone read as the project's with several videos.
    frames = ready.frames or len(ready.task_ids)
    counts = f"{ready.clips} videos, {frames} frames" if ready.clips > 1 else f"{frames} frames"
    # A URL given with user:password@ (--backend-url, --label-studio-url) is shown without them:
    # the banner goes to terminals, journals and CI logs.
    lines += [f"  Label Studio {server_url_for_messages(ready.studio_url)}  (project {ready.project_id}, {counts})",
              f"  Backend      {server_url_for_messages(ready.backend_url)}  model {ready.model}"]
    if ready.tracker:
        lines += [f"  Propagation  {ready.tracker}" + _engine_note(ready.tracker)]
    if ready.model_note:
        lines += ["", f"  Note: {ready.model_note}"]
    lines += ["", "Turn on Auto-Annotation, click the object with the smart keypoint, accept "
              "the mask, Submit:", "the next frames are labelled for you."]
    if owns_processes and reused_studio:
        # Label Studio was found running (left by a run that was killed): not ours to stop.
        lines += ["Ctrl-C stops the samvid backend; Label Studio was already running and keeps running.", ""]
    else:
        lines += ["Ctrl-C stops everything.", ""] if owns_processes else [""]
    print("\n".join(lines), flush=True)


def _engine_note(engine: str) -> str:
    if engine.startswith("sam2"):
        return "  (SAM 2's memory tracker; SAMVID_TRACKER=flow for the weight-free one)"
    return "  (weight-free; SAM 2 tracks when its weights are here)"
