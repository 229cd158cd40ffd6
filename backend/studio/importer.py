"""Videos into Label Studio: one image task per selected frame.

The work runs in two phases so that a bad input leaves nothing behind:

1. plan: every source is found, opened and its frames selected, then closed again
   (``import_plan.plan_clips``). A missing, empty, non-video or undecodable file fails
   here, before Label Studio is touched.
2. import: project, storage and ML backend are created or reused, then each clip's
   frames are written (atomically) and its tasks created in frame order, in batches.

Re-running is how an interrupted import resumes: frames that already have a task in the
project (matched by ``clip`` and ``frame``) are skipped, frame files already on disk are
reused, so a second import of the same video adds nothing.

Imports running at once on one machine (a script's ``&``, overlapping cron runs) take turns
where they would collide: finding or creating the project, adding its storage and backend,
importing one clip (``client.machine_lock``). Across machines only the project is
reconciled (each keeps the first project of the title); the rest is not guarded there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cv2
import numpy as np

from samvid.errors import ConfigError, SamvidError, StudioError, VideoError
from samvid.studio.client import Project, Studio, Task, machine_lock
from samvid.studio.configs import labels_of, same_but_labels
from samvid.studio.import_plan import ClipPlan, ImportOptions, plan_clips
from samvid.studio.protocol import frame_index, label_interface
from samvid.studio.sources import clip_hash, names_only_hash
from samvid.tracker.frames import open_frames

log = logging.getLogger(__name__)


# -- values ------------------------------------------------------------------------------------


@dataclass
class ClipSummary:
    clip: str
    source: str
    frames_in_source: int
    selected: int
    created: int = 0
    existing: int = 0
    undecodable: list[int] = field(default_factory=list)
    missing_tail: int = 0  # frames the header declares past the data (truncated file)
    width: int = 0
    height: int = 0
    fps: float = 0.0
    seconds: float = 0.0
    # Every task of the clip in the project after the import (those there before too), in
    # frame order, then id order; one without a frame index last. What `samvid up` opens,
    # without listing the clip once more. Not in to_json: a long clip's are thousands.
    task_ids: list[int] = field(default_factory=list)


@dataclass
class ImportSummary:
    project_id: int
    project_title: str
    project_created: bool
    storage_id: int | None
    backend_id: int | None
    clips: list[ClipSummary]
    seconds: float = 0.0

    @property
    def tasks_created(self) -> int:
        return sum(c.created for c in self.clips)

    @property
    def tasks_existing(self) -> int:
        return sum(c.existing for c in self.clips)

    @property
    def undecodable(self) -> int:
        """Frames that could not be imported: corrupt ones and a truncated file's tail."""
        return sum(len(c.undecodable) + c.missing_tail for c in self.clips)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for clip in data["clips"]:
            del clip["task_ids"]
        data.update(tasks_created=self.tasks_created, tasks_existing=self.tasks_existing,
                    undecodable=self.undecodable)
        return data


# The data of every frame task (``_import_clip``).
TASK_KEYS = ("image", "video", "frame", "time", "clip")

# Called after each frame: (clip, frames done, frames to do).
Progress = Callable[[str, int, int], None]


# -- checks ------------------------------------------------------------------------------------


def check_project_config(project: Project) -> None:
    """Refuse a project whose labeling config shows no frame: frame tasks carry the frame
    in ``image``, and a config without ``<Image value="$image">`` (a video project, say)
    would get tasks it cannot display (or would play the source path as its video)."""
    objects = label_interface(project.label_config).objects
    if not any(o.tag.lower() == "image" and o.attr.get("value") == "$image" for o in objects):
        # Said by `samvid up` too, which has no --config: no flag of import's only.
        raise ConfigError(f"project {project.title!r} (id {project.id}) has no <Image "
                          "value=\"$image\"> in its labeling config: samvid makes one image "
                          "task per frame; import into another --project (a new one is made "
                          "with a config that shows frames)")
    check_frame_task_keys(project.label_config, f"project {project.title!r} (id {project.id})'s "
                          "labeling config", "remove those tags from its labeling config, or import "
                          "into another --project")


