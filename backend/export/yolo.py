"""YOLO segmentation: normalised polygons, one txt per image, ``data.yaml``.

Layout (Ultralytics finds ``labels/`` beside ``images/``)::

    OUT/data.yaml
    OUT/images/<clip>/<frame:06d>.jpg
    OUT/labels/<clip>/<frame:06d>.txt   "<class> x1 y1 x2 y2 ..." per object
    OUT/samvid.json                     (object id of each line, times: manifest.py)

Class = category id - 1. Coordinates are pixel corners, ``x / width`` (a polygon's
area is its pixels', as in COCO, from which most YOLO-seg data is converted), the
convention of ``samvid.studio.results`` whose outline and rasteriser this module
reuses, so a polygon decodes back onto the mask it came from. A polygon is an
outline: pixels within about one pixel of the boundary may differ, and a mask with
holes or several parts keeps only its largest part's outline. Further parts and
holes wider than the boundary band are reported as ``lossy``. An object
keeps its clip's first class (``frames.keep_first_labels``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import yaml

from samvid.export.frames import (
    Category,
    ExportFrame,
    Problems,
    exported_file,
    frame_file,
    frame_masks,
    keep_first_labels,
    save_image,
)
from samvid.export.manifest import ManifestWriter, read_manifest
from samvid.studio.results import decode_polygon, mask_to_polygon

DECIMALS = 6  # 1e-6 of a 4K width is 0.004 px: rounding never moves a pixel


def polygon_of(mask: np.ndarray) -> np.ndarray:
    """(N, 2) normalised outline of the mask's largest part; empty if it has none."""
    height, width = mask.shape
    points = mask_to_polygon(mask)
    return points / [width, height] if len(points) >= 3 else np.zeros((0, 2))


def mask_of(polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bool (H, W) mask of a normalised polygon (the inverse of ``polygon_of``)."""
    result = {"original_width": width, "original_height": height,
              "value": {"points": (np.asarray(polygon) * 100.0).tolist()}}
    return decode_polygon(result)


def beyond_boundary(mask: np.ndarray, other: np.ndarray) -> int:
    """Pixels where two masks differ farther than one pixel from ``mask``'s boundary."""
    kernel = np.ones((3, 3), np.uint8)
    m = mask.astype(np.uint8)
    band = cv2.dilate(m, kernel).astype(bool) & ~cv2.erode(m, kernel).astype(bool)
    return int(((mask ^ other) & ~band).sum())


def parts(mask: np.ndarray) -> int:
    """8-connected parts of a mask, as ``cv2.findContours`` (the outline) separates them."""
    return cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] - 1


def polygon_loss(mask: np.ndarray, polygon: np.ndarray) -> str:
    """What of ``mask`` its ``polygon_of`` outline cannot hold, in words; "" if nothing
    but pixels along the boundary.

    Parts are counted, not measured: a small or thin extra part lies within the one-pixel
    band around its own boundary, where differences are otherwise allowed.
    """
    area = int(np.count_nonzero(mask))
    if not area:  # absent: nothing to hold
        return ""
    if not len(polygon):
        return f"{area} pixels too thin for a polygon: object left out"
    count = parts(mask)
    if count > 1:
        return f"{count} parts: only the largest part's outline is written"
    lost = beyond_boundary(mask, mask_of(polygon, *mask.shape))
    return f"{lost} pixels of holes are not in its polygon" if lost else ""


class YoloWriter:
    def __init__(self, out: Path, categories: list[Category], problems: Problems | None = None,
                 root: Path | None = None):
        self.out = Path(out)
        self.categories = categories
        self.problems = problems if problems is not None else Problems()
        self._class = {c.name: c.id - 1 for c in categories}
        self.manifest = ManifestWriter("yolo", categories)
        # Where the dataset will live, data.yaml's ``path``: `samvid export` writes into a
        # partial folder and moves the files to OUT once done, so it gives OUT here.
        self.root = self.out if root is None else Path(root)
        self._first_labels: dict[tuple[str, int], str] = {}

    def add(self, frame: ExportFrame) -> None:
        frame = keep_first_labels(frame, self._first_labels, self.problems)
        lines: list[str] = []
        written: list[int] = []
        for i, object_id in enumerate(frame.object_ids):
            mask = frame.masks.masks[i]
            polygon = polygon_of(mask)
            loss = polygon_loss(mask, polygon)
            if loss:
                self.problems.add("lossy", f"object {object_id}: {loss}", clip=frame.clip,
                                  frame=frame.frame, task_id=frame.task_id)
            if len(polygon) == 0:  # absent, or reported above
                continue
            coords = " ".join(f"{v:.{DECIMALS}f}" for v in polygon.reshape(-1))
            lines.append(f"{self._class[frame.labels[i]]} {coords}")
            written.append(object_id)
        label = self.out / "labels" / frame_file(frame.clip, frame.frame, ".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(f"{line}\n" for line in lines))
        image = save_image(frame, self.out / "images")
        self.manifest.add(frame, image, written)

    def close(self) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        data = {
            "path": str(Path(self.root).resolve()),
            "train": "images",
            "val": "images",
            "nc": len(self.categories),
            "names": {c.id - 1: c.name for c in self.categories},
        }
        (self.out / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        return self.manifest.close(self.out)


def read_labels(path: Path) -> list[tuple[int, np.ndarray]]:
    """``(class, (N, 2) normalised polygon)`` per line of a YOLO segmentation txt."""
    rows = []
    for line in path.read_text().splitlines():
        values = line.split()
        if len(values) >= 7:
            rows.append((int(values[0]), np.asarray(values[1:], np.float64).reshape(-1, 2)))
    return rows


def load(out: Path) -> Iterator[ExportFrame]:
    """Frames of a YOLO export, by clip then frame (the inverse of ``YoloWriter``)."""
    out = Path(out)
    manifest = read_manifest(out)
    names = yaml.safe_load((out / "data.yaml").read_text())["names"]
    for clip in sorted(manifest["clips"], key=lambda c: c["clip"]):
        for entry in clip["frames"]:
            height, width = entry["height"], entry["width"]
            rows = read_labels(exported_file(out / "labels" / clip["folder"], entry["frame"], ".txt"))
            objects = [
                (object_id, mask_of(polygon, height, width), 1.0, names[cls])
                for object_id, (cls, polygon) in zip(entry["object_ids"], rows)
            ]
            label_of = {o[0]: o[3] for o in objects}
            masks = frame_masks(entry["frame"], height, width, [o[:3] for o in objects])
            yield ExportFrame(
                clip=clip["clip"], frame=entry["frame"], masks=masks,
                labels=tuple(label_of[o] for o in masks.object_ids),
                video=clip["video"], time=entry["time"], source=entry["source"],
                task_id=entry["task_id"], image=entry["image"],
            )
