"""``samvid import VIDEO... --project NAME``: videos into Label Studio, one task per frame.

The logic is in ``samvid.studio.importer``; this module only parses arguments, draws the
progress bar on a terminal and prints the summary (or ``--json``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from samvid.commands.arguments import path_arg, video_path
from samvid.commands.progress import ProgressLine
from samvid.errors import ConfigError, SamvidError, VideoError
from samvid.redact import server_url_for_messages
from samvid.settings import Settings, env_path, env_value, studio_url_problem
from samvid.studio import configs
from samvid.studio.client import Studio
from samvid.studio.configs import DEFAULT_CONFIG, config_names, load_config, parse_labels
from samvid.studio.import_plan import ImportOptions
from samvid.studio.importer import (
    ClipSummary,
    ImportSummary,
    check_frame_task_keys,
    import_videos,
    ranges,
)
from samvid.studio.protocol import project_id_in

DEFAULT_BACKEND_URL = "http://localhost:9090"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="+", type=video_path, metavar="VIDEO",
                        help="video files, folders of videos, or folders of extracted frames")
    parser.add_argument("--project", required=True, help="project title (created if missing)")
    # No default here: a --config given is loaded at once, the default only for a new project.
    parser.add_argument("--config",
                        help=f"labeling config for a new project: {', '.join(_frame_configs())} "
                             f"or a path to an .xml (default: {DEFAULT_CONFIG})")
    parser.add_argument("--labels", help="comma-separated labels for a new project, e.g. car,person")
    where = parser.add_argument_group("where frames go")
    where.add_argument("--frames-root", type=path_arg,
                       help="folder for frame files, a subfolder of Label Studio's "
                            "LOCAL_FILES_DOCUMENT_ROOT (default: <document root>/samvid)")
    where.add_argument("--document-root", type=path_arg,
                       help="Label Studio's LOCAL_FILES_DOCUMENT_ROOT "
                            "(default: $LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT)")
    where.add_argument("--upload", action="store_true",
                       help="send frames through the API instead (Label Studio elsewhere)")
    fmt = where.add_mutually_exclusive_group()
    fmt.add_argument("--jpeg-quality", type=int, default=90, metavar="Q",
                     help="JPEG quality 1-100 (default: %(default)s)")
    fmt.add_argument("--png", action="store_true", help="lossless PNG frames")
    pick = parser.add_argument_group("which frames")
    rate = pick.add_mutually_exclusive_group()
    rate.add_argument("--stride", type=int, default=1, metavar="N", help="every Nth frame")
    rate.add_argument("--fps", type=float, metavar="F", help="about F frames per second")
    pick.add_argument("--keyframes", action="store_true",
                      help="only the codec's key frames (with --stride/--fps: those too)")
    pick.add_argument("--scene-change", type=float, metavar="T",
                      help="the first frame of every shot: a frame whose grey-level distribution moved "
                           "by T or more (0-1, a fraction of the grey range) from the "
                           "previous frame's; 0.15 is a good start")
    pick.add_argument("--start", type=float, metavar="S", help="first second (inclusive)")
    pick.add_argument("--end", type=float, metavar="S", help="last second (exclusive)")
    studio = parser.add_argument_group("Label Studio")
    studio.add_argument("--url", help="default: $LABEL_STUDIO_URL or http://localhost:8080")
    studio.add_argument("--api-key", help="default: $LABEL_STUDIO_API_KEY")
    backend = studio.add_mutually_exclusive_group()
    backend.add_argument("--backend-url",
                         default=env_value("SAMVID_BACKEND_URL") or DEFAULT_BACKEND_URL,
                         help="samvid ML backend to connect (default: $SAMVID_BACKEND_URL or "
                              "%(default)s)")
    backend.add_argument("--no-backend", action="store_true", help="do not connect a backend")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")


def _frame_configs() -> list[str]:
    """The named configs import can use: those of an image task per frame. ``video_boxes``
    (one ``<Video>`` task per video) was listed, and then always refused."""
    return [name for name in config_names() if "image" in load_config(name).data_keys]


def run(args: argparse.Namespace) -> int:
    options = _options(args)
    studio = Studio(args.url, args.api_key)
    bar = None if args.json else ProgressLine()
    try:
        summary = import_videos(studio, args.videos, options, bar)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        _print_summary(summary)
    if summary.undecodable:
        raise VideoError("; ".join(_damage(c) for c in summary.clips
                                   if c.undecodable or c.missing_tail))
    return 0


def _options(args: argparse.Namespace) -> ImportOptions:
    title = args.project.strip()  # Label Studio strips it too: keep finding the same project
    # As export, propagate and prelabel read --project: ASCII digits are an id (not '١٢٣').
    # Checked first: `--project 9` is an id given as the other commands take it, not a
    # title too short.
    if (project_id := project_id_in(title)) is not None:
        raise ConfigError(_id_for_a_title(title, project_id, args))
    if not 3 <= len(title) <= 50:  # Label Studio's limits; checked before any video is opened
        raise ConfigError(f"--project {args.project!r}: Label Studio titles are 3-50 "
                          f"characters, this one has {len(title)}")
    if args.upload and args.frames_root is not None:  # it would be ignored without a word
        raise ConfigError(f"--frames-root {args.frames_root} and --upload contradict each other: "
                          "--upload sends the frames through Label Studio's API and writes "
                          "none to disk; drop one of them")
    if args.stride < 1:
        raise VideoError(f"--stride {args.stride}: must be 1 or more")
    if args.fps is not None and not (math.isfinite(args.fps) and args.fps > 0):
        raise VideoError(f"--fps {args.fps}: must be a number of frames per second, more than 0")
    # nan passes every comparison below, and an empty window would be said later naming
    # the other flag as None: each flag is checked on its own first.
    if args.start is not None and not 0 <= args.start < math.inf:
        raise VideoError(f"--start {args.start}: must be a number of seconds, 0 or more")
    if args.end is not None and not 0 < args.end < math.inf:
        raise VideoError(f"--end {args.end}: must be a number of seconds, more than 0")
    if args.start is not None and args.end is not None and args.end <= args.start:
        raise VideoError(f"--end {args.end} must be after --start {args.start}")
    if args.scene_change is not None and not 0 < args.scene_change <= 1:
        raise VideoError(f"--scene-change {args.scene_change}: must be more than 0, at most 1")
    if not 1 <= args.jpeg_quality <= 100:
        raise VideoError(f"--jpeg-quality {args.jpeg_quality}: must be 1-100")
    if not args.no_backend and (problem := studio_url_problem(args.backend_url, DEFAULT_BACKEND_URL)):
        # Label Studio refuses it after the project was made, and blames its SSRF protection.
        raise ConfigError(f"--backend-url {server_url_for_messages(args.backend_url)!r} (or "
                          "SAMVID_BACKEND_URL), the samvid backend's address as Label Studio "
                          f"reaches it: {problem}")
    labels = parse_labels(args.labels)
    label_config, missing_config = "", _missing_default_config(args.config)
    if not missing_config:
        config = load_config(args.config or DEFAULT_CONFIG, configs.CONFIG_DIR)
        if "image" not in config.data_keys:
            raise ConfigError(f"--config {config.name}: samvid import makes one image task per "
                              "frame, and this config has no <Image value=\"$image\">")
        label_config = config.render(labels)
        check_frame_task_keys(label_config, f"--config {config.name}: it")
    limits = Settings.from_env()
    return ImportOptions(
        project=title,
        label_config=label_config,
        frames_root=args.frames_root,
        # The variable read here, not as the flag's default: a bad one blocked `--help`.
        document_root=args.document_root or (None if args.upload
                                             else env_path("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT")),
        image_format="png" if args.png else "jpg",
        jpeg_quality=args.jpeg_quality,
        upload=args.upload,
        stride=args.stride,
        fps=args.fps,
        keyframes=args.keyframes,
        scene_change=args.scene_change,
        start=args.start,
        end=args.end,
        backend_url=None if args.no_backend else args.backend_url,
        backend_user=limits.auth_user or None,  # the backend's SAMVID_AUTH_*, on connection and webhook
        backend_password=limits.auth_password or None,
        max_seconds=limits.max_video_seconds,
        max_pixels=limits.max_video_pixels,
        missing_config=missing_config,
        labels=tuple(labels),
        config=args.config,
    )


def _missing_default_config(given: str | None) -> str:
    """What to do when no --config is given and SAMVID_CONFIG_DIR has no default config;
    "" otherwise. Not refused here: an import into an existing project keeps its config
    and needs none (every import into one was refused)."""
    folder = configs.CONFIG_DIR
    if given is not None or not env_value("SAMVID_CONFIG_DIR") or (folder / f"{DEFAULT_CONFIG}.xml").exists():
        return ""
    known = ", ".join(config_names(folder)) or "none"
    return (f"SAMVID_CONFIG_DIR={folder} has no {DEFAULT_CONFIG}.xml, the labeling config a new project "
            f"gets without --config; put a {DEFAULT_CONFIG}.xml there, or pass --config NAME of one it "
            f"has ({known}) or --config path/to/config.xml")


def _id_for_a_title(title: str, project_id: int, args: argparse.Namespace) -> str:
    """What to say of ``--project`` given as digits: the title of the project of that id
    where Label Studio has one (the user meant it), else to add a letter to the title."""
    try:
        found = Studio(args.url, args.api_key).project(project_id)
    except SamvidError:  # unreachable, no key, no such project: the advice without a title
        found = None
    if found is not None and found.id == project_id and project_id_in(found.title) is None:
        return (f"--project {title!r}: samvid import takes a project title, not an id; "
                f"project {project_id} is titled {found.title!r}: use --project {found.title!r}")
    return (f"--project {title!r}: a title of digits only would be read as a project id by "
            "the other commands (their --project takes an id or a title), and samvid import "
            f"takes a title; add a letter, e.g. 'project {title}'")


def _print_summary(summary: ImportSummary) -> None:
    verb = "created" if summary.project_created else "updated"
    print(f"project {summary.project_title!r} (id {summary.project_id}) {verb}")
    for c in summary.clips:
        if c.created == 0 and c.existing:
            note = f"already imported ({c.existing} tasks), nothing added"
        else:
            note = f"{c.created} tasks added, {c.existing} already there"
        print(f"  {c.clip}: {c.selected} of {c.frames_in_source} frames, {c.width}x{c.height}: "
              f"{note}")
    print(f"{summary.tasks_created} tasks added in {summary.seconds:.1f} s")


def _damage(clip: ClipSummary) -> str:
    parts = []
    if clip.undecodable:
        parts.append(f"frames {ranges(clip.undecodable)} do not decode")
    if clip.missing_tail:
        parts.append(f"{clip.missing_tail} frames missing at the end")
    return (f"{Path(clip.source).name} is corrupt or truncated: {', '.join(parts)}; "
            f"the {clip.created + clip.existing} frames that decode are imported")
