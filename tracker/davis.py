"""DAVIS layout: read sequences, run an engine on one, write its masks back.

``ROOT/JPEGImages/<seq>/*.jpg`` (or ``.png``, ``.jpeg``, ...: what ``samvid export`` copies
from a project imported with ``--png``) and ``ROOT/Annotations/<seq>/*.png`` (palette PNGs,
pixel value = object id), or the official layout with a resolution level between
(``JPEGImages/480p/<seq>``). The tracker is seeded with every object of the first
annotation.
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
from samvid.tracker.metrics import annotations_dir

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
    """``root/JPEGImages/<resolution>`` (official DAVIS layout) or ``root/JPEGImages``."""
    jpeg = Path(root) / "JPEGImages"
    return jpeg / resolution if (jpeg / resolution).is_dir() else jpeg


def sequences(root: Path | str, resolution: str = "480p") -> list[str]:
    return sorted(p.name for p in frames_dir(root, resolution).iterdir() if p.is_dir())


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


def track_sequence(
    engine: Engine, root: Path | str, name: str, out_root: Path | str, resolution: str = "480p"
) -> int:
    """Track sequence ``name`` of DAVIS ``root``; write PNGs under ``out_root``. Frames written."""
    frames = JpegFolder.of(frames_dir(root, resolution) / name)
    first_png = annotations_dir(root, resolution) / name / (frames.files[0].stem + ".png")
    if not first_png.is_file():
        raise FileNotFoundError(f"{name}: no mask for its first frame ({first_png})")
    first = read_label_png(first_png)
    out = Path(out_root) / "Annotations" / name
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    state = engine.init_state(frames)
    for o, m in masks_of(first).items():
        engine.add_mask(state, 0, o, m)
    for fm in engine.propagate(state, 0):
        write_label_png(out / (frames.files[fm.frame].stem + ".png"), label_map(fm))
        n += 1
    log.info("%s: %d frames, %.1f frames/s, skipped %s", name, n, state.progress.fps, state.progress.skipped)
    return n
