"""Label Studio's ML-backend JSON -> samvid values (and nothing else).

Label Studio sends smart-tool prompts in percent of the image; they become a
``Prompt`` in pixels here. The label config is read with the SDK's label
interface to find the image, the mask control (brush or polygon) and the
smart controls.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Any

from samvid.core.prompts import MAX_OBJECTS, MAX_POINTS, Prompt, check_object_count
from samvid.errors import BadRequest, ConfigError, PromptError

# Labels a request may name over its images and pages: no more can make at most MAX_OBJECTS
# objects (an image's objects, its negative-only labels, each adding a click to every object
# of at most MAX_POINTS, and its clicks sent before any label). Past it the request is refused
# as its items come, before they pile up.
MOST_GROUPS = MAX_OBJECTS * (MAX_POINTS + 2)
MASK_TAGS = {"BrushLabels": "brushlabels", "PolygonLabels": "polygonlabels"}
# Label Studio's editor lowercases every tag name (and its validation accepts any case), so
# <brushlabels> and <image> work there: tags are compared by their lowercased names.
_MASK_TYPES = {tag.lower(): kind for tag, kind in MASK_TAGS.items()}
# Label Studio's "separate control" form: a plain <Brush> or <Polygon> draws the mask and a
# <Labels> on the same image names it. Its regions are two results with one id: the
# geometry (type "brush"/"polygon", no label) and a "labels" twin repeating the geometry
# with the label (results.split_labels / joined_labels). Keyed by the lowercased tag, which is
# also the geometry's result type; the values: the mask kind each is.
SEPARATE_TYPES = {"brush": "brushlabels", "polygon": "polygonlabels"}
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


def project_id_in(text: str) -> int | None:
    """The project id ``text`` names, or None when it names none (a title, for the commands'
    ``--project``). ASCII digits of a 64-bit number only: ``int`` refuses "²" (a digit to
    ``isdigit``) and numbers past 4300 digits with a ValueError."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


