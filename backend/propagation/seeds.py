"""The objects of a human annotation (``ObjectSeed``): read from its regions as the
export reads them (``seeds_from_result``), chosen by a request's ``objects``, and paired
across a bridged stretch where a redraw renamed one (``match_redrawn``). Also what
else an annotation says: whether a task has one (``human_annotated``), and whether it
holds regions samvid cannot read (``unreadable_labels``) or says every object left
(``left_the_view``)."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from samvid.studio.protocol import MaskTarget, is_labels_result
from samvid.studio.results import (
    MAX_PIXELS,
    decode_mask,
    given_object_id,
    has_region_id,
    in_config_order,
    joined_labels,
    object_number,
    object_numbers,
    object_region_id,
    read_labels,
    region_ids,
    region_key,
    unnamed_region_id,
)

# The package's one logger, as before it was split: its log lines keep their name.
log = logging.getLogger("samvid.propagation")


Identity = tuple[bool, str]  # ``ObjectSeed.identity``: (numbered, key)


@dataclass
class ObjectSeed:
    """One object as a human drew it: its mask, labels and per-region extras."""

    key: str  # the object-id number (``numbered``), else the region id
    region_id: str
    labels: tuple[str, ...]  # as the region has them (a multiple-choice control gives several)
    mask: np.ndarray
    extras: list[dict[str, Any]] = field(default_factory=list)  # object id, attributes
    numbered: bool = False  # the key is an object-id number given (its Number, or meta.object_id)
    control: tuple[str, str] | None = None  # (from_name, type) it was drawn with, kept on every frame
    id_in_meta: bool = False  # its number is the region's meta.object_id: written there on every frame

    @property
    def identity(self) -> Identity:
        """Which object of the clip it is. Object-id numbers and region ids are apart:
        object 3 and a region whose id is "3" (imported JSON may give any id) are two
        objects, as the export reads them (``export.identity``)."""
        return self.numbered, self.key

    @property
    def name(self) -> str:
        """How a message names it: as a request's ``objects`` would."""
        return self.key if self.numbered else repr(self.key)


def seeds_from_result(result: list[dict[str, Any]], target: MaskTarget,
                      max_pixels: int = MAX_PIXELS) -> list[ObjectSeed]:
    """The objects of an annotation's result list (mask regions of the image's mask controls;
    a region claiming an image over ``max_pixels`` is skipped, as such an image would be).

    A region is the object of its object-id number (its ``Number``, else its meta.object_id:
    ``seed_object_number``), else of its region id, as the export reads it (``export.identity``).
    The polygons samvid wrote for the parts of one object (``<id>``, ``<id>~2``, ...:
    ``results.part_region_id``) are that object, ``<id>``, again: an accepted propagated
    frame keeps its objects."""
    # A region drawn on another image of the config (a mask control on two) is none of its
    # objects; a plain <Brush>/<Polygon> region and its "labels" twins are one.
    result = joined_regions([item for item in result if target.draws_on(item)], target)
    extras: dict[str, list[dict[str, Any]]] = {}
    for item in result:
        # Another *labels result of the region (the shared smart row's "labels" twin)
        # repeats its geometry, which would go stale on the propagated frames.
        if is_labels_result(item) or not has_region_id(item):
            continue
        extras.setdefault(region_key(item["id"]), []).append(item)
    # The mask controls on the target's image (a config may give each class its own).
    types = {target.mask_control: target.mask_type, **{c.name: c.mask_type for c in target.siblings}}
    seeds: list[ObjectSeed] = []
    taken = region_ids(result)
    numbers = object_numbers(result, target.object_id_control)
    for item in result:
        mask_type = types.get(str(item.get("from_name")))
        if mask_type is None or item.get("type") != mask_type:
            continue
        try:
            mask = decode_mask(item, max_pixels)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("skipping an undecodable region %s: %s", item.get("id"), exc)
            continue
        # One saved without an id (imported JSON) is an object of its own, named as the export
        # names it, so its keyframe and the frames filled from it are one object there too.
        region_id = object_region_id(item["id"]) if has_region_id(item) else unnamed_region_id(item, taken)
        region_extras = extras.get(region_id, [])
        number, in_meta = seed_object_number(item, region_id, numbers)
        key, numbered = (region_id, False) if number is None else (str(number), True)
        labels = read_labels((item.get("value") or {}).get(mask_type), target.all_labels)
        same = next((s for s in seeds if s.identity == (numbered, key)), None)
        if same is not None:
            # Regions that share an object id (or a region id, as polygon parts do) are parts
            # of one object (drawn apart around an occluder): tracked as one, under the first
            # region's id and extras, with the labels of all its parts of its class (as the
            # export unites them: the class is the first label in the config's order). An
            # unlabelled part leaves the object labelled, and in the control that labels it;
            # parts of two classes keep the first's, as the export keeps the first and reports
            # the other. A part with no pixels (erased to nothing) adds none, but lends its
            # labels to the object's unlabelled parts, as the export lends them.
            if not same.mask.any():
                same.mask = mask  # not OR-ed: an empty part may claim another image size
            elif mask.any():
                same.mask = same.mask | mask
            if not same.labels:
                same.labels, same.control = labels, (str(item["from_name"]), mask_type)
            elif labels and (in_config_order(labels, target.all_labels)[0]
                             == in_config_order(same.labels, target.all_labels)[0]):
                same.labels = in_config_order((*same.labels, *labels), target.all_labels)
            continue
        seeds.append(ObjectSeed(key, region_id, labels, mask, region_extras, numbered,
                                (str(item["from_name"]), mask_type), in_meta))
    return [s for s in seeds if s.mask.any()]  # one with no pixels in any part is no object


