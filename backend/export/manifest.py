"""``samvid.json``: what the DAVIS and YOLO layouts cannot say themselves.

Palette PNGs and YOLO txt files carry no class names (DAVIS), no object ids
(YOLO), no clip, time or source. The manifest keeps them, so those exports
load back to the same ``ExportFrame``s and tie every file to its video frame.
``object_ids`` are the project's object ids a frame's file holds; ``pixel_values``
(DAVIS only) maps each PNG value to its object id::

    {"format": "davis", "categories": [{"id": 1, "name": "car"}, ...],
     "clips": [{"clip": "...", "folder": "...", "video": "...",
                "objects": {"3": "car"}, "pixel_values": {"1": 3},
                "frames": [{"frame": 12, "time": 0.4, "source": "annotation",
                            "task_id": 7, "width": 640, "height": 480,
                            "image": "<clip>/000012.jpg", "object_ids": [3]}]}]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from samvid.export.frames import Category, ExportFrame, file_stem
from samvid.redact import url_without_credentials

MANIFEST = "samvid.json"


def video_ref(video: str) -> str:
    """A task's video as an export writes it: a URL without what signs it, its fragment and
    ``user:password@`` (``url_without_credentials``), a path or anything else as it is.

    Exported datasets get shared, and a presigned URL's signature is a credential. The rest of
    the query stays: it may be what tells two videos apart (Label Studio's ``?d=`` of a local
    file), and a task without ``clip`` is placed in the clip of this."""
    # Only what names a scheme is a URL here: a path may hold "?", or a drive's "C:".
    return url_without_credentials(video) if "://" in video[:16] else video


class ManifestWriter:
    def __init__(self, fmt: str, categories: list[Category]) -> None:
        self.fmt = fmt
        self.categories = categories
        self.clips: dict[str, dict[str, Any]] = {}

    def add(self, frame: ExportFrame, image: str, object_ids: list[int],
            pixel_values: dict[int, int] | None = None) -> None:
        """Record a frame whose labels went through ``frames.keep_first_labels``;
        ``pixel_values`` is the clip's ``{object id: PNG value}`` so far (DAVIS)."""
        clip = self.clips.setdefault(frame.clip, {
            "clip": frame.clip, "folder": file_stem(frame.clip), "video": video_ref(frame.video),
            "objects": {}, "frames": [],
        })
        for object_id, label in zip(frame.object_ids, frame.labels):
            clip["objects"].setdefault(str(object_id), label)
        if pixel_values is not None:
            clip["pixel_values"] = {str(v): o for o, v in pixel_values.items()}
        clip["frames"].append({
            "frame": frame.frame, "time": frame.time, "source": frame.source,
            "task_id": frame.task_id, "width": frame.width, "height": frame.height,
            "image": image, "object_ids": object_ids,
        })

    def close(self, out: Path) -> Path:
        path = Path(out) / MANIFEST
        path.write_text(json.dumps({
            "format": self.fmt,
            "categories": [{"id": c.id, "name": c.name} for c in self.categories],
            "clips": list(self.clips.values()),
        }, indent=1))
        return path


def read_manifest(out: Path) -> dict[str, Any]:
    return json.loads((Path(out) / MANIFEST).read_text())