@dataclass(frozen=True)
class MaskControl:
    """A further <BrushLabels>/<PolygonLabels> on a target's image: a config may give each
    class a control of its own (one brush per class), and a mask goes to its label's."""

    name: str  # results' from_name
    mask_type: str  # "brushlabels" or "polygonlabels"
    labels: tuple[str, ...]


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
    # The mask labels of its image (every mask control's on it, or every <Labels>'s on it in
    # the separate form), in ``project_labels``' order: a region of the image saved without
    # a label is read against these (``results.read_labels``), never another image's.
    all_labels: tuple[str, ...] = ()
    # The other mask controls on the same image, in config order.
    siblings: tuple[MaskControl, ...] = ()
    # (another name, the mask label it means): a label saved as its alias is still found by
    # its value, and a smart label with an alias means the mask label of its value.
    spellings: tuple[tuple[str, str], ...] = ()
    # The separate-control form (mask_control and siblings are plain <Brush>/<Polygon>): each
    # <Labels> on the image, (its name, its labels), in config order. Their labels together
    # are the mask labels; a region is written as its geometry plus a "labels" twin per
    # <Labels> holding some of its labels. Empty for <BrushLabels>/<PolygonLabels>.
    label_rows: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The labels of every mask control of every image, first seen first: the classes of an export.
    project_labels: tuple[str, ...] = ()
    # The config's other <Image>s: a result naming one of them (a mask control may point at
    # several images) is drawn there, not on this one.
    other_images: tuple[str, ...] = ()
    # Label Studio's dynamic labels: (control, task data key) of each label holder of the
    # config (a mask control, or a <Labels> of the separate form, on any image) with
    # value="$key", whose labels a task gives in its data. Its <Label>s, if any, come first;
    # ``for_task`` adds the task's. Empty for a config of <Label>s only.
    labels_keys: tuple[tuple[str, str], ...] = ()

    def for_task(self, data: Any) -> MaskTarget:
        """This target for a task whose data is ``data``: each dynamic control's labels
        with the task's list added (``task_labels``); itself for a config of <Label>s only.
        A task without the list offers the config's <Label>s alone, as Label Studio shows it."""
        if not self.labels_keys:
            return self
        return self.with_labels({name: task_labels(data, key) for name, key in self.labels_keys})

    def with_labels(self, lists: Mapping[str, Sequence[str]]) -> MaskTarget:
        """This target with ``lists`` (control name -> labels a task gives it) added to its
        controls' labels, and to the image's and the project's labels, after the config's.

        >>> t = MaskTarget("img", "image", False, "tag", "brushlabels", ("Bg",), all_labels=("Bg",),
        ...                project_labels=("Bg",), labels_keys=(("tag", "labels"),))
        >>> t.with_labels({"tag": ["Car", "Bg"]}).all_labels
        ('Bg', 'Car')
        """
        def more(name: str, labels: Sequence[str]) -> tuple[str, ...]:
            return tuple(dict.fromkeys((*labels, *lists.get(name, ()))))

        project = tuple(dict.fromkeys((*self.project_labels,
                                       *(n for name, _ in self.labels_keys for n in lists.get(name, ())))))
        if self.label_rows:  # separate form: the image's <Labels> name the masks of all its controls
            rows = tuple((name, more(name, held)) for name, held in self.label_rows)
            labels = tuple(dict.fromkeys(n for _, held in rows for n in held))
            siblings = tuple(replace(c, labels=labels) for c in self.siblings)
        else:
            rows, labels = (), more(self.mask_control, self.labels)
            siblings = tuple(replace(c, labels=more(c.name, c.labels)) for c in self.siblings)
        on_image = {*labels, *(n for c in siblings for n in c.labels)}
        return replace(self, labels=labels, siblings=siblings, label_rows=rows, project_labels=project,
                       all_labels=tuple(n for n in project if n in on_image))

    def draws_on(self, result: dict[str, Any]) -> bool:
        """Whether ``result`` is drawn on this image: its ``to_name`` names it, or names no
        other image of the config (none saved, or an image renamed since: read where the
        export reads it, on the image propagation tracks)."""
        return result.get("to_name") not in self.other_images

    @property
    def separate_controls(self) -> tuple[str, ...]:
        """The plain <Brush>/<Polygon> mask controls of the image (separate-control form),
        whose regions are a geometry and "labels" twins; none in the labelled form."""
        return (self.mask_control, *(c.name for c in self.siblings)) if self.label_rows else ()

    def control_for(self, label: str | None) -> tuple[str, str]:
        """The (from_name, type) a mask labelled ``label`` is written with: this target's
        mask control, unless only another control on its image has that label.

        >>> t = MaskTarget("img", "image", False, "cars", "brushlabels", ("Car",),
        ...                siblings=(MaskControl("people", "polygonlabels", ("Person",)),))
        >>> t.control_for("Car"), t.control_for("Person"), t.control_for(None)
        (('cars', 'brushlabels'), ('people', 'polygonlabels'), ('cars', 'brushlabels'))
        """
        if label is not None and label not in self.labels:
            for control in self.siblings:
                if label in control.labels:
                    return control.name, control.mask_type
        return self.mask_control, self.mask_type


def parse_config(label_config: Any, image_name: str | None = None) -> MaskTarget:
    """Find the image and mask control of a label config; ConfigError says what is missing.

    ``image_name``: the <Image> a prompt was drawn on (its ``to_name``). A config with
    several images puts each one's masks in the mask control pointing at it; None takes
    the first mask control and its image.
    """
    return _parse_config(_given(label_config), image_name)


def _given(label_config: Any) -> str:
    """``label_config`` if it is a config's text; ConfigError otherwise (checked before a
    cache: JSON objects are not hashable)."""
    if not isinstance(label_config, str) or not label_config.strip():
        raise ConfigError("the request has no label_config")
    return label_config


_LOWER_LABEL = re.compile(r"<(/?)label(?=[\s/>])", re.IGNORECASE)


