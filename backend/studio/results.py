"""Masks <-> Label Studio result JSON (brush RLE and polygons).

Polygon points are percentages of the image size, and a polygon is a continuous
outline: its vertices lie on pixel *corners*, so pixel ``(x, y)`` spans
``x .. x + 1`` and the outline of a mask runs along the outer edges of its boundary
pixels (``x / width * 100``): a 4x4 px square has area 16, a full-image mask is
``[0, 0] .. [100, 100]``. Decoding counts a pixel in when its centre
``(x + 0.5, y + 0.5)`` is inside the polygon, so mask -> polygon -> mask gives back the
same pixels for axis-aligned shapes and differs at most along the boundary where the
outline is simplified (``approxPolyDP``, 0.7 px). Label Studio polygons have no holes
and no parts: a mask in several parts becomes one polygon per part (``mask_regions``).
Brush masks use the SDK's RLE codec.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import cv2
import numpy as np

from samvid.errors import TooLarge
from samvid.settings import Settings
from samvid.studio.protocol import SEPARATE_TYPES, MaskTarget

Result = dict[str, Any]


def _brush() -> Any:
    """The SDK's brush RLE codec, imported when a brush is first read or written: its package
    loads every converter (nltk, pandas), a second of each process's start (serve, a worker,
    every CLI command) whether or not it ever touches a brush."""
    from label_studio_sdk.converter import brush

    return brush


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
    shown: tuple[int, int] | None = None,
    max_pixels: int | None = None,
) -> Result:
    """A ``brushlabels`` region for a bool (H, W) mask; with ``shown`` (width, height), at
    that size (``mask_at_size``): the size Label Studio shows the image at."""
    if shown is not None:
        mask = mask_at_size(mask, shown, MAX_PIXELS if max_pixels is None else max_pixels)
    height, width = mask.shape
    result = _base("brushlabels", from_name, to_name, width, height, region_id, item_index)
    brush = _brush()
    rle = brush.mask2rle(mask.astype(np.uint8) * 255)
    result["value"] = {"format": "rle", "rle": [int(v) for v in rle], "brushlabels": list(labels)}
    if score is not None:
        result["score"] = float(score)
    return result


def mask_at_size(mask: np.ndarray, size: tuple[int, int], max_pixels: int) -> np.ndarray:
    """Bool ``mask`` brought to ``size`` (width, height), refused over ``max_pixels``
    (``check_shown_size``) before anything is allocated.

    Label Studio decodes a brush into the image it shows, of the size it sent
    (original_width/height): a mask of the size samvid read wraps its rows there, away
    from the click. Shrunk, a pixel is in the mask when any pixel it covers is, so a thin
    or tiny object (a pole, a far-away person) is not lost; enlarged, each pixel takes the
    nearest one's value.
    """
    check_shown_size(size, max_pixels)
    width, height = size
    if mask.shape == (height, width):
        return mask
    smaller = (min(width, mask.shape[1]), min(height, mask.shape[0]))
    if smaller != (mask.shape[1], mask.shape[0]):  # INTER_AREA: each pixel the share covered
        mask = cv2.resize(mask.astype(np.float32), smaller, interpolation=cv2.INTER_AREA) > 0
    if mask.shape != (height, width):
        mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    return mask


def check_shown_size(size: tuple[int, int], max_pixels: int) -> None:
    """Refuse (TooLarge) a brush for an image Label Studio shows at over ``max_pixels``: its
    mask would be allocated at that size."""
    width, height = size
    if width * height > max_pixels:
        raise TooLarge(
            f"Label Studio shows this image at {width}x{height} (original_width/height), over "
            f"samvid's limit of {max_pixels} pixels (SAMVID_MAX_IMAGE_PIXELS): raise the limit, "
            "or fix the task's image size"
        )


MIN_PART_FRACTION = 0.01  # a part smaller than this share of the largest is a speck: dropped
PART_SEPARATOR = "~"  # the region id of a further part: "<object's region id>~<n>"
_PART_ID = re.compile(rf"(.+){PART_SEPARATOR}([2-9]|[1-9][0-9]+)", re.DOTALL)  # n >= 2, as written


def _outline_corners(contour: np.ndarray) -> np.ndarray:
    """A contour of the 2x (nearest) upscaled mask as pixel-corner coordinates of the mask.

    Upscaled, a pixel ``x`` covers columns ``2x`` and ``2x + 1``: a left (top) edge runs
    through an even column, a right (bottom) edge through an odd one, and ``ceil(u / 2)``
    maps both onto the corner line they stand for (``x`` and ``x + 1``), at concave
    corners as well. Repeated points (two upscaled steps on one corner) are dropped.
    """
    corners = (contour.reshape(-1, 2) + 1) // 2
    keep = np.any(corners != np.roll(corners, 1, axis=0), axis=1)
    if not keep.any():  # cannot happen for a non-empty part; keep one point
        keep[0] = True
    return corners[keep]


def _shoelace(points: np.ndarray) -> float:
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def mask_to_polygons(
    mask: np.ndarray, tolerance: float = 0.7, min_part: float = MIN_PART_FRACTION
) -> list[np.ndarray]:
    """Outlines of the mask's parts, largest first, each an (N, 2) float array of
    pixel-corner coordinates (x, y).

    A part is an 8-connected piece of the mask (as ``cv2.findContours`` separates them).
    Label Studio polygons have no holes, so holes inside a part are filled: its polygon
    is its outer boundary. Parts whose outline encloses less than ``min_part`` of the
    largest part's area are dropped as specks; the largest part is always kept. An empty
    mask gives an empty list.
    """
    m = np.ascontiguousarray(mask, dtype=np.uint8)
    if not m.any():
        return []
    big = cv2.resize(m, (m.shape[1] * 2, m.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outlines = [_outline_corners(c) for c in contours]
    areas = [_shoelace(o) for o in outlines]
    order = sorted(range(len(outlines)), key=lambda i: (-areas[i], -len(outlines[i]), i))
    largest = areas[order[0]]
    polygons = []
    for rank, i in enumerate(order):
        if rank and areas[i] < min_part * largest:
            continue
        curve = outlines[i].reshape(-1, 1, 2).astype(np.float32)
        simplified = cv2.approxPolyDP(curve, tolerance, closed=True).reshape(-1, 2)
        if len(simplified) < 3:  # a simplification that collapsed (not for corner outlines)
            simplified = outlines[i]
        if len(simplified) >= 3:
            polygons.append(simplified.astype(np.float64))
    return polygons


def part_region_id(region_id: str, part: int) -> str:
    """Region id of part ``part`` (0 = the largest) of the object whose region id is
    ``region_id``: the largest part keeps the object's id, further parts get
    ``<id>~<part + 1>``, so every region of one annotation has an id of its own."""
    return region_id if part == 0 else f"{region_id}{PART_SEPARATOR}{part + 1}"


def region_key(value: Any) -> str:
    """A result's ``id`` as the text Label Studio's editor names its region by: the one key
    every result of a region is paired by (its labels twins, object-id Number, per-region
    attributes), in propagation and the export alike.

    The editor parses the result JSON, where a number is a double: a script's ``1.0`` is the
    ``1`` of the brush it labels, and ``-0.0`` is ``0``. So a whole number is its integer's
    digits; any other number its shortest digits (JavaScript's for every id a tool writes).
    A string is the id as it stands: ``"1.0"`` is no number, another region there too.
    JSON's ``true`` is no number (Python's bool is an int): ``"true"``, never ``"1"``.

    >>> region_key(1.0), region_key(1), region_key("1.0"), region_key(1.5), region_key(True)
    ('1', '1', '1.0', '1.5', 'true')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))  # JavaScript's digits up to 1e21; -0.0 is 0
    return str(value)


