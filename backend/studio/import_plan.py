"""Phase 1 of ``samvid import``: every source is opened, checked and its frames selected
(then closed again) before Label Studio is touched, so a bad input leaves nothing behind."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import PIL.Image

from samvid.errors import VideoError
from samvid.studio.selection import (
    grey_histogram,
    histogram_difference,
    keyframe_indices,
    scene_starts,
    select_frames,
)
from samvid.studio.sources import clip_name, find_sources
from samvid.tracker.frames import FolderReader, FrameReader, open_frames

log = logging.getLogger(__name__)

# EXIF orientations that turn an image a quarter (its width and height swap on decoding).
EXIF_ORIENTATION = 0x0112
TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})


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
    # Why label_config is empty (SAMVID_CONFIG_DIR lacks the default config), said only
    # when the project must be created: one that exists keeps its own config.
    missing_config: str = ""
    # The --labels and --config (as given) label_config was rendered from: an existing
    # project keeps its own config, and the import says they are not used where they differ
    # from its. Not set by samvid up, which says it of its --labels before its import.
    labels: tuple[str, ...] = ()
    config: str | None = None


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


def plan_clips(paths: Sequence[Path], options: ImportOptions) -> list[ClipPlan]:
    """Open every source (one at a time) and select its frames; raises before anything
    is created."""
    plans: list[ClipPlan] = []
    for source in find_sources(paths):
        clip = clip_name(source)
        # In another case too: `Dog.mp4` and `dog.mp4` would share one frame folder on a
        # case-insensitive disk (macOS's, Windows').
        if any(plan.clip.casefold() == clip.casefold() for plan in plans):
            log.warning("%s: same content as an earlier input, skipped", source)
            continue
        with open_frames(source) as reader:
            plans.append(_plan_clip(source, clip, reader, options))
    return plans


def _window(options: ImportOptions) -> str:
    """The time window the user gave, in their flags' words (a flag not given is no bound,
    not "None")."""
    if options.start is not None and options.end is not None:
        return f"between --start {options.start} and --end {options.end}"
    if options.start is not None:
        return f"from --start {options.start} on"
    if options.end is not None:
        return f"before --end {options.end}"
    return "in it"


def _plan_clip(source: Path, clip: str, reader: FrameReader, options: ImportOptions) -> ClipPlan:
    check_pixels(source, reader, options)
    if isinstance(reader, FolderReader):
        check_folder_sizes(reader)
    selected = select_frames(reader.times, stride=options.stride, fps=options.fps,
                             start=options.start, end=options.end)
    if not selected:
        raise VideoError(f"{source}: no frame {_window(options)} (the clip is "
                         f"{reader.duration:.2f} s long)")
    check_seconds(source, reader.times[selected[-1]] - reader.times[selected[0]], options)
    if options.keyframes or options.scene_change is not None:
        selected = _marked_frames(reader, selected, options)
        if not selected:
            raise VideoError(f"{source}: no key frame {_window(options)}; widen the window")
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