def label_interface(label_config: str) -> Any:
    """The SDK's reading of a label config (a ``LabelInterface``); ConfigError if it is not XML."""
    from label_studio_sdk.label_interface import LabelInterface

    # The SDK counts only <Label>: Label Studio's editor lowercases tag names, and a config
    # of <label>s read as a mask control without labels (every click refused).
    label_config = _LOWER_LABEL.sub(r"<\1Label", label_config)
    try:
        return LabelInterface(label_config)
    except Exception as exc:  # noqa: BLE001 - the SDK raises many kinds for bad XML
        raise ConfigError(f"the label config is not valid XML: {exc}") from exc


@lru_cache(maxsize=64)
def _parse_config(label_config: str, image_name: str | None) -> MaskTarget:
    return _target(_Reading.of(label_config), image_name)


@dataclass(frozen=True)
class _Reading:
    """What every image's ``MaskTarget`` of one config shares, read once: ``image_targets``
    builds one per image from it (parsing the config per image made a config of many images
    slow to export, and overflowed ``_parse_config``'s cache)."""

    controls: list[Any]
    images: list[Any]
    masks: list[Any]  # the mask controls: <BrushLabels>/<PolygonLabels>, else the plain ones
    separate: bool
    project_labels: tuple[str, ...]
    object_id_control: str | None
    labels_keys: tuple[tuple[str, str], ...]  # ``MaskTarget.labels_keys``

    @classmethod
    def of(cls, label_config: str) -> _Reading:
        interface = label_interface(label_config)
        images = [o for o in interface.objects if o.tag.lower() == "image"]
        if not images:
            raise ConfigError("the label config has no <Image>: samvid segments images (frames)")
        controls = interface.controls
        masks = [c for c in controls if c.tag.lower() in _MASK_TYPES]
        separate = not masks  # only then: a config with <BrushLabels> reads as it always did
        if separate:
            masks = _separate_masks(controls)
        # What holds the labels: each mask control itself, or (separate form) every <Labels>
        # of a mask control's image, which together stand in for it everywhere labels are read.
        label_holders = ([held for c in masks for name in c.to_name or () for held in _labels_on(controls, name)]
                         if separate else masks)
        numbers = [c.name for c in controls
                   if c.tag.lower() == "number" and str(c.attr.get("perRegion", "")).lower() == "true"]
        dynamic = tuple(dict.fromkeys((c.name, key) for c in label_holders if (key := _data_key(c)) is not None))
        return cls(controls, images, masks, separate, _union(label_holders), object_id_control(numbers), dynamic)

    @cached_property
    def tracked_image(self) -> Any:
        """The <Image> ``parse_config`` tracks by default: the first mask control's (its first
        in config order), else the first."""
        return next((o for o in self.images if o.name in (self.masks[0].to_name or ())), self.images[0])

    def points_at(self, control: Any, image_name: str) -> bool:
        """Whether ``control`` labels the image ``image_name``: one whose toName names no
        <Image> labels the tracked one, where ``parse_config`` puts its masks and the export
        reads a result naming no image (not the first, which may take no masks)."""
        names = control.to_name or ()
        return image_name in names or (image_name == self.tracked_image.name
                                       and not any(o.name in names for o in self.images))