def object_region_id(region_id: Any) -> str:
    """The object's region id of a part's region id (``part_region_id``'s inverse), read
    from a result's ``id`` as saved (``region_key``: ``1.0`` is ``1``) or from its key.

    Only the exact form ``part_region_id`` writes folds: ``<id>~<n>``, ``n`` a plain
    number from 2 without a leading zero (``a~2`` -> ``a``; ``a~1``, ``a~02``, ``a~x``,
    ``~2`` stay as they are). It folds whether or not a region ``<id>`` is beside it (the
    annotator may have deleted the largest part). Label Studio's own region ids never hold
    a ``~``, so no id drawn in Label Studio is read as a part.
    """
    key = region_key(region_id)
    part = _PART_ID.fullmatch(key)
    return part.group(1) if part else key


def has_region_id(result: Result) -> bool:
    """Whether a result names its region: 0 is an id; None or "" (imported JSON) none."""
    return result.get("id") not in (None, "")


def region_ids(result: Iterable[Any]) -> set[str]:
    """The object region ids (``object_region_id``) of the results of ``result`` that have an
    id (``has_region_id``): what ``unnamed_region_id`` must not take."""
    return {object_region_id(r["id"]) for r in result if isinstance(r, dict) and has_region_id(r)}


def object_numbers(result: Iterable[Any], control: str | None) -> dict[str, Any]:
    """``{region id (``region_key``): the value saved}`` of the per-region ``Number``
    ``control`` (the object id) in ``result``, the last of a region's kept: what
    ``given_object_id`` reads."""
    return {region_key(r["id"]): r["value"].get("number") if isinstance(r.get("value"), dict) else None
            for r in result
            if isinstance(r, dict) and has_region_id(r) and r.get("type") == "number" and r.get("from_name") == control}


