"""Video-level export of a Label Studio project with object identity.

``reader.ProjectReader`` yields ``frames.ExportFrame`` clip by clip; one module
per format (``coco``, ``ytvis``, ``davis``, ``yolo``) holds a writer and a
``load`` that are inverses. ``export`` joins a reader to a writer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samvid.export import coco, davis, yolo, ytvis
from samvid.export.frames import ExportFrame, Written

# format name -> (writer class, loader). Every writer is made as
# ``Writer(out, categories, problems=None)`` and writes into ``out``; no format's files name
# their own folder, so an export written elsewhere first, moved or copied, stays whole.
FORMATS: dict[str, tuple[Any, Callable[[Path], Any]]] = {
    "coco": (coco.CocoWriter, coco.load),
    "ytvis": (ytvis.YtvisWriter, ytvis.load),
    "davis": (davis.DavisWriter, davis.load),
    "yolo": (yolo.YoloWriter, yolo.load),
}


@dataclass
class Summary:
    # What the writer wrote: a frame it left out (a problem says why) is not counted, nor
    # a clip none of whose frames was written.
    clips: int = 0
    frames: int = 0
    predicted_frames: int = 0
    objects: int = 0  # distinct (clip, object id) on the frames written
    problems: dict[str, int] = field(default_factory=dict)
    path: Path | None = None
    # Frames left out because they have only predictions (the reader ran without fill).
    prediction_only: int = 0
    # Frames read but left out by the writer (its format cannot hold them; problems say why).
    left_out: int = 0


class Progress:
    """Called with the number of frame tasks first, then once per exported frame."""

    def start(self, total: int) -> None: ...

    def update(self, frame: ExportFrame) -> None: ...

    def finish(self) -> None: ...


def export(reader: Any, writer: Any, progress: Progress | None = None) -> Summary:
    """Stream every clip of ``reader`` into ``writer``; bad data is reported, not fatal.

    The counts are of what ``writer.written`` (a ``frames.Written``) says it wrote."""
    progress = progress or Progress()
    summary = Summary()
    offered = 0
    clips = reader.clips()
    progress.start(sum(len(c.tasks) for c in clips))
    for clip in clips:
        for frame in reader.frames(clip):
            writer.add(frame)
            offered += 1
            progress.update(frame)
    progress.finish()
    summary.path = writer.close()  # YouTube-VIS decides which frames a clip keeps at its end
    written: Written = writer.written
    summary.frames, summary.predicted_frames = written.frames, written.predicted_frames
    summary.clips = len(written.clips)
    summary.objects = len(written.objects)
    summary.left_out = offered - written.frames
    summary.problems = dict(reader.problems.counts())
    summary.prediction_only = getattr(reader, "prediction_only", 0)
    return summary