def _target(reading: _Reading, image_name: str | None) -> MaskTarget:
    images, masks, separate, controls = reading.images, reading.masks, reading.separate, reading.controls
    mask = masks[0]
    image = reading.tracked_image
    if "{{" in image.name:
        # Label Studio's <Repeater> copies it per list item as image_0, image_1, ... (its
        # indexFlag replaced), names no config holds: every click would be refused.
        raise ConfigError(
            f"<Image name=\"{image.name}\"> sits in a <Repeater>, which samvid does not read: "
            "for several images per task use one <Image valueList=\"$images\"> (a page per image)"
        )
    if image_name is not None and image_name != image.name:
        # A click is segmented on the image it was drawn on, and its mask goes to the
        # control that labels that image: anything else shows one picture's mask on another.
        image, mask = _image_and_mask(images, masks, image_name)
    value = image.attr.get("valueList") or image.attr.get("value") or ""
    # What holds the image's labels: the mask control itself, or (separate form) every <Labels>
    # of its image, which together stand in for it everywhere labels are read.
    labelling = _labels_of(controls, mask, image.name) if separate else [mask]
    labels = _union(labelling) if separate else tuple(mask.labels or ())
    on_image = {n for c in (labelling if separate else masks) if reading.points_at(c, image.name)
                for n in c.labels or ()}
    return MaskTarget(
        image_name=image.name,
        image_key=value.lstrip("$"),
        is_list="valueList" in image.attr,
        mask_control=mask.name,
        mask_type=(SEPARATE_TYPES if separate else _MASK_TYPES)[mask.tag.lower()],
        labels=labels,
        object_id_control=reading.object_id_control,
        all_labels=tuple(n for n in reading.project_labels if n in on_image),
        # Separate form: the <Labels> of the image name the masks of each <Brush>/<Polygon>
        # on it alike, so every one of them takes every mask label.
        siblings=tuple(
            MaskControl(c.name, SEPARATE_TYPES[c.tag.lower()], labels) if separate
            else MaskControl(c.name, _MASK_TYPES[c.tag.lower()], tuple(c.labels or ()))
            # A control whose toName names no <Image> is on the tracked one (``points_at``), as its
            # labels are in ``all_labels`` and the export reads its regions there.
            for c in masks if c is not mask and reading.points_at(c, image.name)
        ),
        spellings=_spellings(controls, labelling if separate else masks, image.name),
        label_rows=tuple((c.name, tuple(c.labels or ())) for c in labelling) if separate else (),
        project_labels=reading.project_labels,
        other_images=tuple(o.name for o in images if o is not image),
        labels_keys=reading.labels_keys,
    )


def image_targets(label_config: Any) -> tuple[MaskTarget, ...]:
    """The ``MaskTarget`` of every <Image> that takes masks (``parse_config`` of it), in config
    order: an export reads the regions of every image, each as propagation reads them on its
    own (its mask controls, its <Labels>, its mask labels), so a region is never read against
    another image's labels nor joined with a "labels" twin of another image's <Labels>. An
    image takes masks where a mask control points at it; in the separate form, where a plain
    <Brush>/<Polygon> does and a <Labels> names its masks (one without is a scribble pad: a
    prompt there is refused, nothing tracks or exports it). ConfigError as ``parse_config``."""
    reading = _Reading.of(_given(label_config))
    default = _target(reading, None)
    controls = reading.controls
    names = [o.name for o in reading.images
             if o.name == default.image_name or (any(o.name in (c.to_name or ()) for c in reading.masks)
                                                 and (not reading.separate or _labels_on(controls, o.name)))]
    return tuple(default if name == default.image_name else _target(reading, name) for name in names)


def _data_key(control: Any) -> str | None:
    """The task data key a Labels-type control reads its labels from (Label Studio's dynamic
    labels, ``value="$labels"``); None for one whose labels are its <Label>s only."""
    value = control.attr.get("value")
    return value[1:] if isinstance(value, str) and value.startswith("$") and len(value) > 1 else None


def task_labels(data: Any, key: str) -> tuple[str, ...]:
    """The labels a task gives a dynamic control (``value="$key"``, ``$meta.labels`` a path),
    in its order: Label Studio's form, a list of options ``{"value": "Car", "background":
    "red", ...}`` (an option's ``alias``, where given, is the label, as Label Studio saves
    it), or plain strings. Read as Label Studio reads it: a task without the list gives
    none (the config's <Label>s are still offered), an item that is no label is passed over
    (``task_labels_problem`` says which).

    >>> task_labels({"labels": [{"value": "Car"}, "Person", {"value": "Bus", "alias": "bus"}, {}]}, "labels")
    ('Car', 'Person', 'bus')
    >>> task_labels({"meta": {"labels": ["Car"]}}, "meta.labels"), task_labels({}, "labels")
    (('Car',), ())
    """
    value = _data_value(data, key)
    items = value if isinstance(value, list) else []
    return tuple(dict.fromkeys(n for n in map(_item_label, items) if n))