def given_object_id(region: Result, region_id: str, numbers: dict[str, Any]) -> tuple[Any, bool]:
    """The object id a mask region was given, as saved (``object_number`` reads it), and
    whether it is its ``meta.object_id``: its object's ``Number`` (``numbers`` by its object
    ``region_id``; a polygon part's own where its object has none), else its meta.object_id
    (a region without an id has no Number); None where it was given none. Propagation and
    the export read a region's object with this one rule."""
    if has_region_id(region):
        for found in (region_id, region_key(region["id"])):
            if found in numbers:
                return numbers[found], False
    meta = region.get("meta")
    given = meta.get("object_id") if isinstance(meta, dict) else None
    return given, given is not None


def unnamed_region_id(region: Result, taken: set[str]) -> str:
    """The region id of a mask region saved without one (imported JSON), none of ``taken``
    (the ``region_ids`` of its image's results on its frame), which it joins: an object of
    its own, never a part of the region that has that id. Propagation names such a region
    with it (and writes the id on the frames it fills) and the export keys it by it, each
    given the region as it reads it (after ``joined_labels``, which makes a plain
    <Brush>/<Polygon> region a labelled one), so both take one unnamed region and the frames
    propagated from it for one object.

    Drawn from the region itself, not from its place on the frame: the first unnamed regions
    of two frames would otherwise be one object (a car on one, a person on the other), where
    nothing says they are one. The same region read again gets the same id; the same region
    twice on one frame (named in result order) is two objects, ``r...`` and ``r...-2``.
    """
    digest = hashlib.sha1(json.dumps(region, sort_keys=True, default=str).encode()).hexdigest()
    region_id = base = f"r{digest[:10]}"
    n = 1
    while region_id in taken:
        n += 1
        region_id = f"{base}-{n}"
    taken.add(region_id)
    return region_id


def _polygon(points: np.ndarray, base: Result, labels: list[str], score: float | None) -> Result:
    width, height = base["original_width"], base["original_height"]
    result = dict(base)
    percent = [
        [round(float(x) / width * 100, 4), round(float(y) / height * 100, 4)] for x, y in points
    ]
    result["value"] = {"points": percent, "closed": True, "polygonlabels": list(labels)}
    if score is not None:
        result["score"] = float(score)
    return result


