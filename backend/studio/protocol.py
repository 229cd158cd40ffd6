"""Label Studio's ML-backend JSON -> samvid values (and nothing else).

Label Studio sends smart-tool prompts in percent of the image; they become a
``Prompt`` in pixels here. The label config is read with the SDK's label
interface to find the image, the mask control (brush or polygon) and the
smart controls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from samvid.core.prompts import Prompt
from samvid.errors import BadRequest, ConfigError, PromptError

MASK_TAGS = {"BrushLabels": "brushlabels", "PolygonLabels": "polygonlabels"}
# Smart prompts arrive as the result types of the tools that drew them: the labelled
# controls (KeyPointLabels, RectangleLabels), or the plain KeyPoint and Rectangle tools
# that share one <Labels> row (the shipped configs). The latter also send a "labels" twin
# of each region (same id, the label only), which adds nothing and is skipped.
POINT_TYPES = frozenset({"keypointlabels", "keypoint"})
BOX_TYPES = frozenset({"rectanglelabels", "rectangle"})


def is_labels_result(result: dict[str, Any]) -> bool:
    """Whether ``result`` is a region's geometry with its label (a ``*labels`` type: the
    mask itself, or the shared smart row's ``labels`` twin of it), not a per-region
    attribute (an object id, choices, a note) that travels with the region.

    >>> is_labels_result({"type": "labels"}), is_labels_result({"type": "number"})
    (True, False)
    """
    return str(result.get("type") or "").lower().endswith("labels")


@dataclass(frozen=True)
class MaskTarget:
    """Where masks go in a project: read once from its label config."""

    image_name: str  # the Image tag's name (results' to_name)
    image_key: str  # the task data key holding the image URL (or list of URLs)
    is_list: bool  # <Image valueList="$images">: one task, several pages
    mask_control: str  # the BrushLabels/PolygonLabels name (results' from_name)
    mask_type: str  # "brushlabels" or "polygonlabels"
    labels: tuple[str, ...]
    object_id_control: str | None = None  # per-region Number carrying the object id
    # The labels of every mask control, first seen first: the classes of an export.
    all_labels: tuple[str, ...] = ()


def parse_config(label_config: Any) -> MaskTarget:
    """Find the image and mask control of a label config; ConfigError says what is missing."""
    if not isinstance(label_config, str) or not label_config.strip():  # before the cache: JSON
        raise ConfigError("the request has no label_config")  # objects are not hashable
    return _parse_config(label_config)


def label_interface(label_config: str) -> Any:
    """The SDK's reading of a label config (a ``LabelInterface``); ConfigError if it is not XML."""
    from label_studio_sdk.label_interface import LabelInterface

    try:
        return LabelInterface(label_config)
    except Exception as exc:  # noqa: BLE001 - the SDK raises many kinds for bad XML
        raise ConfigError(f"the label config is not valid XML: {exc}") from exc


@lru_cache(maxsize=64)
def _parse_config(label_config: str) -> MaskTarget:
    interface = label_interface(label_config)
    images = [o for o in interface.objects if o.tag == "Image"]
    if not images:
        raise ConfigError("the label config has no <Image>: samvid segments images (frames)")
    masks = [c for c in interface.controls if c.tag in MASK_TAGS]
    if not masks:
        raise ConfigError(
            "the label config has no <BrushLabels> or <PolygonLabels>: add one so samvid "
            "has somewhere to put masks (see labeling_configs/)"
        )
    mask = masks[0]
    image = next((o for o in images if o.name in mask.to_name), images[0])
    value = image.attr.get("valueList") or image.attr.get("value") or ""
    all_labels: list[str] = []
    for control in masks:
        all_labels += [n for n in control.labels or () if n not in all_labels]
    return MaskTarget(
        image_name=image.name,
        image_key=value.lstrip("$"),
        is_list="valueList" in image.attr,
        mask_control=mask.name,
        mask_type=MASK_TAGS[mask.tag],
        labels=tuple(mask.labels or ()),
        object_id_control=object_id_control(
            [c.name for c in interface.controls
             if c.tag == "Number" and str(c.attr.get("perRegion", "")).lower() == "true"]
        ),
        all_labels=tuple(all_labels),
    )


def object_id_control(per_region_numbers: list[str]) -> str | None:
    """The one rule for which control carries a region's object id, for propagation and
    export alike: the per-region Number named ``object_id`` (the multi-object config's),
    else the first per-region Number, else none.

    >>> object_id_control(["size", "object_id"]), object_id_control(["size"]), object_id_control([])
    ('object_id', 'size', None)
    """
    if "object_id" in per_region_numbers:
        return "object_id"
    return per_region_numbers[0] if per_region_numbers else None


