"""A frame-task project in the real Label Studio, with known masks and object ids.

Helpers for the export tests (imported by ``conftest.py`` and the tests); a name of
its own so it never clashes with another folder's ``conftest``.

Built once per session (through the SDK, as ``samvid import`` and annotators would)
and shared by the export tests. ``expected`` holds what every export must give back:
``{(clip, frame): {object_id: (label, mask)}}``.

- clip "walk" (frames 0-4, images served by a local-files storage): objects 1 (car)
  and 2 (person) with explicit ids (the multi-object config's per-region Number);
  frame 3 has no annotation but a samvid prediction (``--fill``), frame 4 lacks
  object 2, frame 2's annotation has a cancelled twin that must be ignored.
- clip "fallback" (frames 10 and 12): no explicit ids; region "keep" has the same
  region id on both frames (one object), the others a fresh id per frame; frame 12
  also holds a polygon region (object 4).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import requests

from samvid.studio.client import Project as StudioProject
from samvid.studio.client import Studio
from samvid.studio.results import brush_result, decode_polygon, polygon_result

H, W = 48, 64
CONFIG = """<View>
  <Image name="image" value="$image"/>
  <BrushLabels name="mask" toName="image">
    <Label value="car"/><Label value="person"/>
  </BrushLabels>
  <PolygonLabels name="outline" toName="image">
    <Label value="person"/>
  </PolygonLabels>
  <Number name="object_id" toName="image" perRegion="true" min="1"/>
</View>"""


def disk(cx: int, cy: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def rect(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def region(mask: np.ndarray, label: str, object_id: int | None = None,
           region_id: str | None = None) -> list[dict]:
    """A brush region, plus its object-id Number when ``object_id`` is given."""
    brush = brush_result(mask, from_name="mask", to_name="image", labels=[label],
                         region_id=region_id)
    brush["origin"] = "manual"
    if object_id is None:
        return [brush]
    number = {"id": brush["id"], "from_name": "object_id", "to_name": "image",
              "type": "number", "value": {"number": object_id}}
    return [brush, number]


@dataclass
class Project:
    id: int
    url: str
    token: str
    client: object
    folder: Path
    expected: dict[tuple[str, int], dict[int, tuple[str, np.ndarray]]] = field(default_factory=dict)
    predicted: set[tuple[str, int]] = field(default_factory=set)

    @property
    def studio(self) -> Studio:
        """samvid's Label Studio layer, as ``samvid export`` builds it."""
        return Studio(self.url, self.token)

    def new_project(self, title: str, config: str = CONFIG) -> int:
        project = self.client.projects.create(title=title, label_config=config)
        storage = requests.post(
            f"{self.url}/api/storages/localfiles",
            headers={"Authorization": f"Token {self.token}"},
            json={"project": project.id, "path": str(self.folder), "title": "frames"},
            timeout=30,
        )
        assert storage.status_code == 201, storage.text
        return project.id

    def image(self, name: str, seed: int) -> str:
        """Write a noise PNG and return its Label Studio URL."""
        pixels = np.random.default_rng(seed).integers(0, 255, (H, W, 3), np.uint8)
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), pixels)
        relative = path.relative_to(self.folder.parent)
        return f"/data/local-files/?d={relative}"

    def task(self, project: int, clip: str, frame: int, image: str) -> int:
        data = {"image": image, "video": f"/videos/{clip}.mp4", "frame": frame,
                "time": frame / 25.0, "clip": clip}
        return self.client.tasks.create(project=project, data=data).id


def build(label_studio) -> Project:
    folder = label_studio.files_root / f"export-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    p = Project(0, label_studio.url, label_studio.token, label_studio.client(), folder)
    p.id = p.new_project("export round trip")
    client = p.client

    car = [rect(4 + 3 * f, 6, 20 + 3 * f, 20) for f in range(5)]
    person = [disk(44 - 2 * f, 32, 9) for f in range(5)]
    for f in range(5):
        task = p.task(p.id, "walk", f, p.image(f"walk/{f:05d}.png", f))
        if f == 3:  # never annotated: only samvid's prediction (and a foreign model's)
            prediction = region(car[f], "car", 1) + region(person[f], "person", 2)
            client.predictions.create(task=task, result=prediction, model_version="samvid-0.1",
                                      score=0.9)
            client.predictions.create(task=task, result=region(rect(0, 0, 9, 9), "car", 7),
                                      model_version="other-model")
            p.predicted.add(("walk", f))
            p.expected[("walk", f)] = {1: ("car", car[f]), 2: ("person", person[f])}
            continue
        result = region(car[f], "car", 1)
        objects = {1: ("car", car[f])}
        if f != 4:
            result += region(person[f], "person", 2)
            objects[2] = ("person", person[f])
        if f == 2:  # a cancelled (skipped) annotation must not win even though it is newer
            client.annotations.create(id=task, result=result, was_cancelled=False)
            client.annotations.create(id=task, result=region(rect(0, 0, 5, 5), "car", 9),
                                      was_cancelled=True)
        else:
            client.annotations.create(id=task, result=result)
        p.expected[("walk", f)] = objects

    keep = [disk(16, 24, 8), disk(20, 24, 8)]
    other = [rect(40, 4, 60, 16), rect(36, 30, 58, 44)]
    for i, f in enumerate((10, 12)):
        task = p.task(p.id, "fallback", f, p.image(f"fallback/{f:05d}.png", 100 + f))
        result = region(keep[i], "person", region_id="keep") + region(other[i], "car")
        # keep -> 1 on both frames; the car region is a new object on each frame (2, 3)
        p.expected[("fallback", f)] = {1: ("person", keep[i]), 2 + i: ("car", other[i])}
        if f == 12:  # a polygon region (the polygon config's tool) becomes object 4
            outline = polygon_result(disk(40, 8, 6), from_name="outline", to_name="image",
                                     labels=["person"])
            result.append(outline)
            p.expected[("fallback", f)][4] = ("person", decode_polygon(outline))
        client.annotations.create(id=task, result=result)
    return p


class StoredProject:
    """What the reader asks of Label Studio, answered from a list of ``(task data,
    annotation result)`` under ``config`` (no server: the data is the point)."""

    url = "http://127.0.0.1:9"
    api_key = "token"

    def __init__(self, tasks: list[tuple[dict, list]], config: str = CONFIG) -> None:
        self.tasks, self.config = tasks, config

    def project(self, value):
        return StudioProject(1, "imported", self.config)

    def task_rows(self, project_id, query=None):
        return [{"id": i + 1, "data": data, "total_annotations": 1, "total_predictions": 0}
                for i, (data, _) in enumerate(self.tasks)]

    def list_annotations(self, task_id):
        return [SimpleNamespace(id=task_id, result=self.tasks[task_id - 1][1], was_cancelled=False,
                                updated_at="2026-01-01", created_at="2026-01-01")]

    def list_predictions(self, task_id):
        return []
