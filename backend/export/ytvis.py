"""YouTube-VIS style: one entry per video, one annotation per object over the video.

Layout::

    OUT/annotations.json
    OUT/JPEGImages/<clip>/<frame:06d>.jpg

``videos[i].file_names`` lists the exported frames of the clip in order (with
``frames``, ``times`` and ``sources`` alongside, which YouTube-VIS lacks); each
annotation holds ``segmentations``, ``areas`` and ``bboxes`` with one entry per
file name, ``null`` where the object is absent; ``attributes`` likewise holds
the object's per-region attributes on each frame (``{control name: value}``,
``{}`` where it is present without any, ``null`` where it is absent). ``object_id`` is samvid's object
id (the COCO export's ``track_id``). Each video lists the category ids of its
objects (``categories``). A video has one size, the
one most of its frames have (of equal counts, the earliest frame's): a frame of
another size is reported (``size_mismatch``) and left out, image and all. An object
keeps one class per clip, settled over the frames written: of frames from
``ProjectReader`` (which carry each object's own labels), its label on its latest
human-annotated frame written, as ``identity.object_labels`` rules (a frame left out
says nothing of it); else its first (``frames.keep_first_labels``).

Only the current clip's compressed RLE is held until it ends.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from samvid.export.frames import (
    ANNOTATION,
    Category,
    ExportFrame,
    Problems,
    Written,
    bbox_area,
    decode_rle,
    encode_rle,
    first_labels,
    frame_masks,
    report_label_changes,
    report_several_labels,
    save_image,
)
from samvid.export.identity import object_labels
from samvid.export.manifest import video_ref

ANNOTATIONS = "annotations.json"


class YtvisWriter:
    def __init__(self, out: Path, categories: list[Category], problems: Problems | None = None):
        self.out = Path(out)
        self.categories = categories
        self.problems = problems if problems is not None else Problems()
        self._ids = {c.name: c.id for c in categories}
        self.videos: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self._clip: dict[str, Any] | None = None
        # object id -> {position in the clip: (RLE, area, bbox, score, attributes)}
        self._objects: dict[int, dict[int, tuple[Any, ...]]] = {}
        self._first_labels: dict[tuple[str, int], str] = {}
        self._several: set[tuple[str, int]] = set()  # (clip, object id) reported as several_labels
        self.written = Written()

    def add(self, frame: ExportFrame) -> None:
        if self._clip is None or self._clip["name"] != frame.clip:
            self._end_clip()
            self._clip = {"name": frame.clip, "video": video_ref(frame.video), "sizes": [], "task_ids": [],
                          "objects": [], "own": [], "names": [], "file_names": [], "frames": [],
                          "times": [], "sources": []}
        clip = self._clip
        if frame.frame in clip["frames"]:
            # As ProjectReader keeps one task a frame: a second one's image would overwrite
            # the first's, which may be the frame the video keeps.
            self.problems.add("bad_task", f"a second frame {frame.frame} in the clip: left out",
                              clip=frame.clip, frame=frame.frame, task_id=frame.task_id)
            return
        # Which size the video has is known once the clip ends (``_end_clip``): until then
        # every frame is kept, its image written, its masks held as compressed RLE.
        position = len(clip["sizes"])
        clip["sizes"].append((frame.width, frame.height))
        clip["task_ids"].append(frame.task_id)
        clip["objects"].append(list(zip(frame.object_ids, frame.labels)))
        clip["own"].append(frame.frame_labels)
        clip["names"].append(frame.region_names or ("",) * len(frame.labels))
        clip["file_names"].append(save_image(frame, self.out / "JPEGImages"))
        clip["frames"].append(frame.frame)
        clip["times"].append(frame.time)
        clip["sources"].append(frame.source)
        for i, object_id in enumerate(frame.object_ids):
            mask = frame.masks.masks[i]
            if not mask.any():
                continue
            bbox, area = bbox_area(mask)
            self._objects.setdefault(object_id, {})[position] = (
                encode_rle(mask), area, bbox, float(frame.masks.scores[i]), frame.attributes[i])

    def _end_clip(self) -> None:
        clip = self._clip
        if clip is None:
            return
        self._clip, objects = None, self._objects
        self._objects = {}
        sizes: list[tuple[int, int]] = clip["sizes"]
        # A YouTube-VIS video has one size, the one most of its frames have (of equals, the
        # earliest): a frame of another would be read at the wrong size, and one odd frame,
        # the first included, must cost only itself.
        counts = Counter(sizes)
        width, height = max(counts, key=lambda size: (counts[size], -sizes.index(size)))
        kept = [p for p, size in enumerate(sizes) if size == (width, height)]
        for p, (w, h) in enumerate(sizes):
            if (w, h) == (width, height):
                continue
            self.problems.add(
                "size_mismatch",
                f"the frame is {w}x{h}, its video {width}x{height} (the size most of its "
                "frames have): frame left out",
                clip=clip["name"], frame=clip["frames"][p], task_id=clip["task_ids"][p],
            )
            # A clip's frame numbers, and so its file names, are unique (``add``): no kept
            # frame shares this file.
            (self.out / "JPEGImages" / clip["file_names"][p]).unlink(missing_ok=True)
        settled = settled_labels(clip, kept, objects)
        labels: dict[int, str] = {}
        for p in kept:
            pairs = [(o, settled.get(o, label)) for o, label in clip["objects"][p]]
            report_label_changes(clip["name"], clip["frames"][p], clip["task_ids"][p],
                                 ((o, own, label) for (o, label), own in zip(pairs, clip["own"][p])
                                  if p in objects.get(o, {})),
                                 self.problems)
            firsts = first_labels(clip["name"], clip["frames"][p], clip["task_ids"][p], pairs,
                                  self._first_labels, self.problems)
            for (object_id, _), label in zip(pairs, firsts):
                labels.setdefault(object_id, label)
            written = [o for o, _ in pairs if p in objects.get(o, {})]
            # Only now, over the frames the video keeps: a frame left out for its size is not
            # exported with its labels.
            report_several_labels(clip["name"], clip["frames"][p], clip["task_ids"][p],
                                  ((o, own, label, name) for (o, _), label, own, name
                                   in zip(pairs, firsts, clip["own"][p], clip["names"][p]) if o in written),
                                  self._several, self.problems)
            self.written.add(clip["name"], clip["sources"][p], written)
        video = {
            "id": len(self.videos) + 1, "name": clip["name"], "video": clip["video"],
            "width": width, "height": height, "length": len(kept),
            **{key: [clip[key][p] for p in kept]
               for key in ("file_names", "frames", "times", "sources")},
        }
        on_kept = set(kept)
        present = {o: e for o, e in sorted(objects.items()) if not on_kept.isdisjoint(e)}
        for object_id, frames in present.items():
            entries = [frames.get(p) for p in kept]
            self.annotations.append({
                "id": len(self.annotations) + 1,
                "video_id": video["id"],
                "object_id": object_id,
                "category_id": self._ids[labels[object_id]],
                "iscrowd": 0,
                "height": height,
                "width": width,
                "length": 1,
                "segmentations": [e[0] if e else None for e in entries],
                "areas": [e[1] if e else None for e in entries],
                "bboxes": [e[2] if e else None for e in entries],
                "scores": [e[3] if e else None for e in entries],
                "attributes": [e[4] if e else None for e in entries],
            })
        video["categories"] = sorted({self._ids[labels[o]] for o in present})
        self.videos.append(video)

    def close(self) -> Path:
        self._end_clip()
        self.out.mkdir(parents=True, exist_ok=True)
        document = {
            "info": {"description": "samvid export", "format": "youtube-vis"},
            "videos": self.videos,
            "annotations": self.annotations,
            "categories": [{"id": c.id, "name": c.name, "supercategory": ""} for c in self.categories],
        }
        path = self.out / ANNOTATIONS
        path.write_text(json.dumps(document))
        return path


def settled_labels(
    clip: dict[str, Any], kept: list[int], objects: dict[int, dict[int, Any]]
) -> dict[int, str]:
    """``{object id: class}`` over the clip's frames ``kept`` (positions) that carry their
    objects' own labels (``ExportFrame.frame_labels``: a ``ProjectReader``'s), as the reader
    settles it over the frames it reads (``identity.object_labels``): a frame left out for
    its size must not give a class to the frames written, nor an object where its mask
    covers no pixel (``objects``: object id -> the positions where it has one)."""
    read = [p for p in kept if clip["own"][p]]
    return object_labels(
        [[(o, own[0]) for (o, _), own in zip(clip["objects"][p], clip["own"][p])
          if own and p in objects.get(o, {})] for p in read],
        [clip["sources"][p] == ANNOTATION for p in read])


def clip_name(video: dict[str, Any]) -> str:
    """A video's clip: its ``name``; a plain YouTube-VIS video has none, and names its
    frames ``<video folder>/<frame>.jpg``, so the folder is its name."""
    if "name" in video:
        return str(video["name"])
    folder = str(Path(video["file_names"][0]).parent) if video.get("file_names") else "."
    return folder if folder != "." else str(video["id"])


def load(out: Path) -> Iterator[ExportFrame]:
    """Frames of a YouTube-VIS export, by clip then frame (the inverse of ``YtvisWriter``);
    plain YouTube-VIS files too (``clip_name``, object id = annotation id, frame = position)."""
    out = Path(out)
    document = json.loads((out / ANNOTATIONS if out.is_dir() else out).read_text())
    names = {c["id"]: c["name"] for c in document["categories"]}
    for video in sorted(document["videos"], key=clip_name):
        objects = [a for a in document["annotations"] if a["video_id"] == video["id"]]
        for a in objects:  # plain YouTube-VIS files have no object_id: the annotation id is one
            a.setdefault("object_id", a["id"])
        for position, file_name in enumerate(video["file_names"]):
            frame = video["frames"][position] if "frames" in video else position
            present = [a for a in objects if a["segmentations"][position] is not None]
            scores = [(a.get("scores") or [None] * video["length"])[position] for a in present]
            attributes_of = {
                a["object_id"]: (a.get("attributes") or [None] * video["length"])[position] or {}
                for a in present
            }
            masks = frame_masks(
                frame, video["height"], video["width"],
                [(a["object_id"], decode_rle(a["segmentations"][position]),
                  1.0 if s is None else s) for a, s in zip(present, scores)],
            )
            label_of = {a["object_id"]: names[a["category_id"]] for a in present}
            yield ExportFrame(
                clip=clip_name(video),
                frame=frame,
                masks=masks,
                labels=tuple(label_of[o] for o in masks.object_ids),
                attributes=tuple(attributes_of[o] for o in masks.object_ids),
                video=video.get("video", ""),
                time=(video.get("times") or [None] * video["length"])[position],
                source=(video.get("sources") or ["annotation"] * video["length"])[position],
                image=file_name,
            )
