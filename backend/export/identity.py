"""Object identity: which object of the video a Label Studio region is.

A region's object id is, in order of precedence:

1. the per-region ``Number`` of the multi-object config (default name
   ``object_id``): a result ``{"id": <region id>, "type": "number",
   "from_name": "object_id", "value": {"number": 3}}`` sharing the region's id;
2. ``meta.object_id`` of the region, where a tool wrote one (propagation reads it
   the same way and writes it again on the frames it fills;
   ``results.object_number`` is the one rule for both);
3. otherwise one id per region id within the clip, numbered after the largest
   explicit id of the clip in order of first appearance. A region without an id,
   as Label Studio stores imported JSON that gave none, has the region id propagation
   gives it (``results.unnamed_region_id``: drawn from the region's JSON, and written on
   the frames propagation fills from it): an object of its own on its frame, and one
   object with its propagated frames (and with the very same region on another
   frame), as propagation tracks it. Label Studio keeps a
   region's id when a prediction is accepted, and propagation keys an object on
   its region id alone, so an object that samvid propagated keeps one id, also
   across a class correction; regions drawn by hand on each frame get a new
   object each (nothing else says they are the same object).

Regions of one frame with the same id and the same label are one object drawn in
parts (around an occluder), as propagation tracks them: their masks are united, and so
are their labels (``reader.frame_objects``); a part saved without a label is its object's
part labelled on the frame (same object id), else skipped (``unknown_label``).
The polygons samvid writes for the parts of one object in a polygon project,
``<region id>``, ``<region id>~2``, ``<region id>~3``... (``results.part_region_id``),
are read as region ``<region id>`` (``results.object_region_id``: that exact form
only, whether or not ``<region id>`` itself is on the frame), so they are one object
too; a part takes its object's object-id number and attributes (its own only where
the object's region has none).

A region's labels are a set, as propagation takes them (``propagation.seeds.may_be_one``:
``["red", "car"]`` and ``["car", "red"]`` are one object): read in the config's order
(labels the config lacks after its own, in the order saved), the first is the region's
class, so the order a tool saved them in never changes it. A region with several labels
keeps them all in its attributes, under the name of the control that labels it (names
are unique in a config, so no other control's attribute can take it); one whose labels
are all unknown to the config is skipped (``unknown_label``).

An object has one class per clip: its label on its latest human-annotated frame
(else on its latest frame), the annotator's latest word, over the regions and frames
exported (the reader settles it, ``ProjectReader._classes``, and YouTube-VIS again over
the frames it keeps); frames where that class is none of its labels are reported as
``label_changed`` as they are written.

Ids are resolved over a whole clip before any mask is decoded, so a fallback id
never collides with an explicit id that appears later in the clip.

Per-region attributes: every other result that shares a mask region's id (the
per-region ``Choices``, ``TextArea``, ``Number``, ``Rating``... of e.g.
``labeling_configs/attributes.xml``) becomes ``Region.attributes[from_name]``:
``choices`` -> the list of choices, ``textarea`` -> the text (several lines
joined with a newline), ``number`` -> the number, ``rating`` -> the rating, any
other classification type -> its value under the type's key. The object-id
control is the object id, not an attribute.

"Shares the region's id" is as Label Studio's editor reads it (``results.region_key``,
the one key of a region here and in propagation): a script's JSON may save one region's
brush with id ``1`` and its labels, object id and attributes with ``1.0``, one region in
the editor, so one object here; the string ``"1.0"`` is another region there and here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from samvid.export.frames import Problems
from samvid.studio.protocol import MASK_TAGS, SEPARATE_TYPES, is_labels_result
from samvid.studio.results import (
    given_object_id,
    has_region_id,
    in_config_order,
    object_number,
    object_numbers,
    object_region_id,
    read_labels,
    region_ids,
    region_key,
    twin_key,
    unnamed_region_id,
)

if TYPE_CHECKING:
    from samvid.export.reader import ProjectSchema

MASK_TYPES = tuple(MASK_TAGS.values())  # result types of mask regions


@dataclass
class Region:
    """One mask region of a frame, still encoded (``result`` is Label Studio's JSON)."""

    region_id: str  # the object's region id: a polygon part's (``<id>~2``) is ``<id>``
    label: str
    result: dict[str, Any]
    explicit_id: int | None
    score: float
    width: int
    height: int
    attributes: dict[str, Any] = field(default_factory=dict)
    # No id in the result (imported JSON): ``region_id`` is the one propagation gives it
    # (``results.unnamed_region_id``), and it has no per-region attributes.
    anonymous: bool = False
    # All of its labels (``results.in_config_order``); ``label``, its class, is the first.
    labels: tuple[str, ...] = ()
    # The control that labels it: the key of its labels in ``attributes`` when several.
    control: str = ""
    # How messages name it: one saved without an id by its place on the frame, ``#k (no id)``
    # (its ``region_id`` is a hash found nowhere in Label Studio); else (left empty) its region id.
    shown_id: str = ""

    def __post_init__(self) -> None:
        self.shown_id = self.shown_id or self.region_id


def score_of(value: Any) -> float | None:
    """A score as a finite float; None for none or one that is not a number (a hand-made
    prediction's ``"high"``): a score only ranks a mask, so such a region keeps its mask
    and takes the score it would have without one."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _dict(value: Any) -> dict[str, Any]:
    """``value`` where it is a JSON object, else an empty one: Label Studio stores a
    result's ``value`` and ``meta`` as they were imported, whatever their type."""
    return value if isinstance(value, dict) else {}


def attribute_value(result: dict[str, Any]) -> tuple[bool, Any]:
    """``(True, value)`` of a per-region classification result, ``(False, None)`` if it
    holds no attribute (a geometry/labels result or an unreadable value)."""
    kind = str(result.get("type") or "").lower()
    value = result.get("value")
    if not kind or is_labels_result(result) or not isinstance(value, dict):
        return False, None
    if kind == "textarea":
        text = value.get("text")
        if isinstance(text, list):
            return True, "\n".join(str(t) for t in text)
        return (True, str(text)) if text is not None else (False, None)
    if kind in value:
        return True, value[kind]
    return False, None


def region_attributes(
    result: list[dict[str, Any]], object_id_control: str | None
) -> dict[str, dict[str, Any]]:
    """``{region id: {from_name: value}}`` of the per-region results in ``result``."""
    attributes: dict[str, dict[str, Any]] = {}
    for r in result:
        name = r.get("from_name")
        if r.get("id") is None or not name or name == object_id_control:
            continue
        ok, value = attribute_value(r)
        if ok:
            attributes.setdefault(region_key(r["id"]), {})[str(name)] = value
    return attributes


def unknown_labels_message(region_id: str, named: Any, names: list[str]) -> str:
    """Why a region has no class of the config, for ``unknown_label``."""
    if isinstance(named, list) and len(named) > 1:
        return f"region {region_id} has labels {named!r}, none of them one of {sorted(names)}"
    label = named[0] if isinstance(named, list) and named else None
    if label is None:
        return f"region {region_id} has no label: pick one of {sorted(names)}"
    return f"region {region_id} has label {label!r}, not one of {sorted(names)}"


def labelling_controls(raw: list[dict[str, Any]], joined: list[dict[str, Any]],
                       rows: Sequence[str] = ()) -> dict[str, str]:
    """``{region id: name of the <Labels>}`` of the regions ``joined_labels`` labelled from a
    "labels" twin (the separate-control form): the twins it used, gone from ``joined``. Of a
    region's several, the first in ``rows`` (the config's order): not the first saved, which
    is the first applied, so one object's labels would be kept under one key on one frame
    and another on the next."""
    kept = {id(r) for r in joined}
    used = [r for r in raw if r.get("type") == "labels" and id(r) not in kept and r.get("from_name")]
    rank = {name: k for k, name in enumerate(rows)}
    controls: dict[str, str] = {}
    for r in sorted(used, key=lambda r: rank.get(str(r["from_name"]), len(rank))):
        controls.setdefault(region_key(r.get("id")), str(r["from_name"]))
    return controls


def parse_regions(
    result: list[dict[str, Any]],
    schema: ProjectSchema,
    problems: Problems,
    *,
    score: float | None = None,
    clip: str | None = None,
    frame: int | None = None,
    task_id: int | None = None,
) -> list[Region]:
    """The mask regions of one result list with their labels, explicit ids and attributes."""
    where: dict[str, Any] = {"clip": clip, "frame": frame, "task_id": task_id}
    order = schema.label_order
    # Imported JSON reaches here as it was imported: an item that is no object is no region.
    raw = [r for r in result if isinstance(r, dict)]
    # A plain <Brush>/<Polygon> region and its "labels" twins of its image's <Labels> are one
    # labelled mask region (the separate-control form only: beside <BrushLabels>, a plain
    # <Brush> is no mask).
    result = schema.joined(raw)
    labelled_by = labelling_controls(raw, result, schema.label_rows)
    # A region without an id is named by its place in the result as saved, twins included.
    kept = {id(r) for r in result}
    positions = [k for k, r in enumerate(raw, 1) if id(r) in kept or r.get("type") != "labels"]
    numbers = object_numbers(result, schema.object_id_control)
    attributes = region_attributes(result, schema.object_id_control)
    # A mask region drawn on an <Image> that takes no masks (a scribble pad) is none of the
    # project's, as propagation reads it (``MaskTarget.draws_on``).
    images = [schema.image_of(r.get("to_name")) for r in result]
    # The region ids on each image, which one saved without an id is not named (as propagation
    # names it, from its image's results).
    taken = {image: region_ids(r for r, on in zip(result, images) if on == image) for image in set(images)}
    off_image = _labelled_off_image(result, images) if schema.label_rows else set()
    masks = []
    for position, r, image in zip(positions, result, images):
        if r.get("type") not in MASK_TYPES and id(r) not in off_image:
            continue
        if image is None:
            # Skipped as propagation skips it, but told: most often a mask drawn before its
            # control's toName was moved to another image, which would vanish without a word.
            problems.add("no_mask_control", off_image_message(_shown_id(position, r), r.get("to_name"), schema),
                         **where)
            continue
        masks.append(_MaskResult(position, r, numbers, order,
                                 schema.mask_labels(str(r.get("from_name")), r.get("to_name")), taken[image]))
    # An unlabelled part of an object labelled by another part on the frame is that object
    # (propagation tracks the parts as one, labelled as its parts together).
    part_labels: dict[Any, tuple[str, ...]] = {}
    for m in masks:
        if m.labels and m.labels[0] in order and m.key is not None:
            part_labels.setdefault(m.key, m.labels)
    regions = []
    for m in masks:
        r, kind, anonymous, own_id, region_id = m.result, m.kind, m.anonymous, m.own_id, m.region_id
        named, raw_id, explicit = m.named, m.raw_id, m.explicit
        labels = m.labels or part_labels.get(m.key, ())
        if not labels or labels[0] not in order:
            # One saved without a label is told the labels its image offers (the config's
            # where it offers none: never a choice of nothing).
            names = list(order) if isinstance(named, list) and named else list(m.mask_labels or order)
            problems.add("unknown_label", unknown_labels_message(own_id, named, names), **where)
            continue
        if raw_id is not None and explicit is None:
            problems.add("bad_region", f"region {own_id} has object id {raw_id!r}, "
                         "not a positive integer", **where)
            continue
        try:
            width, height = int(r["original_width"]), int(r["original_height"])
        except (KeyError, TypeError, ValueError):
            problems.add("bad_region", f"region {own_id} lacks original_width/height", **where)
            continue
        flaw = _polygon_flaw(r) if kind == "polygonlabels" else ""
        if flaw:
            # It would decode to nothing (or a stray line of pixels) without a word.
            problems.add("bad_region", f"region {own_id}: the polygon {flaw}: redraw it", **where)
            continue
        region_score = score_of(r.get("score"))
        if region_score is None:
            region_score = score_of(score)
        extras = {} if anonymous else attributes.get(region_id) or attributes.get(own_id, {})
        control = labelled_by.get(own_id) or str(r.get("from_name") or kind)
        if len(labels) > 1:
            # One label is the class; with more, the class alone would lose the others.
            extras = {**extras, control: list(labels)}
        regions.append(
            Region(region_id, labels[0], r, explicit,
                   region_score if region_score is not None else 1.0, width, height,
                   extras, anonymous, labels, control, own_id if anonymous else region_id)
        )
    return regions


def _labelled_off_image(result: list[dict[str, Any]], images: list[str | None]) -> set[int]:
    """The ``id()`` of the plain <Brush>/<Polygon> regions (separate form) on an <Image> that
    takes no masks with a "labels" twin there: masks, where one without is a scribble. A twin
    is matched as ``joined_labels`` matches it on a tracked image (``twin_key``), so a pair
    exported there is told (``no_mask_control``) here, not dropped as a scribble."""
    twins = {twin_key(r) for r, image in zip(result, images)
             if image is None and r.get("type") == "labels" and has_region_id(r)}
    return {id(r) for r, image in zip(result, images)
            if image is None and isinstance(r.get("type"), str) and r["type"] in SEPARATE_TYPES
            and twin_key(r) in twins}


def _polygon_flaw(r: dict[str, Any]) -> str:
    """Why a polygon region encloses nothing, in words ("" when it may enclose pixels): fewer
    than 3 points, or all of them on one line (identical ones too), read as ``decode_polygon``
    reads them; points it cannot read at all are left to the decoding, which reports them."""
    try:
        points = np.asarray(_dict(r.get("value")).get("points"), dtype=np.float64).reshape(-1, 2)
    except (ValueError, TypeError):
        return ""
    if len(points) < 3:
        return "has fewer than 3 points"
    if not np.isfinite(points).all():
        return ""
    return "has no area (its points lie on one line)" if _on_one_line(points) else ""


# How far (in percent of the image) points may stray from one line and still be on it: the
# rounding of points saved as decimals, a millionth of a pixel of a 10000-pixel-wide image.
_LINE_TOLERANCE = 1e-8


def _on_one_line(points: np.ndarray) -> bool:
    """Whether every point lies on one line (all the same point included): the polygon then
    encloses no area (its outline may still cover a few pixels' centres, a line no one drew
    as a region)."""
    centred = points - points.mean(axis=0)
    if not centred.any():
        return True
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    return bool(np.abs(centred @ axes[-1]).max() <= _LINE_TOLERANCE)


def _shown_id(position: int, r: dict[str, Any]) -> str:
    """How messages name the region ``r`` at ``position`` (from 1) of its frame's result: its
    id, else its place, ``#k (no id)`` (the id it is keyed by is found nowhere in Label Studio)."""
    return region_key(r["id"]) if has_region_id(r) else f"#{position} (no id)"


def off_image_message(shown_id: str, image: Any, schema: ProjectSchema) -> str:
    """Why a mask region drawn on an <Image> that no mask control labels is skipped, for
    ``no_mask_control``."""
    labelled = ", ".join(repr(t.image_name) for t in schema.images)
    return (f"region {shown_id} is drawn on image {image!r}, which no mask control labels (was its "
            f"control's toName moved?): point a mask control at {image!r} to export it, or redraw it "
            f"on {labelled}")


class _MaskResult:
    """A mask result of a frame as ``parse_regions`` reads it, before its checks."""

    def __init__(self, position: int, r: dict[str, Any], numbers: dict[str, Any], order: dict[str, int],
                 mask_labels: tuple[str, ...], taken: set[str]) -> None:
        self.result, self.kind = r, str(r.get("type"))
        self.anonymous = not has_region_id(r)
        # Messages name one without an id by its place; it is keyed by the id propagation
        # gives it (and writes on the frames it fills), so its track is one object. A polygon
        # part of an object is that object.
        self.own_id = _shown_id(position, r)
        self.region_id = unnamed_region_id(r, taken) if self.anonymous else object_region_id(self.own_id)
        self.named = _dict(r.get("value")).get(self.kind)
        # Saved without a label, it is its image's one mask label, else none (as propagation reads it).
        self.mask_labels = mask_labels
        self.labels = in_config_order(read_labels(self.named, mask_labels), order)
        # A part is its object: the object's id number first, as propagation reads it.
        self.raw_id, _ = given_object_id(r, self.region_id, numbers)
        self.explicit = object_number(self.raw_id) if self.raw_id is not None else None
        # Its object on the frame: its id number, else its region id (none without either).
        self.key: tuple[str, Any] | None = (
            ("number", self.explicit) if self.explicit is not None
            else None if self.anonymous else ("region", self.region_id))


class ClipRegions:
    """Object ids and classes for every region of one clip (see the module docstring).

    ``human[i]`` says whether ``frames[i]`` is a human annotation (rather than a
    prediction); without it every frame counts as one.
    """

    def __init__(self, frames: list[list[Region]], human: list[bool] | None = None) -> None:
        explicit = [r.explicit_id for regions in frames for r in regions if r.explicit_id]
        next_id = max(explicit, default=0) + 1
        # Keyed on the region id alone, as propagation keys an object: a class
        # correction must not split one tracked object into two.
        self._fallback: dict[str, int] = {}
        self.size: tuple[int, int] | None = None
        for regions in frames:
            for r in regions:
                if self.size is None:
                    self.size = (r.height, r.width)
                if r.explicit_id is None and r.region_id not in self._fallback:
                    self._fallback[r.region_id] = next_id
                    next_id += 1
        flags = human if human is not None else [True] * len(frames)
        self._labels = object_labels(
            [[(self.object_id(r), r.label) for r in regions] for regions in frames], flags)

    def object_id(self, region: Region) -> int:
        if region.explicit_id is not None:
            return region.explicit_id
        return self._fallback[region.region_id]

    def label(self, object_id: int) -> str:
        """The object's class in this clip, read over every region given (the reader then
        settles it over those exported: ``ProjectReader._classes``)."""
        return self._labels[object_id]


def object_labels(frames: list[list[tuple[int, str]]], human: list[bool]) -> dict[int, str]:
    """``{object id: class}`` of a clip's ``(object id, label)`` pairs per frame: the label
    on the object's latest human frame, else on its latest frame.

    Of several regions claiming one id on a frame the first counts: the export keeps it.
    """
    latest: dict[int, tuple[tuple[bool, int], str]] = {}
    for position, (pairs, is_human) in enumerate(zip(frames, human)):
        seen: set[int] = set()
        for object_id, label in pairs:
            if object_id in seen:
                continue
            seen.add(object_id)
            rank = (is_human, position)
            if object_id not in latest or rank > latest[object_id][0]:
                latest[object_id] = (rank, label)
    return {o: label for o, (_, label) in latest.items()}
