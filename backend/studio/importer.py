"""Videos into Label Studio: one image task per selected frame.

The work runs in two phases so that a bad input leaves nothing behind:

1. plan: every source is found, opened and its frames selected, then closed again
   (``plan_clips``). A missing, empty, non-video or undecodable file fails here, before
   Label Studio is touched.
2. import: project, storage and ML backend are created or reused, then each clip's
   frames are written (atomically) and its tasks created in frame order, in batches.

Re-running is how an interrupted import resumes: frames that already have a task in the
project (matched by ``clip`` and ``frame``) are skipped, frame files already on disk are
reused, so a second import of the same video adds nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cv2
import numpy as np
import PIL.Image

from samvid.errors import ConfigError, SamvidError, StudioError, VideoError
from samvid.studio.client import Project, Studio
from samvid.studio.protocol import label_interface
from samvid.studio.selection import (
    grey_histogram,
    histogram_difference,
    keyframe_indices,
    scene_starts,
    select_frames,
)
from samvid.tracker.frames import (
    FolderReader,
    FrameReader,
    is_image_file,
    is_video_file,
    list_images,
    natural_key,
    open_frames,
)

log = logging.getLogger(__name__)


# -- sources ----------------------------------------------------------------------------------


# EXIF orientations that turn an image a quarter (its width and height swap on decoding).
EXIF_ORIENTATION = 0x0112
TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})
# Images of a frame folder whose bytes go into its clip hash (evenly spaced, first and
# last included): enough to tell two folders apart, few enough to plan a huge folder fast.
FOLDER_HASH_SAMPLES = 8


def clip_name(path: Path) -> str:
    """A stable, URL- and file-safe clip id: an ASCII slug of the name + content hash.

    The hash (size, first and last MiB; for a folder its file names and sizes and those
    bytes of a few of its images) makes two different videos called ``clip.mp4`` two
    clips, and the same video imported again the same clip.
    """
    digest = hashlib.sha1()
    if path.is_dir():
        images = _hash_names_and_sizes(digest, path)
        # Names and sizes alone are equal for two folders of different frames of one
        # resolution in an uncompressed format (BMP): they would be one clip, the second
        # skipped or its tasks pointed at the first one's frame files.
        for image in _spread(images, FOLDER_HASH_SAMPLES):
            _hash_ends(digest, image)
    else:
        _hash_ends(digest, path)
    return f"{_slug(path)}-{digest.hexdigest()[:8]}"


def names_only_clip_name(folder: Path) -> str:
    """The clip name samvid gave a frame folder before its images' bytes counted (file
    names and sizes only): how to find such a folder's earlier import."""
    digest = hashlib.sha1()
    _hash_names_and_sizes(digest, folder)
    return f"{_slug(folder)}-{digest.hexdigest()[:8]}"


def _slug(path: Path) -> str:
    ascii_name = unicodedata.normalize("NFKD", path.stem).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("._-")[:48] or "clip"


def _hash_names_and_sizes(digest: Any, folder: Path) -> list[Path]:
    """Feed ``digest`` the names and sizes of a folder's images; returns the images."""
    images = list_images(folder)
    for image in images:
        digest.update(f"{image.name}\0{image.stat().st_size}\0".encode())
    return images


def _hash_ends(digest: Any, path: Path) -> None:
    """Feed ``digest`` a file's size and its first and last MiB."""
    size = path.stat().st_size
    digest.update(str(size).encode())
    with path.open("rb") as fh:
        digest.update(fh.read(1 << 20))
        fh.seek(max(0, size - (1 << 20)))
        digest.update(fh.read(1 << 20))


def _spread(items: Sequence[Path], count: int) -> list[Path]:
    """Up to ``count`` of ``items``, evenly spaced, the first and the last included."""
    if len(items) <= count:
        return list(items)
    return [items[round(k * (len(items) - 1) / (count - 1))] for k in range(count)]


