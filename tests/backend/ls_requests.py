"""Builders of Label Studio ML requests exactly as the browser sends them
(see shared/LABEL_STUDIO_NOTES.md), and small image helpers."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

BRUSH_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <BrushLabels name="tag" toName="image"><Label value="Car"/><Label value="Person"/></BrushLabels>
  <KeyPointLabels name="kp" toName="image" smart="true"><Label value="Car"/><Label value="Person"/></KeyPointLabels>
  <RectangleLabels name="rect" toName="image" smart="true"><Label value="Car"/><Label value="Person"/></RectangleLabels>
</View>"""

POLYGON_CONFIG = BRUSH_CONFIG.replace("BrushLabels", "PolygonLabels")

# The shipped configs' layout: one <Labels> row shared by the plain smart tools.
SHARED_ROW_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <Labels name="smart" toName="image"><Label value="Car"/><Label value="Person"/></Labels>
  <KeyPoint name="point" toName="image" smart="true" smartOnly="true"/>
  <Rectangle name="box" toName="image" smart="true" smartOnly="true"/>
  <BrushLabels name="tag" toName="image"><Label value="Car"/><Label value="Person"/></BrushLabels>
</View>"""


def write_png(path: Path, width: int, height: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def png_bytes(array: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kw)
    return buf.getvalue()


def keypoint(x_px, y_px, w, h, label="Car", positive=True, item_index=None) -> dict:
    item = {
        "original_width": w, "original_height": h, "image_rotation": 0,
        "value": {"x": x_px / w * 100, "y": y_px / h * 100, "width": 0.26,
                  "labels": [label], "keypointlabels": [label]},
        "is_positive": positive, "id": "kp1", "from_name": "kp", "to_name": "image",
        "type": "keypointlabels", "origin": "manual",
    }
    if item_index is not None:
        item["item_index"] = item_index
    return item


def rectangle(x0, y0, x1, y1, w, h, label="Car") -> dict:
    return {
        "original_width": w, "original_height": h, "image_rotation": 0,
        "value": {"x": x0 / w * 100, "y": y0 / h * 100, "width": (x1 - x0) / w * 100,
                  "height": (y1 - y0) / h * 100, "rotation": 0, "rectanglelabels": [label]},
        "id": "r1", "from_name": "rect", "to_name": "image", "type": "rectanglelabels",
        "origin": "manual",
    }


def shared_row(item: dict) -> list[dict]:
    """``item`` as Label Studio 1.23 sends it when drawn with a plain smart tool and a
    label of a shared <Labels> row: the tool's own result, then a "labels" twin (same id)."""
    kind = {"keypointlabels": "keypoint", "rectanglelabels": "rectangle"}[item["type"]]
    value = {k: v for k, v in item["value"].items() if k != item["type"]}
    value["labels"] = item["value"][item["type"]]
    tool = {**item, "value": value, "type": kind, "from_name": kind.replace("rectangle", "box")}
    return [tool, {**tool, "type": "labels", "from_name": "smart"}]


def predict_body(image_ref, context_items, config=BRUSH_CONFIG, task_id=1) -> dict:
    return {
        "tasks": [{"id": task_id, "data": {"image": image_ref}}],
        "project": "1.1700000000",
        "label_config": config,
        "params": {"login": None, "password": None,
                   "context": None if context_items is None else {"result": context_items}},
    }