def say_config_kept(project: Project, labels: Sequence[str], config: str | None = None,
                    label_config: str = "") -> None:
    """Warn that ``--labels`` and ``--config`` (for a new project) are not used: ``project``
    exists and keeps its labeling config. Only what differs from the project's is said: the
    labels and config it was made with, given again at each import (each restart of samvid
    up), are no news. ``label_config`` is ``config`` rendered: its labels are left out of
    the comparison, said as ``--labels`` (a config given without labels has a placeholder)."""
    other_config = config is not None and not same_but_labels(label_config, project.label_config)
    other_labels = bool(labels) and set(labels) != labels_of(project.label_config)
    if not (other_config or other_labels):
        return
    ignored = [flag for flag, differs in ((f"--config {config}", other_config),
                                          (f"--labels {','.join(labels)}", other_labels)) if differs]
    log.warning("%s ignored: project %r (id %d) exists and keeps its labeling config (%s edited in "
                "Label Studio: Settings > Labeling Interface)", " ".join(ignored), project.title,
                project.id, "it is" if other_config else "its labels are")


def check_frame_task_keys(label_config: str, whose: str, remedy: str = "remove those tags") -> None:
    """Refuses a config that also shows keys frame tasks lack, before anything is made: else
    a project is made, the frames written, and then every task refused. ``whose`` names the
    config in the message ("--config captions: it"), ``remedy`` says what to do."""
    if needed := keys_frame_tasks_lack(label_config):
        raise ConfigError(f"{whose} also shows {needed}, which frame tasks do not have (they hold "
                          f"{', '.join(TASK_KEYS)}): Label Studio would refuse them; {remedy}")


def keys_frame_tasks_lack(label_config: str) -> str:
    """The task data keys (``"$caption, $options"``) the config asks for that frame tasks do
    not hold; "" when none. Label Studio refuses a task without one, after the frames were
    written, with '"caption" key is expected in task data' and nothing to do. Its rule:
    every tag with a ``name`` and a ``value`` (controls too: ``<Choices value="$options">``)
    needs the value's key, or the first ``$key`` inside a value such as "Caption: $caption";
    an unnamed ``<Header value="$title">`` is shown blank, not refused."""
    try:
        root = ET.fromstring(label_config)
    except ET.ParseError:
        return ""  # Label Studio refuses the config itself, saying why
    needed: set[str] = set()
    for tag in root.iterfind(".//*[@value]"):  # below the root, as Label Studio looks
        value = tag.get("value")
        if not tag.get("name") or value is None:
            continue
        found = [value[1:]] if value.startswith("$") else re.findall(r"\$(\w+)", value)[:1]
        needed.update(key.split("[")[0].split(".")[0] for key in found)
    return ", ".join(f"${k}" for k in sorted(needed - set(TASK_KEYS) - {""}))


def check_frames_root(options: ImportOptions) -> Path | None:
    """The frames root, checked against Label Studio's document root and created (None
    when uploading): before Label Studio is touched, so a root that cannot be written
    leaves no empty project behind."""
    if options.upload:
        return None
    root = options.document_root
    if root is None:
        raise StudioError("Label Studio's LOCAL_FILES_DOCUMENT_ROOT is unknown: set "
                          "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (or --document-root) as "
                          "Label Studio has it, or use --upload")
    # Normalised without following symlinks, as Label Studio checks the storage path: a
    # document root under a symlink (macOS /tmp, /var) must stay spelled as LS has it.
    root = _lexical(root)
    frames = _lexical(options.frames_root or root / "samvid")
    if frames == root or root not in frames.parents:
        raise StudioError(f"--frames-root {frames} must be a subfolder of Label Studio's "
                          f"LOCAL_FILES_DOCUMENT_ROOT {root}")
    if "\\" in str(frames):  # Label Studio turns it into "/" and refuses the storage path
        raise StudioError(f"--frames-root {frames}: Label Studio reads a backslash in a path as "
                          "a folder separator and would not find it; choose a folder without one")
    try:
        frames.mkdir(parents=True, exist_ok=True)
        _probe_writes(frames)
    except OSError as exc:
        raise StudioError(f"cannot write frames to --frames-root {frames}: "
                          f"{exc.strerror or exc}; choose a writable subfolder of Label "
                          "Studio's LOCAL_FILES_DOCUMENT_ROOT, or use --upload") from exc
    return frames


# Bytes the probe writes: a full disk refuses them (an empty probe file fit, and the first
# frame failed after the project was made); about one large frame.
PROBE_BYTES = 1 << 20


