"""What the inputs of ``samvid import`` are: which paths are clips (a video, a folder of
frames) and the stable name each clip gets in a project."""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import PIL.Image

from samvid.errors import VideoError
from samvid.tracker.frames import is_image_file, is_video_file, list_images, natural_key

log = logging.getLogger(__name__)

# Images of a frame folder whose bytes go into its clip hash (evenly spaced, first and
# last included): enough to tell two folders apart, few enough to plan a huge folder fast.
FOLDER_HASH_SAMPLES = 8


# The slug of a name with no ASCII letter or digit to keep.
UNNAMED = "clip"


def clip_name(path: Path) -> str:
    """A stable, URL- and file-safe clip id: an ASCII slug of the name + content hash.

    The hash (size, first and last MiB; for a folder its file names and sizes and those
    bytes of a few of its images) makes two different videos called ``clip.mp4`` two
    clips, and the same video imported again the same clip.
    """
    return f"{_slug(path)}-{_content_hash(path)}"


def names_only_clip_name(folder: Path) -> str:
    """The clip name samvid gave a frame folder before its images' bytes counted (file
    names and sizes only): how to find such a folder's earlier import."""
    return f"{_slug(folder)}-{names_only_hash(folder)}"


def clip_hash(clip: str) -> str:
    """The hash part of a clip name (``clip_name``, ``names_only_clip_name``): which source
    it is, whatever it was named after (``.``, a symlink, a name in another case)."""
    return clip.rpartition("-")[2]


def _content_hash(path: Path) -> str:
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
    return digest.hexdigest()[:8]


def names_only_hash(folder: Path) -> str:
    """The hash part of ``names_only_clip_name``."""
    digest = hashlib.sha1()
    _hash_names_and_sizes(digest, folder)
    return digest.hexdigest()[:8]


def _slug(path: Path) -> str:
    # "." and ".." ("./", "frames/..") name no folder themselves; the folder they stand for
    # has a name. Else `samvid import .` named the folder "clip": a second clip beside the
    # one `samvid import <its path>` made in the same project.
    named = path.resolve() if path.name in ("", "..") else path
    ascii_name = unicodedata.normalize("NFKD", named.stem).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("._-")[:48] or UNNAMED


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
            if is_image_file(path) and not _is_animated(path):
                # A shell glob (frames/*.jpg) made each frame a clip of one frame.
                raise VideoError(f"{path}: an image, not a video; to import a folder of frames "
                                 f"as one clip, give the folder ({path.parent}), not its images")
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
        _warn_skipped(path, [p for p in entries if not is_video_file(p) and not is_image_file(p)])
        if videos:
            if any(is_image_file(p) for p in entries):
                log.warning("%s: holds videos and images; importing the videos only", path)
            sources.extend(videos)
        elif any(is_image_file(p) for p in entries):
            sources.append(path)
        else:
            # A folder of frame folders (DAVIS's JPEGImages/480p/<sequence>/) is not searched:
            # which subfolders are clips is the user's to say.
            inner = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
            hint = (f"; its {len(inner)} subfolders are not searched: give them instead, e.g. "
                    f"{path / '*'}") if inner else ""
            raise VideoError(f"{path}: folder holds no videos and no images{hint}")
    return sources


def _warn_skipped(folder: Path, skipped: list[Path]) -> None:
    """Say which files of ``folder`` are no clip by their suffix: a camera's A002.MXF or a
    DVD's .vob was passed over in silence."""
    if not skipped:
        return
    names = ", ".join(p.name for p in skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
    log.warning("%s: skipped %d files that are neither videos nor images by their suffix (%s); "
                "to import one as a video, give the file itself", folder, len(skipped), names)


def _is_animated(path: Path) -> bool:
    """Whether an image file is an animated PNG: a video by content, which PyAV decodes
    (only its header is read here: an APNG declares its frame count). Not a multi-page TIFF
    or a phone's JPEG with its preview (MPO), which Pillow also counts as frames: stills. One
    that does not open is no animation: refused as the image its suffix says."""
    try:
        with PIL.Image.open(path) as image:
            return image.format == "PNG" and bool(getattr(image, "is_animated", False))
    except (OSError, ValueError, PIL.Image.DecompressionBombError):
        return False
