"""DAVIS layout: read sequences, run an engine on one, write its masks back.

``ROOT/JPEGImages/<seq>/*.jpg`` (or ``.png``, ``.jpeg``, ...: what ``samvid export`` copies
from a project imported with ``--png``) and ``ROOT/Annotations/<seq>/*.png`` (palette PNGs,
pixel value = object id), or the official layout with a resolution level between
(``JPEGImages/480p/<seq>``). The tracker is seeded with every object of the first
annotation (255 beside other ids is DAVIS's void, no object).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from samvid.tracker.engine import Engine
from samvid.tracker.frames import IMAGE_SUFFIXES, list_images
from samvid.tracker.masks import FrameMasks, read_label_png, write_label_png
from samvid.tracker.metrics import (
    annotations_dir,
    first_frame_objects,
    is_png,
    label_pngs,
    level_dir,
    sequence_folders,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JpegFolder:
    """A frames source over a folder's image files (``.jpg``, ``.png``, ...), decoded on access
    (nothing cached). Files are in natural order (``99999`` before ``100000``), so frame
    names of any width read in frame order."""

    files: tuple[Path, ...]

    @classmethod
    def of(cls, folder: Path | str) -> JpegFolder:
        files = tuple(list_images(Path(folder)))
        if not files:
            raise FileNotFoundError(f"no image frames ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
        # A frame's mask is named by its image's stem: two images of one stem share a mask.
        twice = sorted(stem for stem, n in Counter(p.stem for p in files).items() if n > 1)
        if twice:
            raise ValueError(f"{folder}: more than one image for frame {', '.join(twice)}")
        return cls(files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> np.ndarray:
        bgr = cv2.imread(str(self.files[i]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise OSError(f"cannot decode {self.files[i]}")
        return bgr[..., ::-1].copy()

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]


def frames_dir(root: Path | str, resolution: str = "480p") -> Path:
    """``root/JPEGImages/<resolution>`` (official DAVIS layout) or ``root/JPEGImages``;
    FileNotFoundError naming the levels there when the official layout lacks ``resolution``."""
    return level_dir(Path(root) / "JPEGImages", resolution)


def sequences(root: Path | str, resolution: str = "480p") -> list[str]:
    """The sequences of a DAVIS root, by name; FileNotFoundError when it has none."""
    return sequence_folders(frames_dir(root, resolution))


def sequence_names(given: list[str], folder: Path) -> list[str]:
    """The sequences ``--seq`` names, each once, in order: a name's last path part (``bear/``
    by tab completion, ``./bear`` and ``/data/Annotations/bear`` are ``bear``; an absolute
    one, joined onto SRC and OUT, would be SRC's frames, ground truth and OUT at once).
    ValueError for one whose last part names no sequence (``.``, ``..``, ``/``, empty): joined
    onto ``folder`` it would be ``folder`` itself or its parent, read as one sequence."""
    names = []
    for value in given:
        name = Path(value).name
        if name in ("", ".", ".."):
            try:
                there = f" (such as {', '.join(sequence_folders(folder)[:3])})"
            except FileNotFoundError:
                there = ""
            raise ValueError(f"--seq {value!r} is no sequence name: give the names of sequence "
                             f"folders in {folder}{there}")
        names.append(name)
    return list(dict.fromkeys(names))


def label_map(fm: FrameMasks) -> np.ndarray:
    """uint8 (H, W) ids from FrameMasks; where masks overlap the higher score wins."""
    h, w = fm.masks.shape[1:]
    out = np.zeros((h, w), np.uint8)
    best = np.full((h, w), -1.0, np.float32)
    for k, o in enumerate(fm.object_ids):
        if not fm.visible[k]:
            continue
        take = fm.masks[k] & (fm.scores[k] > best)
        out[take] = o
        best[take] = fm.scores[k]
    return out


def masks_of(labels: np.ndarray) -> dict[int, np.ndarray]:
    return {int(o): labels == o for o in np.unique(labels) if o != 0}


@dataclass(frozen=True)
class Tracked:
    """What ``track_sequence`` wrote: ``written`` masks of the sequence's ``total`` frames;
    ``skipped`` names the frames the engine could not read (no mask written)."""

    written: int
    total: int
    skipped: tuple[str, ...]


def mask_file(folder: Path, stem: str) -> Path:
    """The mask of frame ``stem`` in ``folder``: ``<stem>.png`` or ``<stem>.PNG`` (any case);
    ``<stem>.png`` when there is none, to be named in the error."""
    exact = folder / (stem + ".png")
    if exact.is_file() or not folder.is_dir():
        return exact
    return next((p for p in sorted(folder.iterdir()) if p.stem == stem and is_png(p)), exact)


def clear_masks(folder: Path) -> None:
    """Remove the PNGs in ``folder`` (an earlier run's output, ``.png`` in any case): a frame
    this run does not write must not keep an old mask that would be scored as this run's."""
    for png in folder.iterdir() if folder.is_dir() else ():
        if png.suffix.lower() == ".png" and png.is_file():
            png.unlink()


def no_first_mask(name: str, first_frame: Path, expected: Path) -> str:
    """Why sequence ``name`` has no first mask, naming the masks that are there: a mask named
    one frame off (00001.png beside frames from 00000.jpg, as ffmpeg numbers from 1) was
    reported as missing, with nothing to say that it was there under another name."""
    there = label_pngs(expected.parent)
    fix = (f"the first frame is {first_frame.name}, so its mask must be {expected.name} "
           "(a mask is named after its frame; pixel value = object id)")
    if not there:
        return f"{name}: no mask for its first frame ({expected}); {fix}"
    shown = ", ".join(p.name for p in there[:3]) + (f" and {len(there) - 3} more" if len(there) > 3 else "")
    return f"{name}: no mask for its first frame ({expected}); {expected.parent} holds {shown}, but {fix}"


def track_sequence(
    engine: Engine, root: Path | str, name: str, out_root: Path | str, resolution: str = "480p"
) -> int:
    """Track sequence ``name`` of DAVIS ``root``; write PNGs under ``out_root``. Frames written."""
    return track_one(engine, root, name, out_root, resolution).written


def track_one(
    engine: Engine, root: Path | str, name: str, out_root: Path | str, resolution: str = "480p"
) -> Tracked:
    """Track sequence ``name`` of DAVIS ``root``; write PNGs under ``out_root`` in place of
    any earlier ones of that sequence. What was written, of how many frames."""
    frames = JpegFolder.of(frames_dir(root, resolution) / name)
    truth = annotations_dir(root, resolution) / name
    out = Path(out_root) / "Annotations" / name
    if out.resolve() == truth.resolve():
        raise ValueError(f"{out} holds the ground truth of {name}: write into another folder")
    clear_masks(out)  # first: a run that fails leaves no earlier run's masks to be scored
    if not (Path(root) / "Annotations").is_dir():
        # Without it ``annotations_dir`` reads the root as an Annotations folder, and the
        # missing first mask would be looked for in ROOT/<seq>/, where no DAVIS root has one.
        raise FileNotFoundError(f"{root} has no Annotations/ folder: put the first frame's mask of "
                                f"{name} in {Path(root) / 'Annotations' / name}/ (pixel value = object id)")
    first_png = mask_file(truth, frames.files[0].stem)
    if not first_png.is_file():
        raise FileNotFoundError(no_first_mask(name, frames.files[0], first_png))
    first = read_label_png(first_png)
    if not first.any():
        raise ValueError(f"{first_png} holds no object: mark at least one object on the first frame")
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    state = engine.init_state(frames)
    for o in first_frame_objects(first):  # not DAVIS's void (255) beside the objects
        engine.add_mask(state, 0, o, first == o)
    for fm in engine.propagate(state, 0):
        write_label_png(out / (frames.files[fm.frame].stem + ".png"), label_map(fm))
        n += 1
    skipped = tuple(frames.files[i].stem for i in state.progress.skipped)
    log.info("%s: %d frames, %.1f frames/s, skipped %s", name, n, state.progress.fps, skipped)
    return Tracked(n, len(frames), skipped)