def _probe_writes(folder: Path) -> None:
    """Write ``PROBE_BYTES`` to a file in ``folder``, onto the disk (fsync), then remove it:
    the folder may exist yet refuse writes (permissions, read-only or immutable mount, a full
    disk or quota), which mkdir does not notice. Raises OSError."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=".samvid-probe-")
    try:
        data = memoryview(bytes(PROBE_BYTES))
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)  # delayed allocation (ext4, XFS, NFS) says ENOSPC only here
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name)


# -- phase 2: import ----------------------------------------------------------------------------


def import_videos(
    studio: Studio,
    paths: Sequence[Path],
    options: ImportOptions,
    progress: Progress | None = None,
) -> ImportSummary:
    started = time.monotonic()
    frames_root = check_frames_root(options)
    # Asked before any video is read (a --scene-change scan reads each whole): without a
    # config a new project is refused. Label Studio's errors then come before the videos'.
    existing = _project_to_extend(studio, options) if options.missing_config else None
    plans = plan_clips(paths, options)
    if existing is not None:
        project, created = existing, False
    else:
        check_frame_task_keys(options.label_config, "the labeling config")
        studio.check()
        project, created = studio.get_or_create_project(options.project, options.label_config)
    if not created:
        check_project_config(project)
        log.info("project %r exists (id %d): adding to it, its labeling config is kept",
                 project.title, project.id)
        say_config_kept(project, options.labels, options.config, options.label_config)
    try:
        # Each is "list, add if missing": parallel imports into one project each added
        # one (two storages of one folder, two ML backends).
        with machine_lock(f"setting up project {project.id}", studio.url, "setup", str(project.id)):
            storage_id = None
            if frames_root is not None:
                storage_id = studio.ensure_local_storage(project.id, frames_root)
            backend_id = None
            if options.backend_url:
                backend_id = studio.connect_backend(
                    project.id, options.backend_url, user=options.backend_user,
                    password=options.backend_password)
    except SamvidError:
        if created:  # nothing half-created: a project without its storage is useless
            _remove_half_made(studio, project)
        raise
    summary = ImportSummary(project.id, project.title, created, storage_id, backend_id, [])
    if frames_root is None:
        _remove_stale_uploads()
    for plan in plans:
        # One import of a clip at a time on this machine (overlapping runs of one script):
        # each listed no task for it, and every frame got a task per run. The clip's tasks
        # are read once its turn comes, so a run that waited adds only what is missing.
        # Locked by the clip's content hash, not its name, and not by project: runs of one
        # source under two names (`Dog.mp4` and `dog.mp4`, a symlink and its target) import
        # it under one, and runs into two projects write its frames to one folder (two
        # writers of one temp file left a frame of both, and one failing to rename it).
        with machine_lock(f"importing clip {plan.clip}", studio.url, "clip", clip_hash(plan.clip)):
            plan, tasks = _clip_to_import(studio, project, plan)
            summary.clips.append(_import_clip(studio, project, plan, options, frames_root,
                                              tasks, progress))
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def _project_to_extend(studio: Studio, options: ImportOptions) -> Project:
    """The existing project an import without a labeling config goes into; none is refused
    with ``options.missing_config``, as there is no config to create it with."""
    studio.check()
    title = options.project.strip()  # as get_or_create_project finds it
    project = studio.the_project_titled(title)
    if project is None:
        raise ConfigError(f"project {title!r} does not exist and cannot be created: {options.missing_config}")
    check_project_config(project)  # before the videos are read, as the project is
    return project


def _remove_half_made(studio: Studio, project: Project) -> None:
    """Delete a project this import created and could not finish. Should Label Studio
    refuse, the import's own error is still the one said (it is the cause); the project
    left behind is named so the user can remove it."""
    try:
        studio.delete_project(project.id)
    except SamvidError as exc:
        log.warning("could not remove the half-made project %r (id %d: %s); remove it in "
                    "Label Studio", project.title, project.id, exc)


def _clip_to_import(studio: Studio, project: Project, plan: ClipPlan) -> tuple[ClipPlan, list[Task]]:
    """The clip to import and its tasks in the project now, each clip
    listed once (a filtered listing: reading a project of 30,000 tasks whole takes half a
    minute; the import listed a frame folder's clip up to three times).

    A source the project already holds under another name keeps that name, so its rerun
    resumes the import instead of importing every frame again beside it (``_same_clip``,
    ``_same_content``: renamed or moved).
    A frame folder imported when its name hashed only its file names and sizes is
    looked for under that hash too (a second listing, only when the first finds nothing)."""
    clips = _clips_of_hash(studio, project, clip_hash(plan.clip))
    if plan.clip in clips:
        return plan, clips[plan.clip]
    name = _same_clip(clips, plan.clip, plan.source) or _same_content(clips, plan)
    if name is None and plan.source.is_dir():
        clips = _clips_of_hash(studio, project, names_only_hash(plan.source))
        name = _same_clip(clips, None, plan.source)
    if name is None:
        return plan, []
    log.info("%s: imported earlier as clip %s, kept", plan.source, name)
    return replace(plan, clip=name), clips[name]


def _clips_of_hash(studio: Studio, project: Project, digest: str) -> dict[str, list[Task]]:
    """The project's clips named with the hash ``digest``, each with its tasks in id order,
    oldest clip first: one listing finds the source's clip whatever its name's slug and
    case (names end in their hash)."""
    query = {"filters": {"conjunction": "and", "items": [
        {"filter": "filter:tasks:data.clip", "operator": "contains", "value": digest,
         "type": "String"}]}}
    clips: dict[str, list[Task]] = {}
    for row in sorted(studio.task_rows(project.id, query), key=lambda r: int(r["id"])):
        data = row.get("data") or {}
        clip = data.get("clip")
        if isinstance(clip, str) and clip_hash(clip) == digest:  # LS matched a substring
            clips.setdefault(clip, []).append(Task(int(row["id"]), data))
    return clips


def _same_clip(clips: dict[str, list[Task]], name: str | None, source: Path) -> str | None:
    """Which of ``clips`` (of one hash) is ``source`` imported under another name: the
    oldest one that differs from ``name`` in case only (on a case-insensitive disk, macOS's or
    Windows', ``Dog.mp4`` and ``dog.mp4`` are one file and their frame folders one
    folder), or one made from ``source`` itself under another name (a folder given as
    ``.`` when named "clip", a symlink named by its link or by its target)."""
    for clip, tasks in clips.items():
        if name is not None and clip.casefold() == name.casefold():
            return clip
        if any(_is_source(video, source) for video in {str(t.data.get("video")) for t in tasks}):
            return clip
    return None


def _same_content(clips: dict[str, list[Task]], plan: ClipPlan) -> str | None:
    """The oldest of ``clips`` (of the source's content hash) where none is the source by
    name or file that holds the same video renamed or moved since: its recorded file or
    folder gone, and the source as many frames as the clip has tasks. One video is one clip
    whatever it is called: imported as a new clip, every frame got a second task. The hash
    alone is no proof (it reads only the size and the first and last MiB, equal for two
    uncompressed clips that differ between), so a clip whose file is still there is another
    video, or a copy the user named otherwise: a clip of its own, as named (comparing the two
    files would read both whole at every run)."""
    for clip, tasks in clips.items():
        videos = sorted({str(t.data.get("video")) for t in tasks})
        if not any(os.path.exists(video) for video in videos) and _same_frames(tasks, plan):
            log.info("%s: the same video as clip %s, whose file %s is gone (renamed or moved); "
                     "imported as that clip", plan.source, clip, ", ".join(videos))
            return clip
    if clips:
        log.info("%s: another video than clip(s) %s, whose name hash it shares; imported as a "
                 "clip of its own", plan.source, ", ".join(clips))
    return None


def _same_frames(tasks: Sequence[Task], plan: ClipPlan) -> bool:
    """Whether the clip's tasks could be ``plan``'s frames (its recorded file gone, all that
    can be compared): as many, and none past the source's last frame. A source imported
    only in part before it was renamed is then a new clip (resumed only under its old name)."""
    frames = {frame_index(t.data.get("frame")) for t in tasks}
    if None in frames or len(frames) != len(tasks):
        return False
    return frames == set(plan.selected) or (
        len(frames) == plan.frames and max(f for f in frames if f is not None) < plan.frames)


def _is_source(video: str, source: Path) -> bool:
    """Whether a task's ``video`` is ``source``: its resolved path, or the same file by
    another spelling (on a case-insensitive disk ``~/Frames`` resolves as typed, and a clip
    found by the names-only hash has no name in another case to tell)."""
    if video == str(source.resolve()):
        return True
    try:
        return os.path.samefile(video, source)
    except (OSError, ValueError):  # gone, unreadable, or not a path (a NUL byte)
        return False


def _in_frame_order(frames: dict[int, int | None]) -> list[int]:
    """Task ids (keys) by their frame index (values), then id; those without one last."""
    return sorted(frames, key=lambda i: (frames[i] is None, frames[i] or 0, i))


def _import_clip(
    studio: Studio,
    project: Project,
    plan: ClipPlan,
    options: ImportOptions,
    frames_root: Path | None,
    tasks: Sequence[Task],
    progress: Progress | None,
) -> ClipSummary:
    started = time.monotonic()
    # As the backend reads a frame: a CSV round trip makes it "3", a script's JSON 3.0;
    # counted as int only, each such frame got a second task on every re-import.
    frame_of = {t.id: frame_index(t.data.get("frame")) for t in tasks}
    existing = set(frame_of.values())
    todo = [i for i in plan.selected if i not in existing]
    summary = ClipSummary(plan.clip, str(plan.source.resolve()), plan.frames, len(plan.selected),
                          existing=len(plan.selected) - len(todo), width=plan.width,
                          height=plan.height, fps=round(plan.fps, 6),
                          missing_tail=plan.missing_tail, task_ids=_in_frame_order(frame_of))
    if not todo:
        log.info("%s: all %d selected frames already imported, nothing to add",
                 plan.source.resolve().name, len(plan.selected))
        return summary
    with contextlib.ExitStack() as stack:
        # Uploaded frames live here only until Label Studio has them; a killed import's
        # folder is left to the next upload (``_remove_stale_uploads``).
        if frames_root is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=UPLOAD_PREFIX))) / plan.clip
        else:
            folder = frames_root / plan.clip
        reader = stack.enter_context(open_frames(plan.source))
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VideoError(_unwritable(folder, exc)) from exc
        _remove_stale_partials(folder)
        batch: list[dict[str, Any]] = []
        written: set[int] = set()
        for frame in reader.read(todo):
            written.add(frame.index)
            path = folder / f"{frame.index:06d}.{options.image_format}"
            _write_image(path, frame.image, options)
            if frames_root is None:
                url = studio.upload_file(project.id, path)
                # Kept to the clip's end, a clip of 1200 frames held about 1 GiB of them.
                with contextlib.suppress(OSError):  # the folder goes at the clip's end anyway
                    path.unlink()
            else:
                url = local_files_url(path, options.document_root)  # type: ignore[arg-type]  # frames_root implies a document root (check_frames_root)
            batch.append({"image": url, "video": summary.source, "frame": frame.index,
                          "time": frame.time, "clip": plan.clip})
            if len(batch) >= options.batch:
                summary.created += _create(studio, project, batch, frame_of)
                batch = []
            if progress is not None:
                progress(plan.clip, len(written), len(todo))
        if batch:
            summary.created += _create(studio, project, batch, frame_of)
    if summary.created < len(written):
        # Fewer ids than tasks sent: an edition that imports in the background answers
        # none. The clip's tasks are then read back, once.
        frame_of = {t.id: frame_index(t.data.get("frame")) for t in studio.list_tasks(project.id, plan.clip)}
        summary.created = max(summary.created, len(frame_of) - len(tasks))
    summary.task_ids = _in_frame_order(frame_of)
    summary.undecodable = sorted(set(todo) - written)
    summary.seconds = round(time.monotonic() - started, 3)
    if summary.undecodable:
        log.warning("%s: %d frames do not decode (corrupt or truncated): %s", plan.source.resolve().name,
                    len(summary.undecodable), ranges(summary.undecodable))
    return summary


def _create(studio: Studio, project: Project, batch: list[dict[str, Any]],
            frame_of: dict[int, int | None]) -> int:
    """Create ``batch``'s tasks, noting each one's frame in ``frame_of``; how many were made."""
    ids = studio.create_tasks(project.id, batch)
    frame_of.update(zip(ids, (task["frame"] for task in batch)))
    return len(ids)


def local_files_url(path: Path, document_root: Path) -> str:
    """Label Studio's URL for a file under its LOCAL_FILES_DOCUMENT_ROOT."""
    relative = _lexical(path).relative_to(_lexical(document_root))  # as check_frames_root
    return "/data/local-files/?d=" + quote(relative.as_posix(), safe="/")


def _lexical(path: Path) -> Path:
    """Absolute and normalised (``..`` removed) without resolving symlinks."""
    return Path(os.path.abspath(path))


def _write_image(path: Path, image: np.ndarray, options: ImportOptions) -> None:
    """Write atomically (temp file + rename): an interrupted import leaves no half file,
    and a file that exists is complete, so a resumed import reuses it."""
    if path.is_dir():  # its size is not 0: it was taken for a written frame
        raise VideoError(f"cannot write {path}: a folder is in its place; remove it, "
                         "then run the same import again to resume")
    if path.is_file() and path.stat().st_size > 0:
        return
    if options.image_format == "png":
        ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    else:
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, options.jpeg_quality])
    if not ok:
        raise VideoError(f"could not encode {path.name}")
    # A temp file of this writer's own: imports sharing the frames folder (other machines,
    # other Label Studio URLs: the clip lock is per machine and server) wrote one file,
    # and the second rename found it gone. Hidden, and not an image: no clip of its own.
    partial = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
    try:
        partial.touch(exist_ok=False)  # O_EXCL: never another writer's
        try:
            partial.write_bytes(data.tobytes())
            os.replace(partial, path)
        except BaseException:  # a full disk or Ctrl-C: no litter, the name is never reused
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            raise
    except OSError as exc:  # disk full, quota, permissions changed mid-import
        raise VideoError(_unwritable(path, exc)) from exc


