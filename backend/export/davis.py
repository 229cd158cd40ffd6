"""DAVIS layout: a palette PNG per frame whose pixel value is the object id.

Layout (what ``samvid eval``, ``samvid track`` and VOS training code read)::

    OUT/JPEGImages/<clip>/<frame:06d>.jpg   (or the .png, ... the frame was labelled as)
    OUT/Annotations/<clip>/<frame:06d>.png
    OUT/ImageSets/all.txt      (one clip folder per line)
    OUT/samvid.json            (classes, times, sources: see manifest.py)

Files are named by the frame index, so a sparsely labelled clip's files still
say which video frame they are. An object keeps its clip's first class
(``frames.keep_first_labels``). One value per pixel cannot hold overlapping
masks or ids above 255: the larger id wins an overlapped pixel and such cases are
reported as ``lossy``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from samvid.export.frames import (
    Category,
    ExportFrame,
    Problems,
    Where,
    exported_file,
    file_stem,
    frame_file,
    frame_masks,
    keep_first_labels,
    save_image,
)
from samvid.export.manifest import ManifestWriter, read_manifest
from samvid.tracker.masks import read_label_png, write_label_png


class DavisWriter:
    def __init__(self, out: Path, categories: list[Category], problems: Problems | None = None):
        self.out = Path(out)
        self.problems = problems if problems is not None else Problems()
        self.manifest = ManifestWriter("davis", categories)
        self._first_labels: dict[tuple[str, int], str] = {}

    def add(self, frame: ExportFrame) -> None:
        frame = keep_first_labels(frame, self._first_labels, self.problems)
        where: Where = {"clip": frame.clip, "frame": frame.frame, "task_id": frame.task_id}
        ids = np.zeros((frame.height, frame.width), np.uint8)
        written: list[int] = []
        for i, object_id in enumerate(frame.object_ids):  # ascending: larger id wins overlap
            mask = frame.masks.masks[i]
            if not mask.any():
                continue
            if object_id > 255:
                self.problems.add("lossy", f"object id {object_id} does not fit a palette PNG "
                                  "(1..255): object left out", **where)
                continue
            overlap = int((mask & (ids > 0)).sum())
            if overlap:
                self.problems.add("lossy", f"object {object_id} overlaps another object on "
                                  f"{overlap} pixels: the larger id keeps them", **where)
            ids[mask] = object_id
            written.append(object_id)
        write_label_png(self.out / "Annotations" / frame_file(frame.clip, frame.frame, ".png"), ids)
        image = save_image(frame, self.out / "JPEGImages")
        self.manifest.add(frame, image, written)

    def close(self) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        sets = self.out / "ImageSets"
        sets.mkdir(exist_ok=True)
        folders = [file_stem(c) for c in self.manifest.clips]
        (sets / "all.txt").write_text("".join(f"{f}\n" for f in folders))
        return self.manifest.close(self.out)


def load(out: Path) -> Iterator[ExportFrame]:
    """Frames of a DAVIS export, by clip then frame (the inverse of ``DavisWriter``)."""
    out = Path(out)
    manifest = read_manifest(out)
    for clip in sorted(manifest["clips"], key=lambda c: c["clip"]):
        objects = {int(k): v for k, v in clip["objects"].items()}
        for entry in clip["frames"]:
            ids = read_label_png(exported_file(out / "Annotations" / clip["folder"], entry["frame"], ".png"))
            present = [int(v) for v in np.unique(ids) if v]
            height, width = ids.shape
            masks = frame_masks(entry["frame"], height, width, [(o, ids == o, 1.0) for o in present])
            yield ExportFrame(
                clip=clip["clip"], frame=entry["frame"], masks=masks,
                labels=tuple(objects[o] for o in masks.object_ids),
                video=clip["video"], time=entry["time"], source=entry["source"],
                task_id=entry["task_id"], image=entry["image"],
            )