def polygon_results(
    mask: np.ndarray,
    *,
    from_name: str,
    to_name: str,
    labels: list[str],
    region_id: str | None = None,
    item_index: int | None = None,
    score: float | None = None,
) -> list[Result]:
    """One ``polygonlabels`` region per part of the mask (``mask_to_polygons``), largest
    first, all with the same label, ``item_index`` and score; empty for an empty mask.

    Given a ``region_id``, the largest part has it and a further part
    ``part_region_id(region_id, k)``, so ``object_region_id`` of any of them is the
    object's region id; without one (a new mask), each part gets a new id, like regions
    Label Studio makes.
    """
    height, width = mask.shape
    results = []
    for k, points in enumerate(mask_to_polygons(mask)):
        part_id = part_region_id(region_id, k) if region_id else new_region_id()
        base = _base("polygonlabels", from_name, to_name, width, height, part_id, item_index)
        results.append(_polygon(points, base, labels, score))
    return results


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
    """A ``polygonlabels`` region for the largest part of the mask, or None if it is empty
    (``polygon_results`` gives every part)."""
    parts = polygon_results(mask, from_name=from_name, to_name=to_name, labels=labels,
                            region_id=region_id, item_index=item_index, score=score)
    return parts[0] if parts else None


def mask_regions(
    mask: np.ndarray,
    target: MaskTarget,
    labels: list[str],
    *,
    region_id: str | None = None,
    item_index: int | None = None,
    score: float | None = None,
    control: tuple[str, str] | None = None,
    shown: tuple[int, int] | None = None,
    max_pixels: int | None = None,
) -> list[Result]:
    """The regions a project's mask control takes for ``mask``: one brush region, or one
    polygon per part of the mask (``polygon_results``), as its label config says; empty
    when there is nothing to draw (an empty mask would be an invisible region the
    annotator could accept). A label that only another mask control on the image has (a
    control per class) puts the mask in that control (``MaskTarget.control_for``);
    ``control`` (from_name, type), the one a region was drawn with, wins over both.

    ``shown`` (width, height) is the size Label Studio shows the image at, when not the
    mask's: a brush is written at that size, up to ``max_pixels`` (SAMVID_MAX_IMAGE_PIXELS;
    ``brush_result``); polygons, in percent of the image, need no resizing."""
    if not mask.any():
        return []
    name, mask_type = control or target.control_for(labels[0] if labels else None)
    kwargs = dict(from_name=name, to_name=target.image_name, labels=labels,
                  region_id=region_id, item_index=item_index, score=score)
    if mask_type == "brushlabels":
        regions = [brush_result(mask, **kwargs, shown=shown, max_pixels=max_pixels)]  # type: ignore[arg-type]
    else:
        regions = polygon_results(mask, **kwargs)  # type: ignore[arg-type]
    if name in target.separate_controls:
        return [part for region in regions for part in split_labels(region, target.label_rows)]
    return regions


def split_labels(region: Result, rows: Sequence[tuple[str, Sequence[str]]]) -> list[Result]:
    """A labelled region (``brushlabels``/``polygonlabels``) as Label Studio keeps one drawn
    with a plain <Brush>/<Polygon> and labelled with the <Labels> ``rows`` ((name, its
    labels), at least one): the geometry (type ``brush``/``polygon``, no label), then, per
    <Labels> holding some of its labels, a ``labels`` twin with the same id repeating the
    geometry with those labels, in the order of the region's labels (Label Studio pushes a
    region's results as its labels were applied). Label Studio 1.23's editor saves this
    form, and shows a prediction of it labelled; one with the label in the geometry's own
    value (the video tags' merged form) it did not show at all. A label of no row (one the
    config has lost) goes with the first row's; a region without labels is its geometry
    alone, as the editor saves a region painted before any label was picked."""
    kind = str(region["type"])
    value = dict(region["value"])
    labels = value.pop(kind, [])
    geometry = {**region, "type": kind.removesuffix("labels"), "value": value}
    held: dict[str, list[Any]] = {}  # row name -> its labels of the region, first applied first
    for label in labels if isinstance(labels, list) else ():
        row = next((name for name, names in rows if label in names), rows[0][0])
        held.setdefault(row, []).append(label)
    twins = [{**region, "from_name": row, "type": "labels", "value": {**value, "labels": names}}
             for row, names in held.items()]
    return [geometry, *twins]