def seed_object_number(item: dict[str, Any], region_id: str, numbers: dict[str, Any]) -> tuple[int | None, bool]:
    """A mask region's object-id number (``results.given_object_id``, as the export reads it)
    and whether it is its meta.object_id. Only a whole number from 1 is one: else the region
    is its region id's object (which the export reports as a bad region)."""
    given, in_meta = given_object_id(item, region_id, numbers)
    number = None if given is None else object_number(given)
    return number, in_meta and number is not None


def joined_regions(result: list[dict[str, Any]], target: MaskTarget) -> list[dict[str, Any]]:
    """``result`` with the regions of the target's plain <Brush>/<Polygon> controls joined
    with their "labels" twins from its image's <Labels> (``results.joined_labels``)."""
    return joined_labels(result, target.separate_controls, [name for name, _ in target.label_rows])


def may_be_one(a: Collection[str], b: Collection[str]) -> bool:
    """Whether regions labelled ``a`` and ``b`` may be one object: one's labels hold all of
    the other's (the same labels in any order, or a label such as "occluded" added or taken
    off). An empty set agrees with any: a region samvid cannot read that has no label may be
    any object (``unreadable_labels``). Two that each have a label the other lacks (a car and a
    person, both "occluded") are not one: a region with several labels is not named by its
    first, which is only the config's order. Objects samvid reads unlabelled are paired by
    ``_may_pair``, not this."""
    return set(a) <= set(b) or set(b) <= set(a)


def _may_pair(a: Collection[str], b: Collection[str]) -> bool:
    """Whether objects read with labels ``a`` and ``b`` (``results.read_labels``) may be one
    object redrawn: their labels agree (``may_be_one``), but an unlabelled object only with
    another unlabelled one. Unlabelled (a config with several mask labels) says nothing of
    what it is: taken as any, it would pair with a new object of any class, or leave a
    redrawn one unpaired because it, too, agrees."""
    return _same_labels(a, b) if not a or not b else may_be_one(a, b)


def match_redrawn(named: list[ObjectSeed], other: list[ObjectSeed],
                  unread: Collection[Collection[str]] = ()) -> list[ObjectSeed]:
    """``other`` (the human frame across a bridged stretch from ``named``), with each object
    that a redraw renamed keyed as in ``named``.

    An annotator who deletes a poor prediction and draws the object again gives it a new
    region id. Tracked as two objects, each end would be sure the other's is absent, and
    the middle of the stretch would get neither. Where an unmatched, unnumbered object has
    exactly one such object at the other end whose labels agree with its own
    (``_may_pair``), and that one no other, it is the same object; objects with the very
    same labels are paired first. Otherwise nothing says which is which, and the objects
    stay apart. ``unread``: the labels of each region of ``other``'s frame samvid cannot
    read (none: one without a label), each maybe the object redrawn. Object-id numbers are
    the annotator's word: never matched.
    """
    here = [s for s in named if s.identity not in {o.identity for o in other} and not s.numbered]
    there = [s for s in other if s.identity not in {o.identity for o in named} and not s.numbered]
    renames: dict[Identity, str] = {}
    for agree in (_same_labels, _may_pair):
        for mine in list(here):
            if any(may_be_one(mine.labels, labels) for labels in unread):
                continue  # a region there that samvid cannot read may be it
            theirs = [s for s in there if agree(mine.labels, s.labels)]
            if len(theirs) == 1 and [s for s in here if agree(s.labels, theirs[0].labels)] == [mine]:
                renames[theirs[0].identity] = mine.key
                here.remove(mine)
                there.remove(theirs[0])
    return [replace(s, key=renames[s.identity]) if s.identity in renames else s for s in other]


