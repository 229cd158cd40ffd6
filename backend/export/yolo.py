"""YOLO segmentation: normalised polygons, one txt per image, ``data.yaml``.

Layout (Ultralytics finds ``labels/`` beside ``images/``)::

    OUT/data.yaml                       train/val: images, relative to the yaml's folder
    OUT/images/<clip>/<frame:06d>.jpg
    OUT/labels/<clip>/<frame:06d>.txt   "<class> x1 y1 x2 y2 ..." per object
    OUT/samvid.json                     (object id of each line, times: manifest.py)

Class = category id - 1. Coordinates are pixel corners, ``x / width`` (a polygon's
area is its pixels', as in COCO, from which most YOLO-seg data is converted), the
convention of ``samvid.studio.results`` whose outline and rasteriser this module
reuses, so a polygon decodes back onto the mask it came from. A polygon is an
outline: pixels within about one pixel of the boundary may differ, and holes are
filled (holes wider than the boundary band are reported as ``lossy``). A line holds
one polygon, so a mask in several parts (an object seen around an occluder) is one
polygon that runs around every part, joined by zero-width bridges walked there and
back (as Ultralytics' own converters join a COCO object's parts): a bridge encloses
no pixel, so every part is kept (Ultralytics' rasteriser paints a bridge as a line one
pixel wide and as long as the gap it crosses). An object keeps its clip's first class
(``frames.keep_first_labels``).
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
    Written,
    exported_file,
    frame_file,
    frame_masks,
    keep_first_labels,
    report_written_labels,
    save_image,
)
from samvid.export.manifest import ManifestWriter, read_manifest
from samvid.studio.results import decode_polygon, mask_to_polygons

DECIMALS = 6  # 1e-6 of a 4K width is 0.004 px: rounding never moves a pixel


def nearest_pair(a: np.ndarray, b: np.ndarray) -> tuple[int, int, float]:
    """Indices ``(i, j)`` of the closest points ``a[i]``, ``b[j]``, and their squared
    distance; in chunks of ``b``, so two long outlines never need their whole distance
    matrix at once."""
    best, pair = np.inf, (0, 0)
    chunk = max(1, 4_000_000 // max(1, len(a)))
    for lo in range(0, len(b), chunk):
        d = ((a[:, None, :] - b[None, lo:lo + chunk, :]) ** 2).sum(-1)
        i, j = np.unravel_index(int(np.argmin(d)), d.shape)
        if d[i, j] < best:
            best, pair = float(d[i, j]), (int(i), lo + int(j))
    return pair[0], pair[1], best


def joined(outlines: list[np.ndarray]) -> np.ndarray:
    """One closed polygon through every outline (largest first), in pixel units.

    Each further outline hangs off the nearest vertex of those already joined; the walk
    leaves that vertex for the outline's nearest vertex, goes once around it (and its
    own hangers-on) and comes back the same way. A bridge walked there and back adds
    nothing to the winding number, so the polygon encloses exactly the parts' pixels.
    (Short bridges also cross few other parts, which a rasteriser that paints a bridge's
    line, as Ultralytics' does, would mark.)
    """
    placed = [np.asarray(o, np.float64) for o in outlines]
    offset = np.cumsum([0] + [len(o) for o in placed])
    everything = np.concatenate(placed)
    low = np.array([o.min(axis=0) for o in placed])
    high = np.array([o.max(axis=0) for o in placed])
    # (outline, vertex) -> [(outline hanging there, its vertex)]
    hangers: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for k in range(1, len(placed)):
        # Earlier outlines by the distance between bounding boxes, a lower bound of their
        # vertices' distance: once it passes the nearest pair found, no outline holds a
        # nearer one. (Every vertex of every earlier outline costs time quadratic in the
        # parts: seconds a frame for a noisy mask of thousands of specks.)
        gap = (np.maximum(0.0, np.maximum(low[:k] - high[k], low[k] - high[:k])) ** 2).sum(axis=1)
        best = (np.inf, 0, 0, 0)  # squared distance, host, vertex of k, vertex of host
        while True:
            host = int(np.argmin(gap))
            if gap[host] >= best[0]:
                break
            gap[host] = np.inf
            i, j, d = nearest_pair(placed[k], placed[host])
            if d < best[0]:
                best = (d, host, i, j)
        _, host, i, j = best
        hangers.setdefault((host, j), []).append((k, i))

    def steps(k: int, start: int, back: bool) -> Iterator[tuple[int, int]]:
        """(outline, vertex) of a walk around outline ``k`` from ``start``; a negative
        outline is a hanger's walk to enter (the stack below keeps deep chains flat)."""
        n = len(placed[k])
        for step in range(n + back):
            i = (start + step) % n
            yield k, i
            if step < n:
                for child, j in hangers.get((k, i), ()):
                    yield -1 - child, j
                    yield k, i

    walk: list[int] = []
    stack = [steps(0, 0, False)]
    while stack:
        step = next(stack[-1], None)
        if step is None:
            stack.pop()
        elif step[0] < 0:
            stack.append(steps(-1 - step[0], step[1], True))
        else:
            walk.append(int(offset[step[0]]) + step[1])
    return everything[walk]


def polygon_of(mask: np.ndarray) -> np.ndarray:
    """(N, 2) normalised outline of the mask, every part joined into one polygon
    (``joined``); empty if it has none."""
    height, width = mask.shape
    outlines = mask_to_polygons(mask, min_part=0.0)
    if not outlines:
        return np.zeros((0, 2))
    return joined(outlines) / [width, height]


def mask_of(polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bool (H, W) mask of a normalised polygon (the inverse of ``polygon_of``)."""
    result = {"original_width": width, "original_height": height,
              "value": {"points": (np.asarray(polygon) * 100.0).tolist()}}
    # The frame's own size, however large: an export's frames are sized by their images.
    return decode_polygon(result, max_pixels=max(1, height * width))


def beyond_boundary(mask: np.ndarray, other: np.ndarray) -> int:
    """Pixels where two masks differ farther than one pixel from ``mask``'s boundary."""
    kernel = np.ones((3, 3), np.uint8)
    m = mask.astype(np.uint8)
    band = cv2.dilate(m, kernel).astype(bool) & ~cv2.erode(m, kernel).astype(bool)
    return int(((mask ^ other) & ~band).sum())


def missing_parts(mask: np.ndarray, decoded: np.ndarray) -> int:
    """8-connected parts of ``mask`` (as ``cv2.findContours`` separates them) of which
    ``decoded`` holds no pixel.

    Parts are counted, not measured: a small or thin part lies within the one-pixel band
    around its own boundary, where differences are otherwise allowed.
    """
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    held = np.unique(labels[decoded & mask.astype(bool)])
    return (count - 1) - int(np.count_nonzero(held))


def polygon_loss(mask: np.ndarray, polygon: np.ndarray) -> str:
    """What of ``mask`` its ``polygon_of`` outline cannot hold, in words; "" if nothing
    but pixels along the boundary."""
    area = int(np.count_nonzero(mask))
    if not area:  # absent: nothing to hold
        return ""
    if not len(polygon):
        return f"{area} pixels too thin for a polygon: object left out"
    decoded = mask_of(polygon, *mask.shape)
    missing = missing_parts(mask, decoded)
    if missing:
        return f"{missing} of its parts are not in its polygon"
    lost = beyond_boundary(mask, decoded)
    return f"{lost} pixels of holes are not in its polygon" if lost else ""


class YoloWriter:
    def __init__(self, out: Path, categories: list[Category], problems: Problems | None = None):
        self.out = Path(out)
        self.categories = categories
        self.problems = problems if problems is not None else Problems()
        self._class = {c.name: c.id - 1 for c in categories}
        self.manifest = ManifestWriter("yolo", categories)
        self._first_labels: dict[tuple[str, int], str] = {}
        self._several: set[tuple[str, int]] = set()  # (clip, object id) reported as several_labels
        self.written = Written()

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
        report_written_labels(frame, written, self._several, self.problems)
        self.written.add(frame.clip, frame.source, written)

    def close(self) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        # No ``path``: Ultralytics then takes the yaml's own folder as the root, so an export
        # copied or moved elsewhere still finds its images (an absolute path names the old
        # place; ``path: .`` is taken from the working directory, not the yaml).
        data = {
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