def task_labels_problem(data: Any, key: str, missing_ok: bool = False) -> str | None:
    """What is wrong with the list of labels a task's data holds under ``key`` (none there,
    unless ``missing_ok``, or items that are no label), for a report; None when nothing."""
    value = _data_value(data, key)
    if not isinstance(value, list):
        if missing_ok:
            return None
        held = "has no such key" if value is None else f"holds {type(value).__name__}"
        return (f"the label config reads labels from task data {key!r} (value=\"${key}\"), but this task's "
                f"data {held}: give each task a list, \"{key}\": [{{\"value\": \"Car\"}}, {{\"value\": \"Person\"}}]")
    bad = [item for item in value if not _item_label(item)]
    if bad:
        return (f"task data {key!r} holds {len(bad)} item(s) that are no label, such as {bad[0]!r}: "
                "each item is {\"value\": \"<label>\"} (or the label as a string)")
    return None


def _data_value(data: Any, key: str) -> Any:
    """``data[key]``, or along a dotted path (``meta.labels``), as Label Studio reads ``$key``."""
    if isinstance(data, dict) and key in data:
        return data[key]
    for part in key.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _item_label(item: Any) -> str | None:
    return item if isinstance(item, str) and item else _option_label(item)


def _option_label(item: Any) -> str | None:
    """The label of one dynamic option: its alias, else its value (text only)."""
    if not isinstance(item, dict):
        return None
    alias, value = item.get("alias"), item.get("value")
    return alias if isinstance(alias, str) and alias else value if isinstance(value, str) else None


def _union(controls: list[Any]) -> tuple[str, ...]:
    """The labels of ``controls``, each once, first seen first."""
    return tuple(dict.fromkeys(n for c in controls for n in c.labels or ()))


def _labels_on(controls: list[Any], image_name: str) -> list[Any]:
    """The <Labels> on the image ``image_name``, in config order."""
    return [c for c in controls if c.tag.lower() == "labels" and image_name in (c.to_name or ())]


def _labels_of(controls: list[Any], mask: Any, image_name: str) -> list[Any]:
    """The <Labels> naming a separate <Brush>/<Polygon>'s masks on ``image_name``;
    ConfigError when that image has none (its masks could carry no label)."""
    labels = _labels_on(controls, image_name)
    if not labels:
        raise ConfigError(
            f"<{mask.tag} name=\"{mask.name}\"> draws masks on image {image_name!r}, but no <Labels> "
            f"has toName=\"{image_name}\" to name them: add <Labels name=\"labels\" "
            f"toName=\"{image_name}\"> with a <Label> per class, or use <{mask.tag}Labels> "
            "(see labeling_configs/)"
        )
    return labels


def _separate_masks(controls: list[Any]) -> list[Any]:
    """The <Brush>/<Polygon> controls of a config without <BrushLabels>/<PolygonLabels>,
    those with a <Labels> on their image first (the one samvid writes to by default);
    ConfigError when there is none."""
    geometry = [c for c in controls if c.tag.lower() in SEPARATE_TYPES]
    if not geometry:
        raise ConfigError(
            "the label config has no <BrushLabels> or <PolygonLabels>, nor a <Brush> or <Polygon> "
            "with a <Labels> on its image: add one so samvid has somewhere to put masks "
            "(see labeling_configs/)"
        )
    labelled = [c for c in geometry if any(_labels_on(controls, n) for n in c.to_name or ())]
    if not labelled:
        _labels_of(controls, geometry[0], (geometry[0].to_name or ["?"])[0])  # raises: names the fix
    return labelled + [c for c in geometry if c not in labelled]


