"""Masks <-> Label Studio result JSON (brush RLE and polygons).

Polygon points are percentages of the image size with pixel centres at
``(i + 0.5) / size * 100``; decoding a polygon this module wrote gives back the
same pixels for simple shapes. Brush masks use the SDK's RLE codec.
"""

from __future__ import annotations

import uuid
from typing import Any

import cv2
import numpy as np
from label_studio_sdk.converter import brush

from samvid.studio.protocol import MaskTarget

Result = dict[str, Any]


def new_region_id() -> str:
    return uuid.uuid4().hex[:10]


def _base(
    kind: str,
    from_name: str,
    to_name: str,
    width: int,
    height: int,
    region_id: str | None,
    item_index: int | None,
) -> Result:
    result: Result = {
        "id": region_id or new_region_id(),
        "from_name": from_name,
        "to_name": to_name,
        "type": kind,
        "original_width": int(width),
        "original_height": int(height),
        "image_rotation": 0,
        "origin": "prediction",
    }
    if item_index is not None:
        result["item_index"] = item_index
    return result


def brush_result(
    mask: np.ndarray,
    *,
    from_name: str,
    to_name: str,
    labels: list[str],
    region_id: str | None = None,
    item_index: int | None = None,
    score: float | None = None,
) -> Result:
    """A ``brushlabels`` region for a bool (H, W) mask."""
    height, width = mask.shape
    result = _base("brushlabels", from_name, to_name, width, height, region_id, item_index)
    rle = brush.mask2rle(mask.astype(np.uint8) * 255)
    result["value"] = {"format": "rle", "rle": [int(v) for v in rle], "brushlabels": list(labels)}
    if score is not None:
        result["score"] = float(score)
    return result


def mask_to_polygon(mask: np.ndarray, tolerance: float = 0.7) -> np.ndarray:
    """Outline of the largest connected region as (N, 2) pixel-centre coordinates (x, y).

    Label Studio polygons have no holes, so holes inside the region are filled:
    the polygon is the outer boundary. An empty mask gives an empty array.
    """
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return np.zeros((0, 2), np.float64)
    largest = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
    simplified = cv2.approxPolyDP(largest, tolerance, closed=True)
    return simplified.reshape(-1, 2).astype(np.float64)


def polygon_result(
    mask: np.ndarray,
    *,
    from_name: str,
    to_name: str,
    labels: list[str],
    region_id: str | None = None,
    item_index: int | None = None,
    score: float | None = None,
) -> Result | None:
    """A ``polygonlabels`` region for the largest part of the mask, or None if it is empty."""
    height, width = mask.shape
    points = mask_to_polygon(mask)
    if len(points) < 3:
        return None
    result = _base("polygonlabels", from_name, to_name, width, height, region_id, item_index)
    percent = [
        [round(float(x + 0.5) / width * 100, 4), round(float(y + 0.5) / height * 100, 4)]
        for x, y in points
    ]
    result["value"] = {"points": percent, "closed": True, "polygonlabels": list(labels)}
    if score is not None:
        result["score"] = float(score)
    return result


def mask_region(
    mask: np.ndarray,
    target: MaskTarget,
    labels: list[str],
    *,
    region_id: str | None = None,
    item_index: int | None = None,
    score: float | None = None,
) -> Result | None:
    """The region a project's mask control takes for ``mask``: a brush region or a
    polygon, as its label config says; None when there is nothing to draw (an empty mask
    would be an invisible region the annotator could accept), or a polygon nothing to outline."""
    if not mask.any():
        return None
    encode = brush_result if target.mask_type == "brushlabels" else polygon_result
    return encode(mask, from_name=target.mask_control, to_name=target.image_name, labels=labels,
                  region_id=region_id, item_index=item_index, score=score)


def decode_brush(result: Result) -> np.ndarray:
    """Bool (H, W) mask of a ``brushlabels`` result (Label Studio's or ours)."""
    width, height = int(result["original_width"]), int(result["original_height"])
    rle = result["value"]["rle"]
    flat = brush.decode_rle(rle)
    if flat.size != width * height * 4:
        raise ValueError(
            f"brush RLE holds {flat.size // 4} pixels, but the image is {width}x{height}"
        )
    return flat.reshape(height, width, 4)[..., 3] > 0


def decode_polygon(result: Result) -> np.ndarray:
    """Bool (H, W) mask of a ``polygonlabels`` result, rasterised with pixel centres."""
    width, height = int(result["original_width"]), int(result["original_height"])
    points = np.asarray(result["value"]["points"], dtype=np.float64).reshape(-1, 2)
    pixels = np.rint(points / 100.0 * [width, height] - 0.5).astype(np.int32)
    mask = np.zeros((height, width), np.uint8)
    if len(pixels) >= 3:
        cv2.fillPoly(mask, [pixels], 1)
    return mask.astype(bool)


def decode_mask(result: Result) -> np.ndarray:
    """Bool mask of a brush or polygon result; ValueError for other region types."""
    kind = result.get("type")
    if kind == "brushlabels":
        return decode_brush(result)
    if kind == "polygonlabels":
        return decode_polygon(result)
    raise ValueError(f"not a mask region: {kind!r}")