def find_sources(paths: Sequence[Path]) -> list[Path]:
    """Videos and frame folders from the command line, in the order given.

    A folder that holds videos gives each video (natural order); a folder with images
    and no video is one clip of extracted frames.
    """
    sources: list[Path] = []
    for path in paths:
        if not path.exists():
            raise VideoError(f"{path}: no such file or folder")
        if path.is_file():
            sources.append(path)
            continue
        if not path.is_dir():  # a FIFO, process substitution <(...), socket or device
            raise VideoError(f"{path}: not a regular file or folder (a pipe cannot be seeked: "
                             "save the video to a file first)")
        # Hidden files are no clips: macOS leaves "._clip.mp4" metadata beside each file it
        # copies to a foreign disk, and opening one as a video would refuse the whole import.
        entries = sorted((p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")),
                         key=lambda p: natural_key(p.name))
        videos = [p for p in entries if is_video_file(p)]
        if videos:
            if any(is_image_file(p) for p in entries):
                log.warning("%s: holds videos and images; importing the videos only", path)
            sources.extend(videos)
        elif any(is_image_file(p) for p in entries):
            sources.append(path)
        else:
            raise VideoError(f"{path}: folder holds no videos and no images")
    return sources


# -- values ------------------------------------------------------------------------------------


@dataclass
class ImportOptions:
    project: str
    label_config: str  # rendered XML, used only when the project is created
    frames_root: Path | None = None  # where frame files go; a subfolder of document_root
    document_root: Path | None = None  # Label Studio's LOCAL_FILES_DOCUMENT_ROOT
    image_format: str = "jpg"  # or "png"
    jpeg_quality: int = 90
    upload: bool = False
    stride: int = 1
    fps: float | None = None
    keyframes: bool = False  # only codec key frames (with stride/fps: those too)
    scene_change: float | None = None  # first frame of each shot: histogram_difference >= this
    start: float | None = None
    end: float | None = None
    backend_url: str | None = None
    backend_user: str | None = None
    backend_password: str | None = None
    batch: int = 50  # tasks per API call; small, so an interruption loses little
    max_seconds: float = 4 * 3600.0  # longer --start/--end windows are refused up front
    max_pixels: int = 7680 * 4320  # 8K; larger frames are refused (decoding bombs)


@dataclass
class ClipPlan:
    """What phase 2 needs of a source. No reader: a folder of hundreds of clips must not
    hold hundreds of open files and decoder threads; each is reopened to be imported."""

    source: Path
    clip: str
    selected: list[int]
    frames: int  # frames in the source
    width: int
    height: int
    fps: float
    missing_tail: int


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
        data.update(tasks_created=self.tasks_created, tasks_existing=self.tasks_existing,
                    undecodable=self.undecodable)
        return data


# Called after each frame: (clip, frames done, frames to do).
Progress = Callable[[str, int, int], None]


# -- phase 1: plan ------------------------------------------------------------------------------


def plan_clips(paths: Sequence[Path], options: ImportOptions) -> list[ClipPlan]:
    """Open every source (one at a time) and select its frames; raises before anything
    is created."""
    plans: list[ClipPlan] = []
    for source in find_sources(paths):
        clip = clip_name(source)
        if any(plan.clip == clip for plan in plans):
            log.warning("%s: same content as an earlier input, skipped", source)
            continue
        with open_frames(source) as reader:
            plans.append(_plan_clip(source, clip, reader, options))
    return plans


def _plan_clip(source: Path, clip: str, reader: FrameReader, options: ImportOptions) -> ClipPlan:
    check_pixels(source, reader, options)
    if isinstance(reader, FolderReader):
        check_folder_sizes(reader)
    selected = select_frames(reader.times, stride=options.stride, fps=options.fps,
                             start=options.start, end=options.end)
    if not selected:
        raise VideoError(
            f"{source}: no frame between --start {options.start} and --end "
            f"{options.end} (the clip is {reader.duration:.2f} s long)")
    check_seconds(source, reader.times[selected[-1]] - reader.times[selected[0]], options)
    if options.keyframes or options.scene_change is not None:
        selected = _marked_frames(reader, selected, options)
        if not selected:
            raise VideoError(f"{source}: no key frame between --start {options.start} "
                             f"and --end {options.end}; widen the window")
    return ClipPlan(source, clip, selected, len(reader), reader.width, reader.height,
                    reader.fps, reader.missing_tail)


def check_pixels(source: Path, reader: FrameReader, options: ImportOptions) -> None:
    """Refuse frames over the resolution limit (SAMVID_MAX_VIDEO_PIXELS): decoding bombs."""
    if reader.width * reader.height > options.max_pixels:
        raise VideoError(f"{source}: {reader.width}x{reader.height} frames are over the "
                         f"{options.max_pixels} pixel limit (SAMVID_MAX_VIDEO_PIXELS)")


def check_folder_sizes(reader: FolderReader) -> None:
    """Refuse a frame folder whose images are not all of one size: tracking skips every
    frame of another size than the first (those tasks would never get masks), and a larger
    one would dodge the resolution limit, checked on the first image only.

    Sizes come from the file headers (no decoding), as stored: whether OpenCV turns an
    image by its EXIF orientation depends on the format, so a folder of alike images
    always passes, and an image turned otherwise than the first may be the other way up."""
    first: tuple[Path, tuple[int, int], bool] | None = None
    for path in (info.path for info in reader.infos if info.path is not None):
        header = _image_header(path)
        if header is None:  # damaged: the import records it as undecodable
            continue
        size, turned = header
        if first is None:
            first = (path, size, turned)
            continue
        if size != first[1] and not (turned != first[2] and size == first[1][::-1]):
            raise VideoError(f"{path}: {size[0]}x{size[1]}, but {first[0].name} is "
                             f"{first[1][0]}x{first[1][1]}; the frames of one clip must share "
                             "one size: resize or remove it")


def _image_header(path: Path) -> tuple[tuple[int, int], bool] | None:
    """Stored width and height of an image, and whether its EXIF orientation turns it a
    quarter; None when the header does not parse. VideoError for a decompression bomb."""
    try:
        with PIL.Image.open(path) as image:
            orientation = image.getexif().get(EXIF_ORIENTATION)
            return image.size, orientation in TRANSPOSING_ORIENTATIONS
    except PIL.Image.DecompressionBombError as exc:
        raise VideoError(f"{path}: far too many pixels for a frame ({exc}); remove it") from exc
    except (OSError, ValueError, SyntaxError):  # what PIL raises for damaged headers
        return None


def check_seconds(source: Path, seconds: float, options: ImportOptions) -> None:
    """Refuse a --start/--end window (the whole video without one) over the duration limit
    (SAMVID_MAX_VIDEO_SECONDS): an upload must not tie up the machine for days. The
    window, not the file, is what gets decoded, so a short window of a long video is fine."""
    if seconds > options.max_seconds:
        raise VideoError(f"{source}: {seconds:.0f} s to import, over the {options.max_seconds:.0f} s "
                         "limit (SAMVID_MAX_VIDEO_SECONDS); cut it or choose a shorter "
                         "--start/--end window")


def _marked_frames(reader: FrameReader, selected: list[int], options: ImportOptions) -> list[int]:
    """Key frames and/or shot starts inside the --start/--end window, plus the
    --stride/--fps frames when one of those asks for more than every frame."""
    window = select_frames(reader.times, start=options.start, end=options.end)
    marks: set[int] = set()
    if options.keyframes:
        if isinstance(reader, FolderReader):
            log.warning("%s: a folder of images has no codec key frames; --keyframes takes "
                        "every frame", reader.path)
        marks.update(keyframe_indices([info.keyframe for info in reader.infos], window))
    if options.scene_change is not None:
        marks.update(window[k] for k in scene_starts(_differences(reader, window),
                                                     options.scene_change))
    dense = options.stride > 1 or options.fps is not None
    return sorted(marks | set(selected)) if dense else sorted(marks)


def _differences(reader: FrameReader, window: list[int]) -> list[float]:
    """Histogram difference of each frame of ``window`` from the one before (one decode
    pass; an undecodable frame counts as no change, so it starts no shot)."""
    diffs, previous = [], None
    decoded = {frame.index: grey_histogram(frame.image) for frame in reader.read(window)}
    for index in window:
        hist = decoded.get(index, previous)
        diffs.append(0.0 if previous is None or hist is None else
                     histogram_difference(previous, hist))
        previous = hist
    return diffs


def check_project_config(project: Project) -> None:
    """Refuse a project whose labeling config shows no frame: frame tasks carry the frame
    in ``image``, and a config without ``<Image value="$image">`` (a video project, say)
    would get tasks it cannot display (or would play the source path as its video)."""
    images = [o for o in label_interface(project.label_config).objects
              if o.tag == "Image" and o.attr.get("value") == "$image"]
    if not images:
        raise ConfigError(f"project {project.title!r} (id {project.id}) has no <Image "
                          "value=\"$image\"> in its labeling config: samvid import makes one "
                          "image task per frame; import into another --project (a new one "
                          "is created with --config)")


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
    try:
        frames.mkdir(parents=True, exist_ok=True)
        # A probe file: the folder may exist yet refuse writes (permissions, read-only or
        # immutable mount), which mkdir does not notice.
        with tempfile.NamedTemporaryFile(dir=frames, prefix=".samvid-probe-"):
            pass
    except OSError as exc:
        raise StudioError(f"cannot write frames to --frames-root {frames}: "
                          f"{exc.strerror or exc}; choose a writable subfolder of Label "
                          "Studio's LOCAL_FILES_DOCUMENT_ROOT, or use --upload") from exc
    return frames


# -- phase 2: import ----------------------------------------------------------------------------


def import_videos(
    studio: Studio,
    paths: Sequence[Path],
    options: ImportOptions,
    progress: Progress | None = None,
) -> ImportSummary:
    started = time.monotonic()
    frames_root = check_frames_root(options)
    plans = plan_clips(paths, options)
    studio.check()
    project, created = studio.get_or_create_project(options.project, options.label_config)
    if not created:
        check_project_config(project)
        log.info("project %r exists (id %d): adding to it, its labeling config is kept",
                 project.title, project.id)
    try:
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
            studio.delete_project(project.id)
        raise
    summary = ImportSummary(project.id, project.title, created, storage_id, backend_id, [])
    existing, sources = _existing_frames(studio, project)
    for plan in plans:
        plan = _earlier_folder_clip(plan, sources)
        summary.clips.append(_import_clip(studio, project, plan, options, frames_root,
                                          existing.get(plan.clip, set()), progress))
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def _existing_frames(studio: Studio, project: Project) -> tuple[dict[str, set[int]],
                                                                 dict[str, set[str]]]:
    """The frames each clip of the project has a task for, and each clip's sources."""
    frames: dict[str, set[int]] = {}
    sources: dict[str, set[str]] = {}
    for task in studio.list_tasks(project.id):
        clip, frame = task.data.get("clip"), task.data.get("frame")
        if isinstance(clip, str) and isinstance(frame, int):
            frames.setdefault(clip, set()).add(frame)
            sources.setdefault(clip, set()).add(str(task.data.get("video")))
    return frames, sources


def _earlier_folder_clip(plan: ClipPlan, sources: dict[str, set[str]]) -> ClipPlan:
    """A frame folder that this project got under its older, names-and-sizes clip name
    (from the same folder) keeps that name: its rerun resumes the import instead of
    importing every frame again under the new name."""
    if plan.clip in sources or not plan.source.is_dir():
        return plan
    earlier = names_only_clip_name(plan.source)
    if str(plan.source.resolve()) in sources.get(earlier, set()):
        log.info("%s: imported earlier as clip %s, kept", plan.source, earlier)
        return replace(plan, clip=earlier)
    return plan


def _import_clip(
    studio: Studio,
    project: Project,
    plan: ClipPlan,
    options: ImportOptions,
    frames_root: Path | None,
    existing: set[int],
    progress: Progress | None,
) -> ClipSummary:
    started = time.monotonic()
    todo = [i for i in plan.selected if i not in existing]
    summary = ClipSummary(plan.clip, str(plan.source.resolve()), plan.frames, len(plan.selected),
                          existing=len(plan.selected) - len(todo), width=plan.width,
                          height=plan.height, fps=round(plan.fps, 6),
                          missing_tail=plan.missing_tail)
    if not todo:
        log.info("%s: all %d selected frames already imported, nothing to add",
                 plan.source.name, len(plan.selected))
        return summary
    with tempfile.TemporaryDirectory(prefix="samvid-upload-") as tmp, \
            open_frames(plan.source) as reader:
        folder = (frames_root or Path(tmp)) / plan.clip
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VideoError(_unwritable(folder, exc)) from exc
        batch: list[dict[str, Any]] = []
        written: set[int] = set()
        for frame in reader.read(todo):
            written.add(frame.index)
            path = folder / f"{frame.index:06d}.{options.image_format}"
            _write_image(path, frame.image, options)
            if frames_root is None:
                url = studio.upload_file(project.id, path)
            else:
                url = local_files_url(path, options.document_root)  # type: ignore[arg-type]  # frames_root implies a document root (check_frames_root)
            batch.append({"image": url, "video": summary.source, "frame": frame.index,
                          "time": frame.time, "clip": plan.clip})
            if len(batch) >= options.batch:
                summary.created += len(studio.create_tasks(project.id, batch))
                batch = []
            if progress is not None:
                progress(plan.clip, len(written), len(todo))
        if batch:
            summary.created += len(studio.create_tasks(project.id, batch))
    summary.undecodable = sorted(set(todo) - written)
    summary.seconds = round(time.monotonic() - started, 3)
    if summary.undecodable:
        log.warning("%s: %d frames do not decode (corrupt or truncated): %s", plan.source.name,
                    len(summary.undecodable), ranges(summary.undecodable))
    return summary


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
    if path.exists() and path.stat().st_size > 0:
        return
    if options.image_format == "png":
        ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    else:
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, options.jpeg_quality])
    if not ok:
        raise VideoError(f"could not encode {path.name}")
    partial = path.with_name(path.name + ".part")
    try:
        partial.write_bytes(data.tobytes())
        os.replace(partial, path)
    except OSError as exc:  # disk full, quota, permissions changed mid-import
        raise VideoError(_unwritable(path, exc)) from exc


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