def _same_labels(a: Collection[str], b: Collection[str]) -> bool:
    return set(a) == set(b)


def human_annotated(task: dict[str, Any]) -> bool:
    """Whether a task has a live human annotation (API counters, or the annotations list)."""
    if "total_annotations" in task:
        # Label Studio counts cancelled (skipped) annotations apart: its total_annotations
        # holds the live ones only, so a frame with an annotation and a skip counts 1.
        total = task.get("total_annotations") or 0
        return isinstance(total, int) and total > 0
    annotations = task.get("annotations") or []  # a task in a /predict request: any JSON at all
    if not isinstance(annotations, list):
        return False
    return any(isinstance(a, dict) and not a.get("was_cancelled") for a in annotations)


def annotation_result(annotation: dict[str, Any]) -> list[dict[str, Any]]:
    """An annotation's regions. Label Studio stores null for one saved without a result, and
    imported JSON may hold anything there: an item that is no object is no region."""
    result = annotation.get("result")
    return [item for item in result if isinstance(item, dict)] if isinstance(result, list) else []


def for_frame(target: MaskTarget, task: dict[str, Any]) -> MaskTarget:
    """``target`` with the labels a frame task gives (Label Studio's dynamic labels:
    ``MaskTarget.for_task``), against which its regions are read. A task without the list
    its config reads offers the config's <Label>s alone, as Label Studio shows it."""
    return target.for_task(task.get("data"))


REGION_TYPES = ("brush", "polygon", "keypoint", "rectangle", "ellipse")  # each also as "<type>labels"


def unreadable_labels(result: list[dict[str, Any]], target: MaskTarget, max_pixels: int) -> list[frozenset[str]]:
    """The labels of each of an annotation's regions drawn on its image that are no readable
    mask (empty for one without a label): a smart click or box whose mask never came back,
    a damaged brush. A mask erased to nothing is read, as no object; per-frame choices or
    text are no regions."""
    masks = {target.mask_control: target.mask_type, **{c.name: c.mask_type for c in target.siblings}}
    found: list[frozenset[str]] = []
    # A region drawn on another <Image> of the config is no object of this one.
    for item in joined_regions([item for item in result if target.draws_on(item)], target):
        kind = str(item.get("type", ""))
        if kind.removesuffix("labels") not in REGION_TYPES:
            continue
        if masks.get(str(item.get("from_name"))) == kind:
            try:
                decode_mask(item, max_pixels)
                continue
            except (ValueError, KeyError, TypeError):
                pass
        named = (item.get("value") or {}).get(kind) if kind.endswith("labels") else None
        found.append(frozenset(map(str, named)) if isinstance(named, list) else frozenset())
    return found


def left_the_view(result: list[dict[str, Any]], target: MaskTarget, max_pixels: int) -> bool:
    """Whether an annotation says every object has left the view: it holds no mask, nor a
    region samvid cannot read (which may be an object: nothing is known there)."""
    return not seeds_from_result(result, target, max_pixels) and not unreadable_labels(result, target, max_pixels)


def wanted_identities(objects: tuple[int | str, ...], drawn: list[ObjectSeed]) -> frozenset[Identity] | None:
    """The identities a request's ``objects`` names (``object_key``), read against the
    objects ``drawn`` on its frame; None when it names none (all). A string of digits
    that is the region id of none of the frame's objects names the object of that number:
    the payloads of jobs queued before numbers and region ids were kept apart name it so."""
    if not objects:
        return None
    regions = {s.key for s in drawn if not s.numbered}
    wanted: set[Identity] = set()
    for o in objects:
        if isinstance(o, int):
            wanted.add((True, str(o)))
            continue
        region_id = object_region_id(o)  # a polygon part names its object
        legacy = region_id not in regions and region_id.isascii() and region_id.isdigit()
        wanted.add((True, str(int(region_id))) if legacy else (False, region_id))
    return frozenset(wanted)


def missing_objects(objects: tuple[int | str, ...], drawn: list[ObjectSeed]) -> tuple[int | str, ...]:
    """Those of a request's ``objects`` that name none of the objects ``drawn`` on its frame
    (each read as ``wanted_identities`` reads it), as the request gave them, each once."""
    there = {s.identity for s in drawn}
    return tuple(o for o in dict.fromkeys(objects) if not (wanted_identities((o,), drawn) or frozenset()) & there)


def chosen_seeds(seeds: list[ObjectSeed], wanted: frozenset[Identity] | None) -> list[ObjectSeed]:
    """The ``seeds`` of the identities ``wanted`` (``wanted_identities``); all when None."""
    return seeds if wanted is None else [s for s in seeds if s.identity in wanted]