@dataclass(frozen=True)
class SmartPrompt:
    """The prompt for one image of a task, with the label the annotator chose."""

    item_index: int | None
    prompt: Prompt
    label: str | None
    width: int
    height: int


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PromptError(f"{what} must be a number, got {type(value).__name__}")
    try:  # a JSON integer may be arbitrarily large: float() overflows past ~1.8e308
        number = float(value)
    except OverflowError:
        raise PromptError(f"{what} must be finite") from None
    if not math.isfinite(number):
        raise PromptError(f"{what} must be finite")
    return number


def _size(item: dict[str, Any]) -> tuple[int, int]:
    w = _number(item.get("original_width"), "original_width")
    h = _number(item.get("original_height"), "original_height")
    if w < 1 or h < 1 or w > 100_000 or h > 100_000:
        raise PromptError(f"image size {w:g}x{h:g} is not plausible")
    return int(w), int(h)


def prompts_from_context(context: Any) -> list[SmartPrompt]:
    """Group the smart keypoints and rectangles of ``params.context`` per image.

    All clicks on one image form one prompt (SAM refines with every click);
    the last rectangle is the box. Coordinates arrive in percent.
    """
    if context is None:
        return []
    if not isinstance(context, dict):
        raise BadRequest("params.context must be an object")
    items = context.get("result") or []
    if not isinstance(items, list):
        raise BadRequest("params.context.result must be a list")
    groups: dict[int | None, dict[str, Any]] = {}
    for item in items:
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(kind, str) or kind not in POINT_TYPES | BOX_TYPES:
            continue
        value = item.get("value")
        if not isinstance(value, dict):
            raise BadRequest("a smart prompt has no value object")
        index = item.get("item_index")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
            raise BadRequest("item_index must be an integer")
        w, h = _size(item)
        group = groups.setdefault(
            index, {"points": [], "labels": [], "box": None, "label": None, "size": (w, h)}
        )
        x = _number(value.get("x"), "x") / 100 * w
        y = _number(value.get("y"), "y") / 100 * h
        chosen = value.get(kind, value.get("labels"))
        if isinstance(chosen, list) and chosen and isinstance(chosen[0], str):
            group["label"] = chosen[0]
        if kind in POINT_TYPES:
            group["points"].append((x, y))
            group["labels"].append(0 if item.get("is_positive") is False else 1)
        else:
            bw = _number(value.get("width"), "width") / 100 * w
            bh = _number(value.get("height"), "height") / 100 * h
            if bw <= 0 or bh <= 0:
                raise PromptError("the box has zero area: drag a rectangle around the object")
            angle = _number(value.get("rotation", 0), "rotation")
            group["box"] = rotated_box_bounds(x, y, bw, bh, angle)
    prompts = []
    for index, g in groups.items():
        w, h = g["size"]
        prompt = Prompt(tuple(g["points"]), tuple(g["labels"]), g["box"])
        prompt.validate_inside(w, h)
        prompts.append(SmartPrompt(index, prompt.clipped(w, h), g["label"], w, h))
    return prompts


def rotated_box_bounds(
    x: float, y: float, width: float, height: float, degrees: float
) -> tuple[float, float, float, float]:
    """The upright box around a rectangle turned ``degrees`` clockwise about its top-left
    corner (x, y), as Label Studio's rotated and 3-point rectangles are, in pixels.

    >>> rotated_box_bounds(10, 10, 20, 10, 0)
    (10.0, 10.0, 30.0, 20.0)
    >>> [round(v, 6) for v in rotated_box_bounds(10, 10, 20, 10, 90)]
    [0.0, 10.0, 10.0, 30.0]
    """
    turn = math.radians(degrees)
    cos, sin = math.cos(turn), math.sin(turn)
    xs = [x + dx * cos - dy * sin for dx, dy in ((0, 0), (width, 0), (0, height), (width, height))]
    ys = [y + dx * sin + dy * cos for dx, dy in ((0, 0), (width, 0), (0, height), (width, height))]
    return float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys))


def image_ref(task: dict[str, Any], target: MaskTarget, item_index: int | None) -> str:
    """The image URL of a task (page ``item_index`` for multi-image tasks)."""
    data = task.get("data")
    if not isinstance(data, dict):
        raise BadRequest("the task has no data object")
    value = data.get(target.image_key)
    if target.is_list:
        if not isinstance(value, list) or not value:
            raise BadRequest(f"task data {target.image_key!r} must be a list of image URLs")
        index = item_index or 0
        if not 0 <= index < len(value):
            raise BadRequest(f"item_index {index} is outside the task's {len(value)} images")
        value = value[index]
    if not isinstance(value, str) or not value:
        raise BadRequest(f"task data has no image URL under {target.image_key!r}")
    return value


def choose_label(target: MaskTarget, label: str | None) -> str:
    """The mask label for a prompt's label; ConfigError when the mask control lacks it."""
    if label is not None and label in target.labels:
        return label
    if label is None and target.labels:
        return target.labels[0]
    if len(target.labels) == 1:
        return target.labels[0]
    raise ConfigError(
        f"label {label!r} is not one of {target.mask_control!r}'s labels {list(target.labels)}: "
        "give the smart tool and the mask control the same labels"
    )