def twin_key(result: Result) -> tuple[str, str, str]:
    """What a plain region and its "labels" twins share: id (``region_key``: ``1.0`` is the
    ``1`` of its brush), image and page (a number by the same rule; none is page 0). Compared
    as text, so imported JSON's unhashable values (a list as toName) are just no match, and
    one rule pairs them wherever twins are read (here, and the export's off-image check)."""
    page = result.get("item_index")
    return region_key(result.get("id")), repr(result.get("to_name")), region_key(0 if page is None else page)


def joined_labels(result: list[Any], controls: Collection[str] | None = None,
                  rows: Collection[str] | None = None) -> list[Any]:
    """``result`` with each plain ``brush``/``polygon`` region (``split_labels``) of the
    mask controls ``controls`` (from_name; None: of any control) read as the labelled region
    it stands for: type ``brushlabels``/``polygonlabels``, labelled with the labels of its
    ``labels`` twins (same id, image and page) from the <Labels> ``rows`` (None: from any),
    in result order, each once; without a twin, as its own value's ``labels`` says, else
    not at all. The twins read go; everything else stays as it is, in its place: a plain
    <Brush> beside <BrushLabels> (``controls`` empty) is no mask region, its twin no label.
    """
    twins: dict[tuple[str, str, str], list[Result]] = {}
    for item in result:
        if _is_twin(item) and (rows is None or item.get("from_name") in rows):
            twins.setdefault(twin_key(item), []).append(item)
    joined: list[Any] = []
    used: set[int] = set()
    for item in result:
        kind = item.get("type") if isinstance(item, dict) else None
        if (not isinstance(kind, str) or kind not in SEPARATE_TYPES or not isinstance(item.get("value"), dict)
                or (controls is not None and item.get("from_name") not in controls)):
            joined.append(item)
            continue
        value = dict(item["value"])
        labels = value.pop("labels", None)
        found = twins.get(twin_key(item), []) if has_region_id(item) else []
        if found:
            used.update(id(twin) for twin in found)
            labels = _each_once(name for twin in found for name in _listed(twin["value"].get("labels")))
        joined.append({**item, "type": SEPARATE_TYPES[kind],
                       "value": {**value, SEPARATE_TYPES[kind]: labels if isinstance(labels, list) else []}})
    return [item for item in joined if id(item) not in used]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _each_once(items: Iterable[Any]) -> list[Any]:
    """``items`` in order, each once (by equality: imported JSON may hold unhashable labels)."""
    once: list[Any] = []
    for item in items:
        if item not in once:
            once.append(item)
    return once


def _is_twin(item: Any) -> bool:
    """Whether ``item`` may be a region's ``labels`` twin: a ``labels`` result with an id."""
    return (isinstance(item, dict) and item.get("type") == "labels"
            and has_region_id(item) and isinstance(item.get("value"), dict))


def object_number(value: Any) -> int | None:
    """An object-id number as saved (a ``Number``'s value, a ``meta.object_id``): a whole
    number from 1, its digits included; None for anything else (``True`` is no number).
    Propagation and the export read a region's object with this one rule.

    >>> object_number(3), object_number("3"), object_number(3.0), object_number(0), object_number(True)
    (3, 3, 3, None, None)
    """
    # An integer (or its digits) is read as one: through a float, ids past 2**53 would
    # round, and two objects whose ids differ there would be merged into one.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value) if value >= 1 else None
    if isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            pass
        else:
            return number if number >= 1 else None
    try:
        real = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return int(real) if real.is_integer() and real >= 1 else None


def read_labels(named: Any, mask_labels: Sequence[str]) -> tuple[str, ...]:
    """The labels a mask region is read with, in propagation and exports alike: those it was
    saved with (``named``, its value's list; text only), else, for a region saved without
    any (painted before a label was picked), the config's mask label when ``mask_labels``
    holds exactly one: nothing else can be meant. With several, none: a guess (the first)
    would track, write and export the object as a class nobody gave it.

    >>> read_labels(["Car"], ("Car", "Bus")), read_labels([], ("Car",)), read_labels(None, ("Car", "Bus"))
    (('Car',), ('Car',), ())
    """
    own = tuple(name for name in named if isinstance(name, str)) if isinstance(named, list) else ()
    return own or (tuple(mask_labels) if len(mask_labels) == 1 else ())


