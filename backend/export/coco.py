"""COCO instance segmentation with exact RLE masks, one image per frame.

Layout::

    OUT/annotations.json
    OUT/images/<clip>/<frame:06d>.jpg   (the labelled images, copied as they are)

Beyond plain COCO (``pycocotools.coco.COCO`` loads it unchanged), each image
carries ``clip``, ``video``, ``frame``, ``time``, ``source``, ``task_id`` and
``frame_id`` (its 0-based place among its clip's images in frame order, as
mmtracking's CocoVID numbers frames; ``frame`` is the video's frame number, which a
sparsely labelled clip skips); each annotation carries ``track_id`` (the object id,
the same on every frame of the clip and in every format), ``instance_id`` (unique
over the file: one per clip and ``track_id``, as two clips may each have an object 1),
``video_id``, ``source``, ``score`` and
``attributes`` (the region's per-region attributes, ``{control name: value}``,
``{}`` when it has none; see ``identity.py``). A
``videos`` list names the clips. Masks are compressed RLE, never outlines. A
``track_id`` keeps its clip's first ``category_id`` (``frames.keep_first_labels``).

Compressed RLE is all that is held until ``close``: the output file's own size,
not the decoded masks.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from samvid.export.frames import (
    Category,
    ExportFrame,
    Problems,
    Written,
    bbox_area,
    decode_rle,
    encode_rle,
    frame_masks,
    keep_first_labels,
    report_written_labels,
    save_image,
)
from samvid.export.manifest import video_ref

ANNOTATIONS = "annotations.json"


class CocoWriter:
    def __init__(self, out: Path, categories: list[Category], problems: Problems | None = None):
        self.out = Path(out)
        self.categories = categories
        self.problems = problems if problems is not None else Problems()
        self._ids = {c.name: c.id for c in categories}
        self._first_labels: dict[tuple[str, int], str] = {}
        self._several: set[tuple[str, int]] = set()  # (clip, object id) reported as several_labels
        self.videos: dict[str, dict[str, Any]] = {}
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self._instances: dict[tuple[int, int], int] = {}  # (video id, track_id) -> instance_id
        self.written = Written()

    def add(self, frame: ExportFrame) -> None:
        frame = keep_first_labels(frame, self._first_labels, self.problems)
        video = self.videos.setdefault(
            frame.clip, {"id": len(self.videos) + 1, "name": frame.clip, "video": video_ref(frame.video)}
        )
        image_id = len(self.images) + 1
        self.images.append({
            "id": image_id,
            "file_name": save_image(frame, self.out / "images"),
            "width": frame.width,
            "height": frame.height,
            "video_id": video["id"],
            "clip": frame.clip,
            "video": video_ref(frame.video),
            "frame": frame.frame,
            "time": frame.time,
            "source": frame.source,
            "task_id": frame.task_id,
        })
        masks = frame.masks
        written: list[int] = []
        for i, object_id in enumerate(masks.object_ids):
            mask = masks.masks[i]
            if not mask.any():  # COCO has no "absent" annotation; absence is no entry
                continue
            written.append(object_id)
            bbox, area = bbox_area(mask)
            instance = self._instances.setdefault((video["id"], object_id), len(self._instances) + 1)
            self.annotations.append({
                "id": len(self.annotations) + 1,
                "image_id": image_id,
                "video_id": video["id"],
                "category_id": self._ids[frame.labels[i]],
                "segmentation": encode_rle(mask),
                "area": area,
                "bbox": bbox,
                "iscrowd": 0,
                "track_id": object_id,
                "instance_id": instance,
                "score": float(masks.scores[i]),
                "source": frame.source,
                "attributes": frame.attributes[i],
            })
        report_written_labels(frame, written, self._several, self.problems)
        self.written.add(frame.clip, frame.source, written)

    def close(self) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        # Numbered here, not as frames come, so that the order the frames came in does not matter.
        by_video: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for image in self.images:
            by_video[image["video_id"]].append(image)
        for images in by_video.values():
            for position, image in enumerate(sorted(images, key=lambda im: (im["frame"], im["id"]))):
                image["frame_id"] = position
        document = {
            "info": {"description": "samvid export", "format": "coco+video"},
            "videos": list(self.videos.values()),
            "images": self.images,
            "annotations": self.annotations,
            "categories": [{"id": c.id, "name": c.name, "supercategory": ""} for c in self.categories],
        }
        path = self.out / ANNOTATIONS
        path.write_text(json.dumps(document))
        return path


def load(out: Path) -> Iterator[ExportFrame]:
    """Frames of a COCO export, by clip then frame (the inverse of ``CocoWriter``)."""
    out = Path(out)
    path = out / ANNOTATIONS if out.is_dir() else out
    document = json.loads(path.read_text())
    names = {c["id"]: c["name"] for c in document["categories"]}
    by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for ann in document["annotations"]:
        by_image[ann["image_id"]].append(ann)
    images = sorted(document["images"], key=lambda im: (im.get("clip", ""), im.get("frame", 0)))
    for image in images:
        anns = by_image.get(image["id"], [])
        masks = frame_masks(
            image.get("frame", 0), image["height"], image["width"],
            [(a["track_id"], decode_rle(a["segmentation"]), a.get("score", 1.0)) for a in anns],
        )
        label_of = {a["track_id"]: names[a["category_id"]] for a in anns}
        attributes_of = {a["track_id"]: a.get("attributes") or {} for a in anns}
        yield ExportFrame(
            clip=image.get("clip", ""),
            frame=image.get("frame", 0),
            masks=masks,
            labels=tuple(label_of[o] for o in masks.object_ids),
            attributes=tuple(attributes_of[o] for o in masks.object_ids),
            video=image.get("video", ""),
            time=image.get("time"),
            source=image.get("source", "annotation"),
            task_id=image.get("task_id"),
            image=image["file_name"],
        )