# A temp frame this old was left by a killed import: no writer takes an hour over one frame.
STALE_PARTIAL_SECONDS = 3600.0


def _remove_stale_partials(folder: Path) -> None:
    """Remove the temp files (``_write_image``) that killed imports left in ``folder``: each
    writer has its own name, so a resumed import no longer writes over them. Once per
    clip, not per frame: a scan of a folder of many frames per frame was quadratic."""
    cutoff = time.time() - STALE_PARTIAL_SECONDS
    try:
        with os.scandir(folder) as entries:
            stale = [Path(e.path) for e in entries if e.name.startswith(".") and e.name.endswith(".part")
                     and e.is_file(follow_symlinks=False) and e.stat(follow_symlinks=False).st_mtime < cutoff]
    except OSError:
        return  # clutter only: the import's own writes say what is wrong with the folder
    for path in stale:
        with contextlib.suppress(OSError):
            path.unlink()


UPLOAD_PREFIX = "samvid-upload-"


def _remove_stale_uploads(root: Path | None = None) -> None:
    """Remove the upload folders (``_import_clip``) that killed imports of this user left in
    ``root`` (the temp folder): nothing else removes them, and each holds the frames its
    import wrote but had not uploaded. A live import changes its clip folder with every
    frame, so a folder is stale only when neither it nor its entries changed within
    ``STALE_PARTIAL_SECONDS``."""
    root = Path(tempfile.gettempdir()) if root is None else root
    cutoff = time.time() - STALE_PARTIAL_SECONDS
    uid = os.getuid() if hasattr(os, "getuid") else None  # Windows: a temp folder per user
    try:
        with os.scandir(root) as entries:
            # Not followed through a link: only the folders samvid made are its to remove.
            ours = [Path(e.path) for e in entries if e.name.startswith(UPLOAD_PREFIX)
                    and e.is_dir(follow_symlinks=False)
                    and (uid is None or e.stat(follow_symlinks=False).st_uid == uid)]
    except OSError:
        return  # clutter only: this import's own upload folder says what is wrong with root
    for folder in ours:
        try:
            with os.scandir(folder) as entries:
                changed = max([folder.lstat().st_mtime,
                               *(e.stat(follow_symlinks=False).st_mtime for e in entries)])
        except OSError:
            continue  # removed meanwhile (its import ended), or not ours to read
        if changed < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def _unwritable(path: Path, exc: OSError) -> str:
    return (f"cannot write {path}: {exc.strerror or exc}; free space or fix the folder, "
            "then run the same import again to resume")


def ranges(indices: Sequence[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