def _spellings(controls: list[Any], masks: list[Any], image_name: str) -> tuple[tuple[str, str], ...]:
    """The other names of the mask labels on ``image_name``. Label Studio saves a label as
    its alias (else its value) and finds a suggested label by alias or value: a click on a
    smart label with no alias names a mask label by its value, and a smart label with an
    alias sends the alias, which names the mask label of the smart label's value."""
    def aliased(control: Any) -> list[tuple[str, str]]:  # (alias, value) of its aliased labels
        return [(name, tag.attr["value"]) for name, tag in (control.labels_attrs or {}).items()
                if tag.attr.get("alias") and tag.attr.get("value") is not None]

    on_image = [c for c in controls if image_name in (c.to_name or ())]
    mask_names = {c.name for c in masks}
    image_masks = [c for c in on_image if c.name in mask_names]
    mask_labels = {n for c in image_masks for n in c.labels or ()}
    by_value: dict[str, str] = {}
    for control in image_masks:
        for alias, value in aliased(control):
            by_value.setdefault(value, alias)
    spellings = {value: alias for value, alias in by_value.items() if value not in mask_labels}
    for control in (c for c in on_image if c.name not in mask_names):
        for alias, value in aliased(control):
            meant = value if value in mask_labels else by_value.get(value)
            if meant is not None and alias not in mask_labels:
                spellings.setdefault(alias, meant)
    return tuple(spellings.items())


def _image_and_mask(images: list[Any], masks: list[Any], image_name: str) -> tuple[Any, Any]:
    """The <Image> named ``image_name`` and the first mask control pointing at it."""
    image = next((o for o in images if o.name == image_name), None)
    if image is None:
        raise ConfigError(
            f"the prompt was drawn on {image_name!r}, which is no <Image> of the label config "
            f"(its images: {[o.name for o in images]}): send the project's current config"
        )
    mask = next((c for c in masks if image_name in (c.to_name or ())), None)
    if mask is None:
        raise ConfigError(
            f"the prompt was drawn on image {image_name!r}, but no <BrushLabels> or <PolygonLabels>, "
            f"nor a <Brush> or <Polygon> with a <Labels>, has toName=\"{image_name}\": add one for "
            "that image so samvid has somewhere to put its mask"
        )
    return image, mask


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
    """The clicks and box drawn on one image of a task, in percent of the image as Label
    Studio sends them, with the label the annotator chose."""

    to_name: str | None  # the <Image> they were drawn on
    item_index: int | None
    points: tuple[tuple[float, float], ...]  # percent
    labels: tuple[int, ...]  # 1 positive, 0 negative
    # The last rectangle: x, y, width, height in percent and its rotation in degrees.
    box: tuple[float, float, float, float, float] | None
    label: str | None
    # The size the prompt was drawn on (original_width/height); None when not sent.
    size: tuple[int, int] | None

    def on_image(self, width: int, height: int) -> Prompt:
        """The prompt in pixels of a ``width`` x ``height`` image.

        A click up to half a pixel past an edge is a rounding residue of the percent
        values and is moved onto the edge; one further out is refused, naming its
        percent values (what the annotator's client sent).
        """
        points = []
        for x_pct, y_pct in self.points:
            x, y = x_pct / 100 * width, y_pct / 100 * height
            if not (-0.5 <= x <= width + 0.5 and -0.5 <= y <= height + 0.5):
                raise PromptError(
                    f"click at x={x_pct:g}%, y={y_pct:g}% is outside the image (0-100%): "
                    "click on the image"
                )
            points.append((x, y))
        box = None
        if self.box is not None:
            bx, by, bw, bh, angle = self.box
            box = rotated_box_bounds(bx / 100 * width, by / 100 * height,
                                     bw / 100 * width, bh / 100 * height, angle)
        prompt = Prompt(tuple(points), self.labels, box)
        prompt.validate_inside(width, height)
        return prompt.clipped(width, height)


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


def _size(item: dict[str, Any]) -> tuple[int, int] | None:
    """The image size a prompt was drawn on; None when neither field is sent (the percent
    coordinates then need only the decoded image's size)."""
    if item.get("original_width") is None and item.get("original_height") is None:
        return None
    w = _number(item.get("original_width"), "original_width")
    h = _number(item.get("original_height"), "original_height")
    if w < 1 or h < 1 or w > 100_000 or h > 100_000:
        raise PromptError(f"image size {w:g}x{h:g} is not plausible")
    return int(w), int(h)


