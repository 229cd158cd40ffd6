"""A propagation over a clip held in memory, for the tests of jobs whose human frames change
while they run: no Label Studio, the tracker over flat frames, task id = frame + 1."""

from __future__ import annotations

from typing import Any

import numpy as np

from samvid.errors import BadRequest, NotFound
from samvid.images import ImageSource
from samvid.propagation import Propagator
from samvid.settings import Settings
from samvid.studio.client import Studio
from samvid.studio.protocol import parse_config
from samvid.studio.results import mask_region

CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
          '<Label value="Car"/><Label value="Person"/></BrushLabels></View>')
TARGET = parse_config(CONFIG)
SETTINGS = {"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "x"}


def box_region(label: str = "Car", region_id: str = "car", x: int = 5) -> dict[str, Any]:
    """A 8x7 mask region at ``x`` on a 40x20 frame."""
    m = np.zeros((20, 40), bool)
    m[5:12, x:x + 8] = True
    return mask_region(m, TARGET, [label], region_id=region_id)


class Context:
    """A job's context that keeps its notes."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def progress(self, done: int, total: int, fps: float) -> None:
        pass

    def note(self, text: str) -> None:
        self.notes.append(text)

    def cancelled(self) -> bool:
        return False


def memory_clip(human: dict[int, list[dict[str, Any]]], frames: int, on_write: Any = None,
                gone: set[int] | None = None) -> tuple[Propagator, list[int]]:
    """A Propagator over a clip of ``frames`` flat frames whose human frames hold ``human``
    (read live: change it to change an annotation, delete a key to delete it; a frame in
    ``gone`` is a deleted task), and the frames it writes, in order. ``on_write(frame)``
    runs after each write."""
    gone = gone if gone is not None else set()
    settings = Settings.from_env(SETTINGS)
    studio = Studio(settings.label_studio_url, "x")
    studio.request = lambda method, path, what, **kwargs: {"label_config": CONFIG}
    propagator = Propagator(studio, ImageSource.from_settings(settings))
    propagator.clip_tasks = lambda project, clip, waited_for=False: [
        {"id": 1 + f, "data": {"clip": "c", "frame": f, "image": f"/f{f}.png"}, "total_annotations": int(f in human)}
        for f in range(frames)]

    def latest(task_id: int) -> list[dict[str, Any]]:
        if task_id - 1 in gone:
            raise NotFound(f"task {task_id} is gone")
        if task_id - 1 not in human:
            raise BadRequest(f"task {task_id} has no annotation to propagate from")
        return human[task_id - 1]

    propagator.latest_annotation = latest
    propagator.annotated_now = lambda task_id: task_id - 1 in human
    images = [np.full((20, 40, 3), 100, np.uint8) for _ in range(frames)]
    propagator._span = lambda walk, target, all_frames: (images[: len(walk)], {i: t["id"] for i, t in enumerate(walk)})
    written: list[int] = []

    def write(task_id: int, *args: Any, **kwargs: Any) -> None:
        written.append(task_id - 1)
        if on_write is not None:
            on_write(task_id - 1)

    studio.replace_predictions = write
    studio.own_predictions = lambda task_id, prefix, **kwargs: []
    return propagator, written