def in_config_order(labels: Iterable[Any], config: Iterable[str]) -> tuple[str, ...]:
    """``labels`` (text only), each once: those of the config (``config``, its labels in
    order) in its order, then the others in the order given. A region's first label so read
    is its class, the same whatever order a tool saved its labels in; propagation and the
    export read it alike.

    >>> in_config_order(["red", "car", "red", 7], ["car", "person"])
    ('car', 'red')
    """
    position = {name: i for i, name in enumerate(config)}
    unique = dict.fromkeys(name for name in labels if isinstance(name, str))
    return tuple(sorted(unique, key=lambda name: (name not in position, position.get(name, 0))))


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
    polygon of the mask's largest part, as its label config says; None when there is
    nothing to draw. A polygon project's mask in several parts needs ``mask_regions``,
    which gives every part, as does a plain <Brush>/<Polygon>'s (its region and label twin)."""
    regions = mask_regions(mask, target, labels, region_id=region_id, item_index=item_index, score=score)
    return regions[0] if regions else None


# A result's JSON (a webhook, an export file) is untrusted, and decoding allocates the
# image size it claims, several times over: a 4-point polygon can claim 10^6 x 10^6 px (a
# terabyte), a 55 KB RLE the runs of 16384 x 16384 px (a gigabyte). Sizes are bounded as
# images are (SAMVID_MAX_IMAGE_PIXELS's default): samvid reads no larger image, so no mask
# of its own is larger.
MAX_PIXELS = Settings.max_image_pixels


class BrushSizeMismatch(ValueError):
    """A brush RLE holding another number of pixels than its region's image size: the
    mask of another image (exports report it as a size mismatch, not a malformed region)."""


def _image_size(result: Result, max_pixels: int) -> tuple[int, int]:
    """The (width, height) a result claims, refused (ValueError) over ``max_pixels``."""
    try:
        width, height = int(result["original_width"]), int(result["original_height"])
    except OverflowError as exc:  # an infinite size
        raise ValueError(f"the region's image size is not a number ({exc})") from exc
    if width < 1 or height < 1:
        # Else numpy's "negative dimensions are not allowed" came out, or (a zero) a mask of
        # no size that failed later against its frame.
        raise ValueError(f"the region's image is {width}x{height}: original_width and "
                         "original_height must be at least 1; the region cannot be read")
    if width * height > max_pixels:
        raise ValueError(
            f"the region's image is {width}x{height}, over samvid's limit of {max_pixels} "
            "(SAMVID_MAX_IMAGE_PIXELS); the region cannot be read"
        )
    return width, height