def prompts_from_context(context: Any,
                         mask_label: Callable[[str | None, str], str] | None = None) -> list[SmartPrompt]:
    """Group the smart keypoints and rectangles of ``params.context`` per image: per
    ``to_name`` (the <Image> tag) and ``item_index`` (the page of a multi-image task),
    and per label on an image.

    All clicks of one label on one image form one prompt (SAM refines with every click);
    the last rectangle is the box. Label Studio sends every smart region still on the
    image, so clicks of another label are another object and get a mask of their own. A
    region sent without a label belongs to the label before it; a label with only
    negative clicks cuts them from the image's other objects. Coordinates arrive in percent.

    ``mask_label(to_name, label)`` names the mask label a smart label gives: labels that
    give one mask (a mask control with one label, smart rows named otherwise) are one
    object, as a box and the clicks refining it are.
    """
    if context is None:
        return []
    if not isinstance(context, dict):
        raise BadRequest("params.context must be an object")
    items = context.get("result") or []
    if not isinstance(items, list):
        raise BadRequest("params.context.result must be a list")
    # (to_name, item_index) -> label -> group, labels in the order they first came
    images: dict[tuple[str | None, int | None], dict[str | None, dict[str, Any]]] = {}
    groups = 0  # labels over all images and pages, as they come
    last_label: dict[tuple[str | None, int | None], str | None] = {}
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
        to_name = item.get("to_name")
        if to_name is not None and not isinstance(to_name, str):
            raise BadRequest("to_name must be the name of an <Image> of the label config")
        chosen = value.get(kind, value.get("labels"))
        label = chosen[0] if isinstance(chosen, list) and chosen and isinstance(chosen[0], str) else None
        image = (to_name, index)
        if label is not None and mask_label is not None:
            label = mask_label(to_name, label)
        label = last_label.get(image) if label is None else label
        last_label[image] = label
        by_label = images.setdefault(image, {})
        if label not in by_label:
            groups += 1
            if groups > MOST_GROUPS:
                raise PromptError(f"at most {MAX_OBJECTS} objects per request, and this one names over "
                                  f"{MOST_GROUPS} labels on its images and pages: accept or delete some of the "
                                  "smart regions")
        group = by_label.setdefault(label, {"points": [], "labels": [], "box": None, "size": _size(item)})
        x, y = _number(value.get("x"), "x"), _number(value.get("y"), "y")
        if kind in POINT_TYPES:
            group["points"].append((x, y))
            group["labels"].append(_click_label(item.get("is_positive")))
        else:
            bw, bh = _number(value.get("width"), "width"), _number(value.get("height"), "height")
            if bw == 0 or bh == 0:
                raise PromptError("the box has zero area: drag a rectangle around the object")
            group["box"] = (x, y, bw, bh, _number(value.get("rotation", 0), "rotation"))
    for by_label in images.values():
        _fold_unlabelled(by_label)
    # Refused before any image is read (every object is a mask made in this request), and
    # before the negative-only labels are copied into every object: that fold takes objects
    # times labels steps, which a request of thousands of each made minutes.
    check_object_count(sum(len(_objects(by_label) or by_label) for by_label in images.values()))
    for by_label in images.values():
        _fold_negative_only(by_label)
    prompts = []
    for (to_name, index), by_label in images.items():
        for label, g in by_label.items():
            smart = SmartPrompt(to_name, index, tuple(g["points"]), tuple(g["labels"]), g["box"],
                                label, g["size"])
            # Refuse a bad prompt before its image is fetched; without a size, the one the
            # image decodes to checks the clicks' positions later (the structure is the same).
            smart.on_image(*(smart.size or (100, 100)))
            prompts.append(smart)
    return prompts


def _click_label(is_positive: Any) -> int:
    """1 for a positive click, 0 for a negative one (Alt+click). Label Studio sends a JSON
    boolean; a click without one is positive, as the smart tools make it."""
    if is_positive is None:
        return 1
    if is_positive in (True, False, 0, 1) and not isinstance(is_positive, float):
        return int(is_positive)
    # The string "false" would otherwise be truthy: a click meant to cut would grow the mask.
    raise BadRequest(f"is_positive must be true or false, got {is_positive!r}"[:200])


