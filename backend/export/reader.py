"""Read a Label Studio project of frame tasks as clips of ``ExportFrame``s.

Tasks are listed once without their results (small: ids and data). Then, clip by
clip, each task's chosen annotation (or prediction) is fetched; only that
clip's Label Studio JSON (compressed RLE) is held while object ids are resolved,
and masks are decoded one frame at a time as the caller iterates. So memory
grows with the longest clip's JSON, never with the project's decoded masks.

Which result a frame uses: its latest non-cancelled annotation; if it has none,
with ``fill`` samvid's own latest prediction (model version ``samvid...``), with
``include_predictions`` any model's latest prediction; otherwise the frame is
left out. Object ids: see ``identity.py``.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

import numpy as np

from samvid.errors import ConfigError
from samvid.export.frames import (
    ANNOTATION,
    PREDICTION,
    Category,
    ExportFrame,
    Problems,
    Where,
    frame_masks,
    report_label_changes,
)
from samvid.export.identity import ClipRegions, Region, parse_regions
from samvid.export.images import Image, ImageFetcher, ImageUnavailable, image_extension
from samvid.export.manifest import video_ref
from samvid.propagation import MAX_FRAME
from samvid.studio.client import Studio
from samvid.studio.protocol import (
    MaskTarget,
    frame_index,
    image_targets,
    label_interface,
    parse_config,
    task_labels,
    task_labels_problem,
)
from samvid.studio.results import MAX_PIXELS, BrushSizeMismatch, decode_mask, in_config_order, joined_labels

log = logging.getLogger(__name__)

SAMVID_MODEL_PREFIX = "samvid"
# What ``ProjectReader._choose`` gives for a task whose predictions are all other models'
# (with ``fill``, without ``include_predictions``): none is taken, and the command says so.
OTHER_MODELS = "other models"


@dataclass
class TaskRef:
    task_id: int
    frame: int
    time: float | None
    image: str
    # Label Studio's counters from the listing (None if absent): a task with neither
    # annotations nor predictions costs no further request.
    annotations: int | None = None
    predictions: int | None = None
    # Dynamic labels (``ProjectSchema.labels_keys``): the labels the task gives each control
    # that reads them from its data, and why it gives none (its data lacks the list).
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    labels_problem: str = ""


@dataclass
class ClipInfo:
    clip: str
    video: str
    tasks: list[TaskRef] = field(default_factory=list)


@dataclass(frozen=True)
class ProjectSchema:
    """What the export needs from the labeling config."""

    categories: list[Category]
    object_id_control: str | None  # per-region Number holding the object id
    # Every image that takes masks, as propagation reads it (protocol.image_targets): its mask
    # controls, the <Labels> that label its plain <Brush>/<Polygon> (separate form), its labels.
    images: tuple[MaskTarget, ...] = ()
    # The image propagation tracks (``parse_config``'s): a result saved without a to_name, or
    # naming no <Image> of the config, is read on it, as propagation reads it.
    default_image: str | None = None
    # Every <Image> of the config: a result naming one that takes no masks (a scribble pad) is
    # drawn there, on no image of ``images`` (``MaskTarget.draws_on``).
    image_names: tuple[str, ...] = ()
    # The <Labels> naming the masks of a plain <Brush>/<Polygon> (separate form), in config
    # order: of a region's several, the first holds its labels. Empty in the labelled form.
    label_rows: tuple[str, ...] = ()
    # Label Studio's dynamic labels (``MaskTarget.labels_keys``): (control, task data key) of
    # each control whose labels a task gives. The categories are then the config's <Label>s
    # and every task's (``with_tasks``), and a region is read against its own task's
    # (``for_task``): ``known`` holds those, None for every category.
    labels_keys: tuple[tuple[str, str], ...] = ()
    known: frozenset[str] | None = None

    @classmethod
    def from_config(cls, config: str) -> ProjectSchema:
        """Read as propagation reads it (``protocol.parse_config``), so both agree on the
        mask controls and on which control carries the object id."""
        targets = image_targets(config)
        target = targets[0]
        if not target.project_labels and not target.labels_keys:
            raise ConfigError(
                "the project's labeling config names no mask labels: add a <Label> to its "
                "BrushLabels or PolygonLabels (or to the Labels beside its Brush or Polygon); "
                "nothing to export as masks"
            )
        categories = [Category(i + 1, n) for i, n in enumerate(target.project_labels)]
        rows = {name for t in targets for name, _ in t.label_rows}
        in_config = tuple(c.name for c in label_interface(config).controls if c.name in rows)
        return cls(categories, target.object_id_control, targets, parse_config(config).image_name,
                   image_names=(target.image_name, *target.other_images),
                   label_rows=tuple(dict.fromkeys(in_config)), labels_keys=target.labels_keys)

    def task_lists(self, data: Any) -> tuple[dict[str, tuple[str, ...]], str]:
        """The labels a task's ``data`` gives each dynamic control (``protocol.task_labels``),
        and what is wrong with its lists ("" when nothing): items that are no label, or no
        list where the config has no <Label> of its own (with some, a task without the list
        offers those, as Label Studio shows it)."""
        lists, problem = {}, ""
        static = any(t.project_labels for t in self.images)
        for name, key in self.labels_keys:
            lists[name] = task_labels(data, key)
            problem = task_labels_problem(data, key, missing_ok=static) or problem
        return lists, problem

    def with_tasks(self, lists: Iterable[Mapping[str, Iterable[str]]]) -> ProjectSchema:
        """The schema whose categories are the config's <Label>s, then each task's labels
        (``lists``, in task order; each task's in config order of its controls), each once,
        first seen first: a task added later never renumbers the classes of the tasks before."""
        names = dict.fromkeys(c.name for c in self.categories)
        for given in lists:
            names.update(dict.fromkeys(n for name, _ in self.labels_keys for n in given.get(name, ())))
        return replace(self, categories=[Category(i + 1, n) for i, n in enumerate(names)])

    def for_task(self, lists: Mapping[str, tuple[str, ...]]) -> ProjectSchema:
        """The schema a task's regions are read with: each image's labels with those the task
        gives (``lists``: ``task_lists``), categories as they are; itself for a static config."""
        if not self.labels_keys:
            return self
        images = tuple(t.with_labels(lists) for t in self.images)
        return replace(self, images=images, known=frozenset(images[0].project_labels) if images else frozenset())

    @property
    def label_order(self) -> dict[str, int]:
        """``{label: position}`` of the config's labels, in their order (``in_config_order``);
        of a task's schema (``for_task``), only those its task offers."""
        return {c.name: i for i, c in enumerate(self.categories) if self.known is None or c.name in self.known}

    def image_of(self, to_name: Any) -> str | None:
        """The image that takes masks a result saved with ``to_name`` is read on, as propagation
        reads it (``MaskTarget.draws_on``): the one it names; None for another <Image> of the
        config (one that takes no masks: none of its results is a mask of the project); the
        default for no to_name, or one naming no image (an image renamed since)."""
        if any(to_name == t.image_name for t in self.images):
            return str(to_name)
        return None if to_name in self.image_names else self.default_image

    def joined(self, result: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``result`` with each image's plain <Brush>/<Polygon> regions joined with their
        "labels" twins from that image's <Labels> (``results.joined_labels``), as propagation
        joins them on the image it tracks: a twin from a <Labels> of another image labels none,
        nor is a region of a control on several images read with another image's <Labels>."""
        for target in self.images:
            if not target.separate_controls:
                continue
            on = [r for r in result if self.image_of(r.get("to_name")) == target.image_name]
            rows = [name for name, _ in target.label_rows]
            result = _spliced(result, on, joined_labels(on, target.separate_controls, rows))
        return result

    def mask_labels(self, control: str, to_name: Any = None) -> tuple[str, ...]:
        """The mask labels a region of mask control ``control`` on image ``to_name`` may have:
        its image's (``MaskTarget.all_labels``), read for a region saved without one, as
        propagation reads it; those of the control's first image where it is on none other;
        every category for a control the config lacks."""
        image = self.image_of(to_name)
        mine = [t for t in self.images
                if control == t.mask_control or any(c.name == control for c in t.siblings)]
        target = next((t for t in mine if t.image_name == image), mine[0] if mine else None)
        return target.all_labels if target is not None else tuple(c.name for c in self.categories)


def _spliced(result: list[dict[str, Any]], part: list[dict[str, Any]],
             joined: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``result`` with ``part`` (some of its results, in order) replaced by ``joined``, what
    ``joined_labels`` made of it: each result of ``part`` stays or is joined in its place, a
    "labels" twin it used goes."""
    out = {id(r) for r in joined}
    used = {id(r) for r in part if id(r) not in out and r.get("type") == "labels"}
    made = dict(zip((id(r) for r in part if id(r) not in used), joined))
    return [made.get(id(r), r) for r in result if id(r) not in used]


def task_preference(ref: TaskRef) -> tuple[bool, bool, int]:
    """Sort key of the tasks of one frame, the one to export first: a task with a human
    annotation, then one with predictions, then the lowest id (counters the listing
    lacks count as none). A duplicated task (a clip imported twice) must not hide the
    copy that was labelled."""
    return not ref.annotations, not ref.predictions, ref.task_id


def frame_time(value: Any) -> float | None:
    """A timestamp in seconds (None when absent); ValueError when it is not a finite number."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    time = float(value)
    if not math.isfinite(time):  # JSON cannot hold it
        raise ValueError("not a finite number")
    return time


def task_ref(task: dict[str, Any], problems: Problems) -> tuple[str, str, TaskRef] | None:
    """``(clip, video, TaskRef)`` of a listed frame task; None, reported, when its data
    cannot place it in a clip. A clip id may be any value but absent or empty (0 is one).
    Without one, the clip is the task's video as the export writes it (``video_ref``)."""
    task_id = int(task["id"])
    data = task.get("data") or {}
    video = video_ref(text(data.get("video")))
    # Not the video as it is: a presigned URL's signature would name the clip's folder in
    # the shared export, and two signatures of one object would split it into two clips.
    clip = data["clip"] if data.get("clip") not in (None, "") else video or None
    frame = frame_index(data.get("frame"))
    if clip is None or frame is None:
        problems.add(
            "bad_task", "task data lacks 'clip' (or 'video') or an integer 'frame' from 0 "
            f"(frame {data.get('frame')!r})", task_id=task_id,
        )
        return None
    if frame > MAX_FRAME:
        # No video samvid imports has it, nor does propagation take it; its file name (all
        # its digits) could pass the 255 bytes a file system allows and stop the export.
        digits = str(frame)
        shown = digits if len(digits) <= 20 else f"{digits[:20]}... ({len(digits)} digits)"
        problems.add("bad_task", f"frame {shown} is past {MAX_FRAME}, the last frame index samvid "
                     "reads: fix the task's 'frame'", clip=str(clip), task_id=task_id)
        return None
    try:
        time = frame_time(data.get("time"))
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer past a float
        problems.add("bad_time", f"time {data.get('time')!r} is not a number of seconds",
                     clip=str(clip), frame=frame, task_id=task_id)
        time = None
    ref = TaskRef(task_id, frame, time, text(data.get("image")),
                  task.get("total_annotations"), task.get("total_predictions"))
    return str(clip), video, ref


def text(value: Any) -> str:
    """A task data value as text; "" for null, which is no URL (str(None) would be one)."""
    return "" if value is None else str(value)


def frame_size(
    image: Image | None, regions: list[Region], clip_size: tuple[int, int] | None
) -> tuple[int, int] | None:
    """A frame's (height, width): its image's; without an image its own first region's
    (frames of one clip may differ in size), else the clip's first region's."""
    if image is not None:
        return image.height, image.width
    if regions:
        return regions[0].height, regions[0].width
    return clip_size


@dataclass
class FrameObject:
    object_id: int
    mask: np.ndarray
    score: float
    label: str
    attributes: dict[str, Any]
    # All labels of its regions on this frame (``in_config_order``), and its first region's
    # name in messages (``Region.shown_id``).
    labels: tuple[str, ...] = ()
    shown_id: str = ""


def merge_part(kept: FrameObject, part: Region, mask: np.ndarray, control: str,
               order: dict[str, int]) -> None:
    """Add ``part``, another region of ``kept`` on its frame, to it: masks and labels united."""
    kept.mask = kept.mask | mask
    labels = in_config_order((*kept.labels, *part.labels), order)
    if len(labels) > 1 and labels != kept.labels:
        # A copy: regions of one id share their attributes dict.
        kept.attributes = {**kept.attributes, control: list(labels)}
    kept.labels = labels


def frame_objects(
    regions: list[Region],
    identities: ClipRegions,
    size: tuple[int, int],
    problems: Problems,
    where: Where,
    max_pixels: int = MAX_PIXELS,
    order: dict[str, int] | None = None,
) -> list[FrameObject]:
    """The objects of one frame's regions, masks decoded (``decoded_objects``), each with its
    clip's class (``identities.label``); where that class is none of its labels here, it is
    reported (``label_changed``)."""
    objects = decoded_objects(regions, identities, size, problems, where, max_pixels, order)
    for o in objects:
        o.label = identities.label(o.object_id)
    report_label_changes(where["clip"], where["frame"], where["task_id"],
                         ((o.object_id, o.labels, o.label) for o in objects), problems)
    return objects


def decoded_objects(
    regions: list[Region],
    identities: ClipRegions,
    size: tuple[int, int],
    problems: Problems,
    where: Where,
    max_pixels: int = MAX_PIXELS,
    order: dict[str, int] | None = None,
) -> list[FrameObject]:
    """The objects of one frame's regions, masks decoded, each labelled as its first region
    (``FrameObject.label``: not yet its class in the clip).

    Regions sharing an object id and a label are one object drawn in parts (so are the
    polygon parts ``<id>~2``... of region ``<id>``, read as ``<id>`` by ``parse_regions``),
    as propagation tracks them (``propagation.seeds_from_result``): their masks are united,
    and their labels (in ``order``, the config's, as ``in_config_order`` reads them; without
    it in the order met), the first region's score and other attributes kept. Of regions
    sharing an id with another label the first is kept and the rest reported.
    """
    objects: dict[int, FrameObject] = {}
    labels: dict[int, str] = {}  # the label of each object's first region on this frame
    controls: dict[int, str] = {}  # the control that labels each object's first region
    for region in regions:
        object_id = identities.object_id(region)
        if (region.height, region.width) != size:
            problems.add(
                "size_mismatch",
                f"region {region.shown_id} is {region.width}x{region.height}, "
                f"the image is {size[1]}x{size[0]}",
                **where,
            )
            continue
        if object_id in objects and labels[object_id] != region.label:
            problems.add(
                "duplicate_object_id",
                f"region {region.shown_id} ({region.label}) and an earlier region "
                f"({labels[object_id]}) both claim object id {object_id}",
                **where,
            )
            continue
        try:
            mask = decode_mask(region.result, max_pixels)
        except (ValueError, KeyError, TypeError) as exc:
            # An RLE of another length than the declared size is a mask of another image;
            # anything else is malformed.
            kind = "size_mismatch" if isinstance(exc, BrushSizeMismatch) else "bad_region"
            problems.add(kind, f"region {region.shown_id}: {exc}", **where)
            continue
        if object_id in objects:
            merge_part(objects[object_id], region, mask, controls[object_id], order or {})
            continue
        labels[object_id] = region.label
        controls[object_id] = region.control
        objects[object_id] = FrameObject(object_id, mask, region.score, region.label,
                                         region.attributes, region.labels or (region.label,),
                                         region.shown_id)
    return list(objects.values())


class ProjectReader:
    def __init__(
        self,
        studio: Studio,
        project: str | int,
        *,
        fetcher: ImageFetcher | None = None,
        include_predictions: bool = False,
        fill: bool = False,
        problems: Problems | None = None,
        workers: int = 4,
    ) -> None:
        self.studio = studio
        self.project = studio.project(project)
        self.schema = ProjectSchema.from_config(self.project.label_config)
        self.fetcher = fetcher
        self.include_predictions = include_predictions
        self.fill = fill or include_predictions
        self.problems = problems if problems is not None else Problems()
        self.workers = max(1, workers)
        # Frames left out that have predictions the export does not take: any (without fill),
        # or only other models' (with fill alone). An export of a project that is only
        # prelabelled writes nothing, and the command says to pass --fill (or
        # --include-predictions).
        self.prediction_only = 0
        self._clips: list[ClipInfo] | None = None

    @property
    def categories(self) -> list[Category]:
        """The export's classes: the config's labels; with dynamic labels, also every task's
        (``ProjectSchema.with_tasks``), so the tasks are listed first (once: ``clips``)."""
        if self.schema.labels_keys:
            self.clips()
        return self.schema.categories

    def clips(self) -> list[ClipInfo]:
        """Every clip with its frame tasks in frame order (no results fetched); listed once."""
        if self._clips is None:
            self._clips = self._listed()
        return self._clips

    def _listed(self) -> list[ClipInfo]:
        clips: dict[str, ClipInfo] = {}
        for task in self.studio.task_rows(self.project.id):
            placed = task_ref(task, self.problems)
            if placed is not None:
                clip, video, ref = placed
                if self.schema.labels_keys:
                    ref.labels, ref.labels_problem = self.schema.task_lists(task.get("data"))
                clips.setdefault(clip, ClipInfo(clip, video)).tasks.append(ref)
        if self.schema.labels_keys:  # the classes of every listed task, in task id order
            refs = sorted((r for c in clips.values() for r in c.tasks), key=lambda r: r.task_id)
            self.schema = self.schema.with_tasks(r.labels for r in refs)
        for info in clips.values():
            info.tasks.sort(key=lambda t: (t.frame, task_preference(t)))
            kept: dict[int, TaskRef] = {}
            for ref in info.tasks:
                first = kept.setdefault(ref.frame, ref)
                if first is not ref:
                    self.problems.add(
                        "bad_task", f"a second task for frame {ref.frame} (task {first.task_id} is kept)",
                        clip=info.clip, frame=ref.frame, task_id=ref.task_id,
                    )
            info.tasks = list(kept.values())
        return sorted(clips.values(), key=lambda c: c.clip)

    def _choose(self, ref: TaskRef) -> tuple[list[dict], str, float | None] | str | None:
        """The result list a task contributes, its source and prediction score; None for
        none, ``OTHER_MODELS`` for none where it has only other models' predictions."""
        task_id = ref.task_id
        listed = [] if ref.annotations == 0 else self.studio.list_annotations(task_id)
        annotations = [a for a in listed if not a.was_cancelled]
        if annotations:
            latest = max(annotations, key=lambda a: (str(a.updated_at or a.created_at), a.id or 0))
            return list(latest.result or []), ANNOTATION, None
        if not self.fill or ref.predictions == 0:
            return None
        predictions = [
            p for p in self.studio.list_predictions(task_id)
            if self.include_predictions
            or str(p.model_version or "").startswith(SAMVID_MODEL_PREFIX)
        ]
        if not predictions:
            return OTHER_MODELS if not self.include_predictions else None
        # The latest written: samvid writes a frame's prediction over in place, so the
        # highest id is no longer the newest.
        latest = max(predictions, key=lambda p: (str(_written(p)), p.id or 0))
        return list(latest.result or []), PREDICTION, latest.score

    def frames(self, info: ClipInfo) -> Iterator[ExportFrame]:
        """The clip's exported frames in frame order, decoded one at a time."""
        chosen: list[tuple[TaskRef, list[Region], str]] = []
        # Label Studio answers in ~70 ms per task: ask for several tasks at once.
        with ThreadPoolExecutor(self.workers) as pool:
            picks = list(pool.map(self._choose, info.tasks))
        for ref, picked in zip(info.tasks, picks):
            if picked is None or isinstance(picked, str):
                self.prediction_only += bool((not self.fill and ref.predictions) or picked == OTHER_MODELS)
                continue
            result, source, score = picked
            if ref.labels_problem:  # its regions are read with the config's <Label>s alone
                self.problems.add("bad_task", ref.labels_problem,
                                  clip=info.clip, frame=ref.frame, task_id=ref.task_id)
            regions = parse_regions(
                result, self.schema.for_task(ref.labels), self.problems, score=score,
                clip=info.clip, frame=ref.frame, task_id=ref.task_id,
            )
            chosen.append((ref, regions, source))
        identities = ClipRegions([regions for _, regions, _ in chosen],
                                 [source == ANNOTATION for _, _, source in chosen])
        classes = self._classes(info, chosen, identities)
        images = self._images([ref for ref, _, _ in chosen])
        try:
            for (ref, regions, source), image in zip(chosen, images):
                frame = self._decode(info, ref, regions, source, identities, image, classes)
                if frame is not None:
                    yield frame
        finally:
            # Its thread pool is shut down here, in this thread: left to the garbage collector,
            # that once ran inside a thread being started, which then waited on itself (a hang).
            images.close()

    def _classes(self, info: ClipInfo, chosen: list[tuple[TaskRef, list[Region], str]],
                 identities: ClipRegions) -> dict[int, str]:
        """``{object id: class}`` of the clip's objects, as ``identities.label`` rules (its
        label on its latest human-annotated frame, else on its latest frame), over the regions
        exported only: a region skipped, or on a frame left out (its image gone, its mask
        unreadable or of another size), says nothing of the object's class.

        Which regions are exported is known once images are fetched and masks decoded, frame
        by frame, long after the first frames are written. So an object with one label on
        every frame takes it; only one whose labels differ has its deciding frames checked
        (fetched and decoded ahead, then again as they are exported), latest first, until
        one exports it: most often a single frame.
        """
        labels: dict[int, set[str]] = {}
        for _, regions, _ in chosen:
            for r in regions:
                labels.setdefault(identities.object_id(r), set()).add(r.label)
        classes = {o: identities.label(o) for o in labels}
        deciding = sorted(range(len(chosen)), key=lambda p: (chosen[p][2] == ANNOTATION, p), reverse=True)
        exported: dict[int, dict[int, str]] = {}  # position -> {object id: its label there}
        # Fetched one by one: past this many images that cannot be had (a media host down,
        # each fetch its timeout), the rest keep the class read, else a long clip spent hours
        # here before its first frame.
        failures = 0
        for object_id in sorted(o for o, names in labels.items() if len(names) > 1):
            for p in deciding:
                ref, regions, _ = chosen[p]
                if not any(identities.object_id(r) == object_id for r in regions):
                    continue
                if p not in exported:
                    if failures >= self.workers:
                        break
                    found = self._exported_labels(info, ref, regions, identities)
                    failures += found is None
                    exported[p] = found or {}
                if object_id in exported[p]:
                    classes[object_id] = exported[p][object_id]
                    break
        return classes

    def _exported_labels(self, info: ClipInfo, ref: TaskRef, regions: list[Region],
                         identities: ClipRegions) -> dict[int, str] | None:
        """``{object id: its label}`` of the objects a frame exports, those with a pixel (None
        where its image cannot be had); its problems are reported when it is exported, not here."""
        image = self._fetch(ref)
        if isinstance(image, ImageUnavailable):
            return None
        where: Where = {"clip": info.clip, "frame": ref.frame, "task_id": ref.task_id}
        read = self._objects(ref, regions, identities, image, Problems(quiet=True), where)
        # An object whose mask here covers no pixel (a brush left empty, a polygon inside one
        # pixel) is written by no format: it says nothing of the class.
        return {o.object_id: o.label for o in read[1] if o.mask.any()} if read is not None else {}

    def _images(self, refs: list[TaskRef]) -> Generator[Image | ImageUnavailable | None, None, None]:
        """The images of ``refs`` in order, fetched a few frames ahead in threads.

        The look-ahead is bounded, so at most ``2 * workers`` images wait in memory.
        """
        if self.fetcher is None:
            yield from (None for _ in refs)
            return
        with ThreadPoolExecutor(self.workers) as pool:
            todo = iter(refs)
            pending = deque(pool.submit(self._fetch, r) for r in islice(todo, 2 * self.workers))
            while pending:
                done = pending.popleft()
                upcoming = next(todo, None)
                if upcoming is not None:
                    pending.append(pool.submit(self._fetch, upcoming))
                yield done.result()

    def _fetch(self, ref: TaskRef) -> Image | ImageUnavailable | None:
        """The image of ``ref``; why it cannot be had; None where images are not copied."""
        if self.fetcher is None:
            return None
        try:
            return self.fetcher.fetch(ref.image, ref.task_id)
        except ImageUnavailable as exc:
            return exc

    def _decode(
        self,
        info: ClipInfo,
        ref: TaskRef,
        regions: list[Region],
        source: str,
        identities: ClipRegions,
        image: Image | ImageUnavailable | None,
        classes: dict[int, str] | None = None,
    ) -> ExportFrame | None:
        """The frame as exported, its objects of their ``classes`` (``_classes``; without
        them, ``identities.label``); None, reported, for a frame left out."""
        where: Where = {"clip": info.clip, "frame": ref.frame, "task_id": ref.task_id}
        read = self._objects(ref, regions, identities, image, self.problems, where)
        if read is None or isinstance(image, ImageUnavailable):  # left out (and reported) then
            return None
        (height, width), objects = read
        for o in objects:
            # Its class in the clip; a writer reports the frames where it is none of its
            # labels (``frames.keep_first_labels``), and the objects it writes with several
            # (``frames.report_written_labels``), over what it writes.
            o.label = classes[o.object_id] if classes is not None else identities.label(o.object_id)
        masks = frame_masks(ref.frame, height, width, [(o.object_id, o.mask, o.score) for o in objects])
        by_id = {o.object_id: o for o in objects}
        return ExportFrame(
            clip=info.clip,
            frame=ref.frame,
            masks=masks,
            labels=tuple(by_id[o].label for o in masks.object_ids),
            frame_labels=tuple(by_id[o].labels for o in masks.object_ids),
            region_names=tuple(by_id[o].shown_id for o in masks.object_ids),
            attributes=tuple(by_id[o].attributes for o in masks.object_ids),
            video=info.video,
            time=ref.time,
            source=source,
            task_id=ref.task_id,
            image=ref.image,
            image_bytes=image.data if image else None,
            # Without the bytes, the task's own file names the frame (a --png project's .png).
            image_ext=image.ext if image else image_extension(ref.image),
        )

    def _objects(
        self,
        ref: TaskRef,
        regions: list[Region],
        identities: ClipRegions,
        image: Image | ImageUnavailable | None,
        problems: Problems,
        where: Where,
    ) -> tuple[tuple[int, int], list[FrameObject]] | None:
        """The frame's (height, width) and its objects as ``decoded_objects`` reads them
        (each labelled as its first region here); None, reported, for a frame left out."""
        if isinstance(image, ImageUnavailable):
            problems.add("missing_image", str(image), **where)
            return None
        if image is None and not ref.image:
            problems.add("missing_image", "task has no image URL", **where)
            return None
        size = frame_size(image, regions, identities.size)
        if size is None:
            problems.add("missing_image", "frame size unknown: no image copied and no regions", **where)
            return None
        if image is None and (min(size) < 1 or size[0] * size[1] > MAX_PIXELS):
            # Only the regions' claim sizes the frame, and no region of that size can be read:
            # writers would allocate it (DAVIS's PNG: 9 GiB for 100000 x 100000) or crash.
            problems.add(
                "missing_image", f"frame size unknown: no image copied, and its regions claim "
                f"{size[1]}x{size[0]}, not an image size samvid reads (1 to {MAX_PIXELS} "
                "pixels, SAMVID_MAX_IMAGE_PIXELS)", **where,
            )
            return None
        # A region as large as its frame's image is read whatever its size (the image was);
        # without an image the size is the regions' own claim, bounded as images are.
        bound = MAX_PIXELS if image is None else max(MAX_PIXELS, image.height * image.width)
        return size, decoded_objects(regions, identities, size, problems, where, bound,
                                     order=self.schema.for_task(ref.labels).label_order)


def _written(prediction: Any) -> Any:
    """When a prediction was last written ("" where Label Studio gives no time)."""
    return getattr(prediction, "updated_at", None) or getattr(prediction, "created_at", None) or ""