def decode_brush(result: Result, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Bool (H, W) mask of a ``brushlabels`` result (Label Studio's or ours); ValueError
    for a malformed one or one over ``max_pixels``, ``BrushSizeMismatch`` (a ValueError)
    for an RLE of another image size."""
    width, height = _image_size(result, max_pixels)
    rle = result["value"]["rle"]
    # The SDK reads only a value's low 8 bits: a list of run lengths (a COCO RLE's counts)
    # would decode as some other length, and be reported as a mask of another image.
    if len(rle) < 4 or not all(isinstance(v, (int, np.integer)) and 0 <= v <= 255 for v in rle):
        raise ValueError("the brush RLE is malformed: Label Studio's is a list of bytes (0 to 255) "
                         "starting with its 4-byte length; the region cannot be read")
    # The RLE's first 32 bits are its length: checked before decoding allocates it (up to 4 GiB).
    brush = _brush()
    claimed = brush.InputStream(brush.bytes2bit(rle[:4])).read(32)
    if claimed != width * height * 4:
        raise BrushSizeMismatch(f"brush RLE holds {claimed // 4} pixels, but the image is {width}x{height}")
    try:
        flat = brush.decode_rle(rle)
    except (OverflowError, IndexError, ValueError) as exc:
        # A corrupt RLE: one cut short ends mid-run (int('', 2)), which says nothing to a user.
        raise ValueError("the brush RLE is malformed (cut short?): redraw the region, "
                         "or import it again") from exc
    if flat.size != width * height * 4:
        raise BrushSizeMismatch(
            f"brush RLE holds {flat.size // 4} pixels, but the image is {width}x{height}"
        )
    return flat.reshape(height, width, 4)[..., 3] > 0


def polygon_pixels(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bool (H, W) mask of the pixels whose centres ``(x + 0.5, y + 0.5)`` lie inside a
    polygon given in pixel units (x, y), with the nonzero winding rule (a canvas's fill).

    Exact for this module's outlines, whose vertices lie on pixel corners: an edge never
    runs through a pixel centre unless it is a simplified slanted one. A centre exactly on
    a slanted edge counts as inside on the polygon's left side (where the winding rises).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    mask = np.zeros((height, width), bool)
    if len(pts) < 3 or not width or not height:
        return mask
    x0, y0 = pts[:, 0], pts[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    slanted = y0 != y1  # horizontal edges cross no row of centres
    x0, y0, x1, y1 = x0[slanted], y0[slanted], x1[slanted], y1[slanted]
    # rows whose centre y = i + 0.5 satisfies min(y0, y1) <= y < max(y0, y1)
    first = np.clip(np.ceil(np.minimum(y0, y1) - 0.5), 0, height).astype(np.int64)
    stop = np.clip(np.ceil(np.maximum(y0, y1) - 0.5), 0, height).astype(np.int64)
    counts = np.maximum(stop - first, 0)
    if not counts.sum():
        return mask
    winding = np.zeros((height, width + 1), np.int64)
    # A few edges at a time: an edge crosses up to ``height`` rows, so a polygon of a few
    # thousand points (a zigzag) would need gigabytes for all its crossings at once.
    step = max(1, _CROSSINGS_PER_STEP // height)
    for k in range(0, len(counts), step):
        n = counts[k : k + step]
        edge = k + np.repeat(np.arange(len(n)), n)
        rows = first[edge] + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
        yc = rows + 0.5
        xc = x0[edge] + (yc - y0[edge]) * (x1[edge] - x0[edge]) / (y1[edge] - y0[edge])
        # pixels right of the crossing (centre x + 0.5 >= crossing) change winding
        start = np.clip(np.ceil(xc - 0.5), 0, width).astype(np.int64)
        np.add.at(winding, (rows, start), np.where(y1[edge] > y0[edge], 1, -1))
    return np.cumsum(winding[:, :width], axis=1) != 0


_CROSSINGS_PER_STEP = 1 << 22  # row crossings filled at once by polygon_pixels (~200 MB)
_FARTHEST_PERCENT = 1e6  # 10 000 image sizes


def decode_polygon(result: Result, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Bool (H, W) mask of a ``polygonlabels`` result: the pixels whose centres lie inside
    the polygon (``polygon_pixels``), the inverse of ``polygon_result`` for its parts;
    ValueError for a malformed one or one over ``max_pixels``."""
    width, height = _image_size(result, max_pixels)
    points = np.asarray(result["value"]["points"], dtype=np.float64).reshape(-1, 2)
    # NaN, or a point so far away that the fill's arithmetic overflows (inf - inf), would
    # index it out of bounds: no drawn point is 10 000 image sizes outside the image.
    if not (np.abs(points) <= _FARTHEST_PERCENT).all():
        raise ValueError("the polygon has a point that is not a number or lies over 10 000 image sizes away")
    return polygon_pixels(points / 100.0 * [width, height], width, height)


def decode_mask(result: Result, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Bool mask of a brush or polygon result; ValueError for other region types, and for
    malformed ones or ones over ``max_pixels`` (SAMVID_MAX_IMAGE_PIXELS where set)."""
    kind = result.get("type")
    if kind == "brushlabels":
        return decode_brush(result, max_pixels)
    if kind == "polygonlabels":
        return decode_polygon(result, max_pixels)
    raise ValueError(f"not a mask region: {kind!r}")