def _fold_unlabelled(by_label: dict[str | None, dict[str, Any]]) -> None:
    """Fold, in place, the clicks of one image sent before any label into its first
    labelled group."""
    if None in by_label and len(by_label) > 1:
        unlabelled = by_label.pop(None)
        first = next(iter(by_label.values()))
        first["points"][:0], first["labels"][:0] = unlabelled["points"], unlabelled["labels"]
        first["box"] = first["box"] or unlabelled["box"]


def _objects(by_label: dict[str | None, dict[str, Any]]) -> dict[str | None, dict[str, Any]]:
    """The groups of one image that are objects: those with a box or a positive click."""
    return {k: g for k, g in by_label.items() if g["box"] is not None or any(g["labels"])}


def _fold_negative_only(by_label: dict[str | None, dict[str, Any]]) -> None:
    """Fold, in place, a label's negative clicks with no positive click or box of that label
    into every object of the image (an Alt+click made with another label picked still means
    "not this"); where no label has one, each stays an object of its own."""
    objects = _objects(by_label)
    if not objects or len(objects) == len(by_label):
        return
    for label in [k for k in by_label if k not in objects]:
        cut = by_label.pop(label)
        for g in objects.values():
            g["points"] += cut["points"]
            g["labels"] += cut["labels"]


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
    """The image URL of a task (page ``item_index`` for multi-image tasks; a single image
    is page 0 or no page)."""
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
    elif item_index:
        # Label Studio sends item_index only for <Image valueList>; any page past 0 of a single
        # image is no image of this task, each one another mask to make.
        raise BadRequest(f"item_index {item_index} given, but <Image name={target.image_name!r}> "
                         "shows one image, not a valueList")
    if not isinstance(value, str) or not value:
        raise BadRequest(f"task data has no image URL under {target.image_key!r}")
    return value


def choose_label(target: MaskTarget, label: str | None) -> str:
    """The mask label for a prompt's label; ConfigError when no mask control of the image
    has it. A label of another mask control on the image is kept: the mask goes to that
    control (``MaskTarget.control_for``). A label named by another of its names (its value
    where it has an alias, a smart label's alias) is that mask label."""
    label = dict(target.spellings).get(label, label) if label is not None else None
    if label is not None and (label in target.labels
                              or any(label in c.labels for c in target.siblings)):
        return label
    if label is None and target.labels:
        return target.labels[0]
    if len(target.labels) == 1 and (not target.siblings or target.label_rows):
        # One mask label (a separate form's siblings share it): whatever the smart row calls it.
        return target.labels[0]
    others = "".join(f" nor {c.name!r}'s {list(c.labels)}" for c in target.siblings)
    keys = ", ".join(sorted({repr(key) for _, key in target.labels_keys}))
    if keys and not target.labels:
        fix = (f"this task gives no labels: give it a list in task data {keys}, "
               '[{"value": "Car"}, {"value": "Person"}]')
    elif keys:
        fix = f"pick one of this task's labels, or add it to its list in task data {keys}"
    else:
        fix = "give the smart tool and the mask control the same labels"
    raise ConfigError(
        f"label {label!r} is not one of {target.mask_control!r}'s labels {list(target.labels)}{others}: {fix}"
    )


def frame_index(value: Any) -> int | None:
    """A frame index given as a non-negative integer, an integral float or a string of
    digits (a CSV import makes every value a string); None for anything else: 3.7 is no
    frame of the video, and truncating it would collide with frame 3; -3 is none either,
    and its file name ("-00003") would sort out of frame order."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and value >= 0 else None
    # isdecimal, not isdigit: a superscript ("1²") is a digit to isdigit but no number to int.
    if isinstance(value, str) and value.strip().isdecimal():
        try:
            return int(value.strip())
        except ValueError:  # past 4300 digits: no frame either, and no failed request (a 500)
            return None
    return None
