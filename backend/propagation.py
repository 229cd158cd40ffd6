"""Propagation inside Label Studio: a human frame's masks flow into the frame tasks around it.

The job reads the clip's frame tasks, takes the latest human annotation on the
start frame, tracks the stretches it bounds (``tracker.bridge.plan``: up to the next
human frame; with ``bridge``, also back to the previous one, and a stretch between two
human frames tracked from both) and writes each frame's masks back as a *prediction* (never an
annotation). Human work is a boundary: only samvid's own earlier predictions are
replaced.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from samvid.errors import BadRequest, ForbiddenSource, ImageError, ImageUnreachable, NotFound, StudioError
from samvid.images import ImageSource
from samvid.jobs import JobContext
from samvid.metrics import FRAMES_PROPAGATED
from samvid.settings import DIRECTIONS, Settings
from samvid.studio.client import Studio, Task, backoff, clip_query, not_found
from samvid.studio.frame_locks import FrameLocks
from samvid.studio.protocol import MaskTarget, frame_index, is_labels_result, parse_config
from samvid.studio.results import (
    MAX_PIXELS,
    decode_mask,
    given_object_id,
    has_region_id,
    in_config_order,
    joined_labels,
    mask_regions,
    object_number,
    object_numbers,
    object_region_id,
    read_labels,
    region_ids,
    unnamed_region_id,
)
from samvid.tracker.bridge import Stretch, plan, track_stretch
from samvid.tracker.engine import FramesSource
from samvid.tracker.engines import engine_choices, is_engine, make_engine, resolved
from samvid.tracker.masks import FrameMasks

log = logging.getLogger(__name__)

MODEL_PREFIX = "samvid-track"
MAX_OBJECTS = 100  # per stretch of a job: memory and time grow with every object tracked
MAX_FRAME = 10_000_000  # beyond any video samvid imports (4 hours at 240 frames/s is 3.5 million)
REQUEST_KEYS = ("project", "clip", "frame", "direction", "frames", "objects", "engine", "all_frames",
                "bridge", "before")


@dataclass(frozen=True)
class PropagationRequest:
    project: int
    clip: str
    frame: int  # the source frame index (task data "frame")
    direction: str = "forward"
    frames: int = 0  # at most this many frames each way; 0 = up to the next human frame
    # The objects to propagate (``object_key``): an int is an object-id number, a string a
    # region id; empty = all.
    objects: tuple[int | str, ...] = ()
    engine: str = "flow"
    all_frames: bool = False  # track through every source-video frame between frame tasks
    bridge: bool = False  # a stretch between two human frames is tracked from both
    before: bool = True  # with bridge: recompute the stretch back to the previous human frame too

    @classmethod
    def from_payload(cls, payload: Any) -> PropagationRequest:
        if not isinstance(payload, dict):
            raise BadRequest("the propagation request must be a JSON object")
        if not all(key in payload for key in ("project", "clip", "frame")):
            raise BadRequest("give project (id), clip (string) and frame (index)")
        unknown = sorted(str(key) for key in payload if key not in REQUEST_KEYS)
        if unknown:
            # A misspelt option ("limit" for "frames") would run another job than the one asked for.
            raise BadRequest(f"unknown field(s) {', '.join(map(repr, unknown))}: a propagation request "
                             f"takes {', '.join(REQUEST_KEYS)}")
        project = whole_number(payload["project"], "project", "a project id", 2**63 - 1)
        clip = payload["clip"]
        if not isinstance(clip, str) or not clip:
            raise BadRequest("clip must be a non-empty string")
        frame = whole_number(payload["frame"], "frame", "a frame index", MAX_FRAME)
        direction = payload.get("direction", "forward")
        if direction not in DIRECTIONS:
            raise BadRequest(f"direction must be one of {', '.join(DIRECTIONS)}")
        frames = payload.get("frames")
        frames = 0 if frames is None else whole_number(frames, "frames", "a number of frames", 100_000)
        objects = payload.get("objects") or ()
        if not isinstance(objects, (list, tuple)) or len(objects) > 1000:
            raise BadRequest("objects must be a list of object ids")
        objects = tuple(object_key(o) for o in objects)
        flags = {name: payload.get(name, default) for name, default in
                 (("all_frames", False), ("bridge", False), ("before", True))}
        for name, value in flags.items():
            if not isinstance(value, bool):
                raise BadRequest(f"{name} must be true or false")
        return cls(project, clip, frame, direction, frames, objects,
                   engine_name(payload.get("engine")), flags["all_frames"], flags["bridge"], flags["before"])

    def to_payload(self) -> dict[str, Any]:
        return {"project": self.project, "clip": self.clip, "frame": self.frame,
                "direction": self.direction, "frames": self.frames,
                "objects": list(self.objects), "engine": self.engine, "all_frames": self.all_frames,
                "bridge": self.bridge, "before": self.before}


def clip_key(project: int, clip: str) -> str:
    """The job key (``samvid.jobs``) of the jobs that propagate in a clip, whatever started
    them (the webhook, ``/propagate``, a pre-labelling of the clip): one runs at a time, so
    a correction's job runs after, never beside, one from the annotation it corrects."""
    return f"{project}:{clip}"


def whole_number(value: Any, name: str, what: str, top: int) -> int:
    """``value`` of a request as a whole number from 0 to ``top``: an integer or a float
    without a fraction (JSON has one kind of number). ``True`` or 1.9 would otherwise read
    as 1: another project, another frame."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise BadRequest(f"{name} must be {what}, a whole number from 0 to {top}, not {value!r}")
    return value


def object_key(value: Any) -> int | str:
    """One of a request's ``objects``: a JSON number is an object-id number (an int; 1.0
    is the object 1, as JSON may send it), a string a region id. Kept apart, they stay
    apart in the job's payload: object 3 and a region whose id is "3" are two objects.
    A string of digits names the object of that number where the frame has no region of
    that id (``_wanted``): the payloads of jobs queued before numbers were kept apart.
    Anything else names no object (object-id numbers are whole numbers from 1): the job
    would fail only once it ran."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str) and value.strip():
        return value
    raise BadRequest("objects must be a list of object ids (region ids, or object-id numbers: whole numbers "
                     f"from 1), not {value!r}")


def engine_name(value: Any) -> str:
    """A request's tracker engine (``flow`` when none), refused at once when unknown: a
    job that accepted it would fail only once it ran."""
    name = value or "flow"
    if not isinstance(name, str) or not is_engine(name):
        raise BadRequest(f"engine {name!r} is unknown: choose one of {engine_choices()}")
    return name


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
    ``_object_number``), else of its region id, as the export reads it (``export.identity``).
    The polygons samvid wrote for the parts of one object (``<id>``, ``<id>~2``, ...:
    ``results.part_region_id``) are that object, ``<id>``, again: an accepted propagated
    frame keeps its objects."""
    # A region drawn on another image of the config (a mask control on two) is none of its
    # objects; a plain <Brush>/<Polygon> region and its "labels" twins are one.
    result = _joined([item for item in result if target.draws_on(item)], target)
    extras: dict[str, list[dict[str, Any]]] = {}
    for item in result:
        # Another *labels result of the region (the shared smart row's "labels" twin)
        # repeats its geometry, which would go stale on the propagated frames.
        if is_labels_result(item) or not has_region_id(item):
            continue
        extras.setdefault(str(item["id"]), []).append(item)
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
        region_id = object_region_id(str(item["id"])) if has_region_id(item) else unnamed_region_id(item, taken)
        region_extras = extras.get(region_id, [])
        number, in_meta = _object_number(item, region_id, numbers)
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


def _object_number(item: dict[str, Any], region_id: str, numbers: dict[str, Any]) -> tuple[int | None, bool]:
    """A mask region's object-id number (``results.given_object_id``, as the export reads it)
    and whether it is its meta.object_id. Only a whole number from 1 is one: else the region
    is its region id's object (which the export reports as a bad region)."""
    given, in_meta = given_object_id(item, region_id, numbers)
    number = None if given is None else object_number(given)
    return number, in_meta and number is not None


def _joined(result: list[dict[str, Any]], target: MaskTarget) -> list[dict[str, Any]]:
    """``result`` with the regions of the target's plain <Brush>/<Polygon> controls joined
    with their "labels" twins from its image's <Labels> (``results.joined_labels``)."""
    return joined_labels(result, target.separate_controls, [name for name, _ in target.label_rows])


def may_be_one(a: Collection[str], b: Collection[str]) -> bool:
    """Whether regions labelled ``a`` and ``b`` may be one object: one's labels hold all of
    the other's (the same labels in any order, or a label such as "occluded" added or taken
    off). An empty set agrees with any: a region samvid cannot read that has no label may be
    any object (``_unreadable``). Two that each have a label the other lacks (a car and a
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


class TaskFrames:
    """The frames of a walk over frame tasks, fetched lazily (engines stream them).

    A frame whose host is unreachable (Label Studio restarting) is fetched again with the
    retry policy of ``studio``; only then does the engine see it as unreadable."""

    def __init__(self, tasks: list[Task], images: ImageSource, image_key: str, studio: Studio) -> None:
        self.tasks, self.images, self.image_key = tasks, images, image_key
        self.studio = studio

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, i: int) -> np.ndarray:
        task = self.tasks[i]
        if self.image_key not in task.data:
            # A KeyError here read as a bug of samvid's: the job failed with "'image'".
            raise ImageError(f"task {task.id} has no {self.image_key!r} in its data, which the labeling "
                             f"config's image reads (${self.image_key}): import the clip with samvid import, "
                             "or give the config the key its tasks have")
        data = self.studio.retrying(
            f"cannot read the frame of task {task.id}", lambda exc: isinstance(exc, ImageUnreachable),
            lambda: self.images.fetch(task.data[self.image_key], task.id),
        )
        return self.images.decode(data)


class VideoSpan:
    """Frames ``indices`` of a source video, in that order, decoded as the engine walks."""

    def __init__(self, path: Path, indices: list[int]) -> None:
        from samvid.tracker.frames import open_frames

        self.reader = open_frames(path)
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.reader[self.indices[i]]


class Propagator:
    """Runs one propagation request against a Label Studio project.

    Every write of a frame's prediction holds that frame's lock (``locks``), shared with
    whatever else writes it (the job, ``/predict`` on opening a frame): one samvid
    prediction per frame whatever the timing."""

    def __init__(self, studio: Studio, images: ImageSource, locks: FrameLocks | None = None) -> None:
        self.studio, self.images = studio, images
        self.locks = locks or FrameLocks(studio.url)

    def annotations(self, task_id: int) -> list[dict[str, Any]]:
        """The task's annotations, read now (cancelled ones included); NotFound once the
        task is deleted. Not through ``GET /api/tasks/<id>``: for a task without a
        prediction that read makes Label Studio call ``/predict`` (and so write the frame
        on open) from inside a write."""
        try:
            items = self.studio.request("GET", f"/api/tasks/{task_id}/annotations", "read annotations")
        except StudioError as exc:
            if not_found(exc):
                raise NotFound(f"task {task_id} was deleted") from exc
            raise
        return list(items or [])

    def live_annotations(self, task_id: int) -> list[dict[str, Any]]:
        """The task's annotations, read now, less the cancelled (skipped) ones."""
        return [a for a in self.annotations(task_id) if isinstance(a, dict) and not a.get("was_cancelled")]

    def annotated_now(self, task_id: int) -> bool:
        """Whether the task has a live human annotation, read now."""
        return bool(self.live_annotations(task_id))

    def clip_tasks(self, project: int, clip: str, waited_for: bool = False) -> list[dict[str, Any]]:
        """The clip's frame tasks with their annotation counts, ordered by frame index.
        ``waited_for``: Label Studio waits for the answer (a task being opened), so a clip
        filter it refuses fails at once instead of reading the project whole."""
        # A task of the clip without a frame index (one imported by hand, ``frame_index``) is
        # no frame of it: sorting on it was a TypeError, a 500 on every open of the clip's frames.
        tasks = [t for t in self.studio.task_rows(project, clip_query(clip), whole_if_refused=not waited_for)
                 if (t.get("data") or {}).get("clip") == clip and frame_index(t["data"].get("frame")) is not None]
        return sorted(tasks, key=lambda t: frame_index(t["data"]["frame"]) or 0)

    def latest_annotation(self, task_id: int) -> list[dict[str, Any]]:
        """The regions of the task's latest live annotation, read now."""
        live = self.live_annotations(task_id)
        if not live:
            raise BadRequest(f"task {task_id} has no annotation to propagate from")
        return annotation_result(max(live, key=lambda a: a.get("updated_at") or ""))

    def _changed(self, sources: dict[int, Read]) -> _Superseded | None:
        """The first of ``sources`` (task id -> its latest annotation as a job read it) whose
        latest annotation holds other regions now (of those the job reads: ``Read``), or is
        gone; None if none. One read per source: the annotation list a job reads anyway,
        compared by content (an annotation's id and time say no more, and a re-save of the
        same regions changes nothing a job would write)."""
        for task_id, read in sources.items():
            try:
                if read.holds(self.latest_annotation(task_id)):
                    continue
                why = "changed"
            except BadRequest:
                why = "deleted"  # its last live annotation: the regions read are no one's now
            except NotFound:
                why = "task deleted"
            return _Superseded(task_id, why)
        return None

    def run(self, req: PropagationRequest, ctx: JobContext) -> dict[str, Any]:
        project = self.studio.request("GET", f"/api/projects/{req.project}", "read the project")
        config = parse_config(project["label_config"])
        tasks = self.clip_tasks(req.project, req.clip)
        at_frame = [i for i, t in enumerate(tasks) if int(t["data"]["frame"]) == req.frame]
        if not at_frame:
            raise NotFound(f"clip {req.clip!r} of project {req.project} has no frame {req.frame}")
        # Two tasks may hold one frame (a duplicated or re-imported task): the job starts
        # from the one a human annotated.
        index = next((i for i in at_frame if human_annotated(tasks[i])), at_frame[0])
        # Its regions are read, and the frames it fills written, with the labels its task gives.
        target = for_frame(config, tasks[index])
        annotation = self.latest_annotation(tasks[index]["id"])
        drawn = seeds_from_result(annotation, target, self.images.max_pixels)
        wanted = _wanted(req.objects, drawn)
        seeds = _chosen(drawn, wanted)
        if not seeds and drawn:
            raise BadRequest(f"frame {req.frame} has none of the objects {', '.join(map(repr, req.objects))}: "
                             f"its objects are {', '.join(s.name for s in drawn[:20])}"
                             + (", ..." if len(drawn) > 20 else ""))
        if not seeds and req.objects:
            raise BadRequest(f"frame {req.frame} has no mask to propagate")
        if not seeds and _unreadable(annotation, target, self.images.max_pixels):
            # Not "every object left": a smart click or box whose mask never came back, a
            # damaged brush. Taken as no object, samvid's masks after it were removed.
            raise BadRequest(f"frame {req.frame} has no mask to propagate: its regions are no masks "
                             "samvid can read; draw the mask again, or delete them where the object has left")
        # No object at all (the annotator deleted the masks: every object left the view) is
        # an answer too: samvid's earlier masks on the frames it bounds are stale, and go.
        if len(seeds) > MAX_OBJECTS:
            raise BadRequest(f"frame {req.frame} has {len(seeds)} objects; a job takes at most "
                             f"{MAX_OBJECTS}: propagate them in groups with 'objects'")
        engine = resolved(req.engine)  # named in each prediction's model version
        given = [human_annotated(t) for t in tasks]
        given[index] = True
        # A frame with no object bridges too: a stretch to a human frame with objects is
        # tracked from that frame, the objects fading out towards this one (a given end where
        # each is absent); one with no object at either end is cleared.
        stretches = plan(given, index, forward=req.direction in ("forward", "both"),
                         backward=req.direction in ("backward", "both"), limit=req.frames,
                         bridge=req.bridge, before=req.before)
        # The objects of each human end; None for an open end: one whose annotation is gone,
        # or (``unread``) holds only regions samvid cannot read. [] for one with no object
        # (every object left the view: they are absent).
        ends: dict[int, list[ObjectSeed] | None] = {index: seeds}
        unread: set[int] = set()
        # The labels of each region samvid cannot read, per human end (none: one without a label).
        # Not the submitted frame's: it is the annotator's latest word (an object deleted there
        # beside a click whose mask never came back has left, as a frame of such clicks alone
        # is refused, not read as unknown).
        maybe: dict[int, list[frozenset[str]]] = {index: []}
        # Which part of each human end is compared before each write (``Read``).
        sourced: dict[int, Read] = {index: Read.of(annotation, target, wanted)}
        for st in stretches:  # the other given frame of each bridged stretch
            other = st.lo if st.hi == index else st.hi
            if st.from_lo and st.from_hi and other not in ends:
                found = self._read_end(tasks[other]["id"])
                there = for_frame(config, tasks[other])
                ends[other], annotated, maybe[other], matched = self._other_end(found, there, wanted, drawn)
                if annotated and ends[other] is None:
                    unread.add(other)
                if found is not None:
                    apart = _renames_apart(wanted, drawn, matched)
                    sourced[other] = Read.of(found, there, wanted if apart else None)
                    if not apart:
                        sourced[index] = Read.of(annotation)
        # One object id per identity, the same in every stretch.
        keys: dict[Identity, ObjectSeed] = {}
        for end in (ends[index], *(seeds for at, seeds in ends.items() if at != index)):
            for s in end or ():
                keys.setdefault(s.identity, s)
        crowded: list[Stretch] = []  # from a frame with no object, over the limit: as unbridged
        for st in stretches:
            # Each stretch is tracked by an engine of its own, from the objects of both its
            # human ends: counted on this frame only, one stretch tracked up to twice the limit.
            tracked = {s.identity for at, on in ((st.lo, st.from_lo), (st.hi, st.from_hi)) if on
                       for s in ends[at] or ()}
            if len(tracked) > MAX_OBJECTS and not seeds:
                # 'objects' cannot split a frame with none: done as without bridging, the
                # stretch cleared if the direction takes it, else left as it is.
                crowded.append(st)
            elif len(tracked) > MAX_OBJECTS:
                ends_at = " and ".join(str(frame_index(tasks[at]["data"].get("frame")))
                                       for at, on in ((st.lo, st.from_lo), (st.hi, st.from_hi)) if on)
                raise BadRequest(f"human frames {ends_at} hold {len(tracked)} objects between them; a job "
                                 f"tracks at most {MAX_OBJECTS} at once: propagate them in groups with 'objects'")
        stretches = [st for st in stretches if st not in crowded
                     or req.direction in (("forward", "both") if st.lo == index else ("backward", "both"))]
        number = {key: k for k, key in enumerate(keys, start=1)}
        # A stretch with no object at any of its seeded ends has nothing to track: its
        # frames are walked only to remove samvid's masks, as for a frame every object left.
        bare = [st for st in stretches if st in crowded
                or not any(ends[at] for at, on in ((st.lo, st.from_lo), (st.hi, st.from_hi)) if on)]
        total = sum(len(st.written) if st in bare else _steps(st, tasks, req.all_frames, _walks(st, ends))
                    for st in stretches)
        progress = _Progress(ctx, total)
        written = empty = 0  # frames given masks; frames every object had left (no prediction)
        skipped = 0  # frame tasks the tracker passed over (an image it could not read)
        cleared = retracked = 0  # frames of the bare stretches; frames of the others
        for st in stretches:
            emptied, done = empty, written + empty
            first = {number[s.identity]: s.mask for s in ends[st.lo] or ()} if st.from_lo else {}
            last = {number[s.identity]: s.mask for s in ends[st.hi] or ()} if st.from_hi else {}
            # A human end with no object is no open end: the objects are absent there.
            given_ends = (st.from_lo and ends[st.lo] is not None, st.from_hi and ends[st.hi] is not None)
            # Unless a region there that samvid cannot read may be the object: then nothing
            # is known of it there (as where it is absent from the request's objects).
            unsure = (_maybe_there(ends, maybe.get(st.lo, []), number),
                      _maybe_there(ends, maybe.get(st.hi, []), number))
            # Where both ends hold an object, the job's own frame names it (its labels and
            # attributes are the annotator's latest word); else this stretch's other end,
            # the one it is tracked from: not a human frame on the job frame's other side.
            objects = _named(ends, number, [index, st.lo, st.hi, *ends])
            # A human frame samvid cannot read is tracked to (an open end) but is no frame to
            # write, nor one a human annotated meanwhile, nor one passed over.
            held = {tasks[at]["id"] for at in (st.lo, st.hi) if at in unread}
            # The human ends whose annotations its masks come from: checked before each write.
            sources = {tasks[at]["id"]: sourced[at] for at in _sources(st, index) if at in sourced}
            if st in bare:
                tasks_at = {k - st.lo: tasks[k]["id"] for k in st.written}
                walked = _no_objects(st, away_from=index, on_step=progress.step, cancelled=ctx.cancelled)
            else:
                frames, tasks_at = self._span(tasks[st.lo : st.hi + 1], target, req.all_frames)
                walked = track_stretch(lambda: make_engine(engine), frames, first, last,
                                       on_step=progress.step, cancelled=ctx.cancelled, given_ends=given_ends,
                                       unsure=unsure)
            reached, cut = set(), False
            filled: set[int] = set()  # the frame tasks of the stretch written (or deleted)
            try:
                for fm in walked:
                    task_id = tasks_at.get(fm.frame)
                    if task_id is None or task_id in held:
                        continue  # a source frame between imported frames, or a human one: not written
                    reached.add(fm.frame)
                    try:
                        if self.annotated_now(task_id):
                            cut = True
                            break  # a human annotated it meanwhile: it is a boundary now
                        masked = self._write(task_id, fm, objects, target, engine, sources,
                                             keep_others=bool(req.objects))
                    except NotFound:
                        filled.add(task_id)  # the frame task was deleted meanwhile: nothing to write
                        continue
                    filled.add(task_id)
                    if masked:
                        written += 1
                    else:
                        empty += 1
            except _Superseded as exc:
                # Unwritten: the rest of this stretch, and the stretches after it.
                left = [k for k in st.written if tasks[k]["id"] not in filled]
                left += [k for later in stretches[stretches.index(st) + 1:] for k in later.written]
                return _superseded(ctx, req, tasks, exc, left, written, empty)
            if st in bare:
                cleared += empty - emptied
            else:
                retracked += written + empty - done
            if ctx.cancelled():
                return {"frames_written": written, "frames_empty": empty, "cancelled": True}
            if not cut and st not in bare:  # a bare stretch reads no image: none passed over
                seeded = ({0} if given_ends[0] else set()) | ({len(frames) - 1} if given_ends[1] else set())
                seeded |= {at for at, task_id in tasks_at.items() if task_id in held}
                skipped += len(set(tasks_at) - reached - seeded)
        progress.finish()
        if not seeds:
            # Said on the job: "done" with nothing written would read as a job that did nothing.
            what = _emptied(cleared, retracked)
            if crowded:
                what += "; " + _crowded(crowded, [st for st in crowded if st not in stretches], tasks, index,
                                        req.direction)
            ctx.note(f"frame {req.frame} has no objects (every one left the view): {what}")
            log.info("clip %r frame %d has no objects: %s", req.clip, req.frame, what)
        # Said, not only logged: "done" with a hole in the clip read as a clip filled.
        return {"frames_written": written, "frames_empty": empty, **({"frames_skipped": skipped} if skipped else {})}

    def _read_end(self, task_id: int) -> list[dict[str, Any]] | None:
        """The regions of the latest annotation of the human frame across a stretch; None if
        its annotation or its task is gone (deleted since the tasks were read)."""
        try:
            return self.latest_annotation(task_id)
        except (BadRequest, NotFound):
            return None

    def _other_end(self, annotation: list[dict[str, Any]] | None, target: MaskTarget,
                   wanted: frozenset[Identity] | None,
                   named: list[ObjectSeed]
                   ) -> tuple[list[ObjectSeed] | None, bool, list[frozenset[str]], list[ObjectSeed] | None]:
        """The objects of the human frame across a stretch (none: every object left the view),
        each that a redraw renamed keyed as in ``named`` (the job's frame's objects); whether
        that frame is annotated; the labels of each of its regions samvid cannot read; and
        all its objects so keyed, the request's or not (None where the first is).

        None if its annotation or its task is gone (deleted since the tasks were read), or it
        has no object but regions samvid cannot read (a smart click whose mask never came
        back): nothing says the objects left. The stretch is then tracked from this end
        only, up to that frame. A frame whose annotation is gone is written if it is still
        there and no human annotates it meanwhile; one with unreadable regions is not.
        ``annotation``: its regions as read (``_read_end``)."""
        if annotation is None:
            return None, False, [], None
        unread = _unreadable(annotation, target, self.images.max_pixels)
        # Matched before the request's objects are chosen: an object deleted and drawn again
        # there has a new region id, which the request does not name.
        found = match_redrawn(named, seeds_from_result(annotation, target, self.images.max_pixels), unread)
        if not found and unread:
            return None, True, unread, None
        # Objects there, none of them the request's: its objects are absent there, or
        # unknown where an unreadable region may be one (``unsure``), as when it names none.
        return _chosen(found, wanted), True, unread, found

    def _span(self, walk: list[dict[str, Any]], target: MaskTarget,
              all_frames: bool) -> tuple[FramesSource, dict[int, int]]:
        """The frames of a stretch of frame tasks (in frame order), and which position has
        which task.

        Normally the frame tasks' own images; with ``all_frames`` every frame of the
        source video between the first and last task (sparse imports, dense tracking).
        """
        if not all_frames:
            frames = TaskFrames([Task(t["id"], t["data"]) for t in walk], self.images, target.image_key,
                                self.studio)
            return frames, {i: t["id"] for i, t in enumerate(walk)}
        first, last = int(walk[0]["data"]["frame"]), int(walk[-1]["data"]["frame"])
        indices = list(range(first, last + 1))
        video = VideoSpan(self._video_path(walk[0]), indices)
        position = {index: i for i, index in enumerate(indices)}
        return video, {position[int(t["data"]["frame"])]: t["id"] for t in walk}

    def _video_path(self, task: dict[str, Any]) -> Path:
        """The task's source video, read only under the configured local roots."""
        raw = (task.get("data") or {}).get("video")
        if not isinstance(raw, str) or not raw:
            raise BadRequest("--all-frames needs the source video path in the task data ('video')")
        try:
            return self.images.readable(Path(raw), "video")
        except ForbiddenSource:
            raise ForbiddenSource(f"{raw} is outside the folders samvid may read: add its folder to "
                                  "SAMVID_LOCAL_ROOTS to propagate through all its frames") from None

    def _write(self, task_id: int, fm: FrameMasks, seeds: dict[int, ObjectSeed], target: MaskTarget,
               engine: str, sources: dict[int, Read], keep_others: bool = False) -> bool:
        """Replace samvid's earlier predictions on the task with this frame's masks; False
        if no object is left to mask (the earlier predictions are deleted, none written).
        _Superseded if a human frame they come from (``sources``: ``_changed``) was changed
        meanwhile; NotFound if the task was deleted meanwhile.

        With ``keep_others`` (a job for some of the objects) the earlier prediction's
        regions of the other objects stay: objects propagated in groups would otherwise
        each erase the group before."""
        result, score = frame_results(fm, seeds, target)
        with self.locks.hold(task_id):
            # Under the frame's lock: a job from the changed annotation writes this frame
            # under it too, after reading the change, so it is either seen here or writes after.
            changed = self._changed(sources)
            if changed is not None:
                raise changed
            if keep_others:
                kept = self._other_objects(task_id, seeds, target)
                if kept:
                    result, score = [*result, *kept], _frame_score([*result, *kept])
            self._replace(task_id, result, engine, score)
        FRAMES_PROPAGATED.inc()
        return bool(result)

    def _replace(self, task_id: int, result: list[dict[str, Any]], engine: str, score: float) -> None:
        """Replace samvid's earlier predictions on the task with ``result`` (under its lock);
        NotFound if the task was deleted meanwhile."""
        try:
            self.studio.replace_predictions(task_id, MODEL_PREFIX, result, f"{MODEL_PREFIX}:{engine}",
                                            score, write_empty=False)
        except StudioError as exc:
            if _status(exc) in (400, 404):
                # Label Studio refuses a prediction for a deleted task (400 "Invalid pk")
                # and its cascade-deleted predictions (404): NotFound if it is gone.
                self.annotations(task_id)
            raise

    def _other_objects(self, task_id: int, seeds: dict[int, ObjectSeed],
                       target: MaskTarget) -> list[dict[str, Any]]:
        """The results of samvid's latest prediction on the task that belong to objects
        other than ``seeds`` (matched by identity key or region id, parts included)."""
        own = self.studio.own_predictions(task_id, MODEL_PREFIX)
        if not own:
            return []
        earlier = list(max(own, key=lambda p: p.get("id") or 0).get("result") or [])
        keys = {s.identity for s in seeds.values()}
        region_ids = {s.region_id for s in seeds.values()}
        mine = {old.region_id for old in seeds_from_result(earlier, target, self.images.max_pixels)
                if old.identity in keys or old.region_id in region_ids}
        return [item for item in earlier if object_region_id(str(item.get("id") or "")) not in mine]

    def fill_on_open(self, project: int, task: dict[str, Any], target: MaskTarget, engine: str) -> bool:
        """Write the masks of a frame opened right after a human frame (``on_demand``),
        unless its job has written them meanwhile or a human annotated it; True if written.

        samvid writes them itself, under the frame's lock, rather than answering them for
        Label Studio to store: an answer is stored after ``/predict`` returns, too late to
        see the job's write, and the job cannot see it coming (two predictions). Label
        Studio reads the task again after ``/predict``, so the annotator sees them at once.
        """
        found = self.on_demand(project, task, target, engine)
        if not found or not found.result:
            return False
        task_id = int(task["id"])
        with self.locks.hold(task_id):
            try:
                if self.annotated_now(task_id):
                    return False
                if self.studio.own_predictions(task_id, MODEL_PREFIX):
                    return False  # the job got there first
                if self._changed({found.source: Read.of(found.read)}) is not None:
                    # Changed while the masks were computed: the job its change started writes
                    # this frame (or, every object gone, removed samvid's masks: none belong here).
                    return False
                self._replace(task_id, found.result, resolved(engine), found.score)
            except NotFound:
                # Deleted while it was opened: nothing to fill, as a job passes over such a frame.
                log.info("task %d was deleted while it was opened: no masks written on it", task_id)
                return False
        # A frame propagation wrote, as a job's are: counted by the server process that opened
        # it, whose own counter /metrics reads (never added to the workers' count in Redis too).
        FRAMES_PROPAGATED.inc()
        return True

    def on_demand(self, project: int, task: dict[str, Any], target: MaskTarget,
                  engine: str) -> OnOpen | None:
        """Masks for a frame task opened right after a human frame, before any job wrote them."""
        data = task.get("data") or {}
        if "clip" not in data or "frame" not in data or task.get("predictions"):
            return None
        tasks = self.clip_tasks(project, str(data["clip"]), waited_for=True)
        index = next((i for i, t in enumerate(tasks) if t["id"] == task.get("id")), None)
        if not index or human_annotated(tasks[index]) or not human_annotated(tasks[index - 1]):
            return None
        target = for_frame(target, tasks[index - 1])  # the human frame's labels
        read = self.latest_annotation(tasks[index - 1]["id"])
        seeds = seeds_from_result(read, target, self.images.max_pixels)
        if not seeds:
            return None
        self.locks.ensure_reachable()  # no compute for a write whose lock cannot be taken
        pair = [Task(t["id"], t["data"]) for t in tasks[index - 1 : index + 1]]
        tracker = make_engine(engine)
        state = tracker.init_state(TaskFrames(pair, self.images, target.image_key, self.studio))
        for obj, seed in enumerate(seeds, start=1):
            tracker.add_mask(state, 0, obj, seed.mask)
        *_, last = tracker.propagate(state, start=0)  # the source frame, then this one
        if last.frame != 1:
            # This frame's image could not be read: the walk ended on the source frame,
            # whose masks (score 1) would be written here as if tracked.
            return None
        return OnOpen(*frame_results(last, dict(enumerate(seeds, start=1)), target), tasks[index - 1]["id"], read)


class OnOpen(NamedTuple):
    """The masks of a frame opened right after a human frame (``Propagator.on_demand``)."""

    result: list[dict[str, Any]]
    score: float
    source: int  # the human frame's task id
    read: list[dict[str, Any]]  # the regions of its annotation they were tracked from


class _Superseded(Exception):
    """A human frame a job's masks come from changed while it ran (``Propagator._changed``):
    ``why`` "changed", "deleted" (its last live annotation) or "task deleted"."""

    def __init__(self, task_id: int, why: str) -> None:
        super().__init__(f"task {task_id}'s annotation {why}")
        self.task_id, self.why = task_id, why


@dataclass(frozen=True)
class Read:
    """A human frame's regions as a job read them, in the part it compares before each
    write (``Propagator._changed``): the whole annotation, or with ``wanted`` (a job for
    some objects) only what that job reads of it (``_objects_part``), so that editing
    another object on the frame stops no job for these."""

    part: list[dict[str, Any]]
    target: MaskTarget | None = None
    wanted: frozenset[Identity] | None = None

    @classmethod
    def of(cls, result: list[dict[str, Any]], target: MaskTarget | None = None,
           wanted: frozenset[Identity] | None = None) -> Read:
        return cls(_part(result, target, wanted), target, wanted)

    def holds(self, result: list[dict[str, Any]]) -> bool:
        """Whether ``result`` (the frame's latest annotation now) holds what was read."""
        return _part(result, self.target, self.wanted) == self.part


def _part(result: list[dict[str, Any]], target: MaskTarget | None,
          wanted: frozenset[Identity] | None) -> list[dict[str, Any]]:
    return result if wanted is None or target is None else _objects_part(result, target, wanted)


def _objects_part(result: list[dict[str, Any]], target: MaskTarget,
                  wanted: frozenset[Identity]) -> list[dict[str, Any]]:
    """What a job for the objects ``wanted`` reads of an annotation on its image: their
    mask regions and every result of their region ids (labels, object id, attributes), and
    whatever is no other object's (a region samvid cannot read, such as a smart click or
    box, may be one of them). Read as ``seeds_from_result`` reads objects, without
    decoding a mask: the check runs before every frame written."""
    result = _joined([item for item in result if target.draws_on(item)], target)
    types = {target.mask_control: target.mask_type, **{c.name: c.mask_type for c in target.siblings}}
    taken = region_ids(result)
    numbers = object_numbers(result, target.object_id_control)
    theirs: set[str] = set()
    others: set[str] = set()
    mask_of: dict[int, bool] = {}  # position in result -> whether that mask region is theirs
    for k, item in enumerate(result):
        mask_type = types.get(str(item.get("from_name")))
        if mask_type is None or item.get("type") != mask_type:
            continue
        region_id = object_region_id(str(item["id"])) if has_region_id(item) else unnamed_region_id(item, taken)
        number, _ = _object_number(item, region_id, numbers)
        mine = ((False, region_id) if number is None else (True, str(number))) in wanted
        (theirs if mine else others).add(region_id)
        mask_of[k] = mine
    kept: list[dict[str, Any]] = []
    for k, item in enumerate(result):
        if k in mask_of:
            mine = mask_of[k]
        elif has_region_id(item):
            region_id = object_region_id(str(item["id"]))
            mine = region_id in theirs or region_id not in others
        else:
            mine = True  # nothing names its object
        if mine:
            kept.append(item)
    return kept


def _renames_apart(wanted: frozenset[Identity] | None, here: list[ObjectSeed],
                   there: list[ObjectSeed] | None) -> bool:
    """Whether a bridged stretch's redraw matching (``match_redrawn``) leaves the objects
    ``wanted`` alone: each of them unnumbered is on both human ends (``here``: the job's
    frame's objects; ``there``: the other end's, as matched) or on neither. Then no edit
    of another object on either end changes which objects the job tracks, and only what
    it reads of them is compared (``Read``); else the whole annotations are."""
    if wanted is None:
        return True
    # A matched object keeps its own region id: the identity it was drawn with.
    drawn_there = {s.identity if s.numbered else (False, s.region_id) for s in there or ()}
    drawn_here = {s.identity for s in here}
    return all((w in drawn_here) == (w in drawn_there) for w in wanted if not w[0])


def annotation_result(annotation: dict[str, Any]) -> list[dict[str, Any]]:
    """An annotation's regions. Label Studio stores null for one saved without a result, and
    imported JSON may hold anything there: an item that is no object is no region."""
    result = annotation.get("result")
    return [item for item in result if isinstance(item, dict)] if isinstance(result, list) else []


def _status(exc: StudioError) -> int | None:
    """The HTTP status Label Studio refused a call with, if it answered."""
    return getattr(exc.__cause__, "status_code", None)


def _sources(st: Stretch, index: int) -> tuple[int, ...]:
    """The human ends a stretch's masks come from: the job's frame, whose annotation made
    the job (also where every object left it), and the other end of a stretch tracked
    from both."""
    other = st.lo if st.hi == index else st.hi
    return (index, other) if st.from_lo and st.from_hi else (index,)


def _superseded(ctx: JobContext, req: PropagationRequest, tasks: list[dict[str, Any]], stop: _Superseded,
                left: list[int], written: int, empty: int) -> dict[str, Any]:
    """What a job stopped by a change of a human frame it tracks from (``_Superseded``) says:
    not a failure, but not a filled clip either. ``left``: the positions in ``tasks`` of the
    frames it did not write. Nothing says another job fills them: the webhook's may run
    the other way or not bridge, and a deleted annotation starts none."""
    frame = next((frame_index(t["data"].get("frame")) for t in tasks if t["id"] == stop.task_id), None)
    what = {"changed": "annotation changed", "deleted": "annotation was deleted",
            "task deleted": "task was deleted"}[stop.why]
    said = f"stopped after {written + empty} frame(s): frame {frame}'s {what} while this job ran"
    if left:
        said += f"; {_frames(tasks, left)} left unwritten: "
        if frame == req.frame and stop.why != "changed":
            said += _from_another(tasks, stop.task_id, frame, req.direction)
        else:
            said += f"propagate {_request(req)} again to fill them"
    ctx.note(said)
    log.info("clip %r frame %d: %s", req.clip, req.frame, said)
    return {"frames_written": written, "frames_empty": empty, "superseded": True}


def _frames(tasks: list[dict[str, Any]], at: list[int]) -> str:
    """``frames 3-7 and 12-15`` for the frame tasks at positions ``at`` of a clip's ``tasks``
    (in frame order): each run of neighbouring tasks by its first and last frame index."""
    runs: list[list[int]] = []
    for k in sorted(set(at)):
        if runs and k == runs[-1][-1] + 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    index = [[frame_index(tasks[k]["data"].get("frame")) for k in (run[0], run[-1])] for run in runs]
    spans = [f"{a}" if a == b else f"{a}-{b}" for a, b in index]
    one = len(runs) == 1 and index[0][0] == index[0][1]
    return ("frame " if one else "frames ") + " and ".join(spans)


def _from_another(tasks: list[dict[str, Any]], gone: int, frame: int | None, direction: str) -> str:
    """What fills the frames a job left when its own frame lost its annotation: the nearest
    human frame on the far side of it, whose stretch now runs over it, if there is one."""
    human = [f for t in tasks if t["id"] != gone and human_annotated(t)
             if (f := frame_index(t["data"].get("frame"))) is not None]
    behind = [f for f in human if frame is not None and (f > frame if direction == "backward" else f < frame)]
    if not behind:
        return f"no human frame {'after' if direction == 'backward' else 'before'} frame {frame} is left to fill them"
    nearest = min(behind) if direction == "backward" else max(behind)
    return f"propagate frame {nearest} again (its stretch now runs over frame {frame}) to fill them"


def _request(req: PropagationRequest) -> str:
    """A job's request as a message names it, to be submitted again alike."""
    said = f"frame {req.frame} (direction {req.direction}, {'bridged' if req.bridge else 'not bridged'}"
    if req.frames:
        said += f", frames {req.frames}"
    if req.objects:
        said += f", objects {', '.join(map(str, req.objects))}"
    if req.all_frames:
        said += ", all frames"
    return said + ")"


def for_frame(target: MaskTarget, task: dict[str, Any]) -> MaskTarget:
    """``target`` with the labels a frame task gives (Label Studio's dynamic labels:
    ``MaskTarget.for_task``), against which its regions are read. A task without the list
    its config reads offers the config's <Label>s alone, as Label Studio shows it."""
    return target.for_task(task.get("data"))


def frame_results(fm: FrameMasks, seeds: dict[int, ObjectSeed],
                  target: MaskTarget) -> tuple[list[dict[str, Any]], float]:
    """Label Studio regions for one frame's masks: for each visible object (``seeds``: the
    object as a human drew it, by the object id the tracker knows it by) its region (a
    polygon project's: one polygon per part, ``<id>``, ``<id>~2``, ...), with its extras."""
    result: list[dict[str, Any]] = []
    scores: list[float] = []
    for k, obj in enumerate(fm.object_ids):
        seed = seeds[obj]
        if not fm.visible[k]:
            continue  # a vanished object gets no region; it returns with the same id
        regions = mask_regions(fm.masks[k], target, list(seed.labels), region_id=seed.region_id,
                               control=seed.control, score=float(fm.scores[k]))
        if not regions:
            continue
        if seed.numbered and seed.id_in_meta:  # its object id, as the human frame gave it (``seeds_from_result``)
            regions = [{**r, "meta": {"object_id": int(seed.key)}} for r in regions]
        result.extend(regions)
        result.extend({**extra, "origin": "prediction"} for extra in seed.extras)
        scores.append(float(fm.scores[k]))
    return result, float(np.mean(scores)) if scores else 0.0


def _emptied(cleared: int, retracked: int) -> str:
    """What a job from a frame every object left did to the frames it bounds: ``cleared``
    (no object at either end) and ``retracked`` (from a human frame with objects beyond)."""
    said = [f"samvid's masks removed from the {cleared} frame(s) it bounds"] if cleared else []
    if retracked:
        said.append(f"{retracked} frame(s) tracked again from the human frame(s) beyond them, the objects "
                    "fading out towards this one")
    return "; ".join(said) or "no frame to clear"


def _crowded(crowded: list[Stretch], left: list[Stretch], tasks: list[dict[str, Any]], index: int,
             direction: str) -> str:
    """What a job from a frame every object left did to the stretches to human frames with
    more objects than a job tracks (``crowded``): done as without bridging, so those the
    direction does not take (``left``) keep samvid's earlier masks."""
    def far(stretches: list[Stretch]) -> str:
        return ", ".join(str(frame_index(tasks[at]["data"].get("frame")))  # tasks are in frame order
                         for at in sorted(st.hi if st.lo == index else st.lo for st in stretches))

    said = (f"not tracked from human frame(s) {far(crowded)}, over the {MAX_OBJECTS} objects a job tracks "
            "(done as without bridging): submit them with 'objects' in groups")
    if left:
        said += (f"; the {sum(len(st.written) for st in left)} frame(s) between this frame and human "
                 f"frame(s) {far(left)} are left as they were (a {direction} job does not reach them)")
    return said


def _no_objects(st: Stretch, away_from: int, on_step: Callable[[], None],
                cancelled: Callable[[], bool]) -> Iterator[FrameMasks]:
    """Empty FrameMasks for the written frames of a stretch with no object at its human
    ends, walked away from the job's frame (as tracking would), positions from ``st.lo``."""
    order = reversed(st.written) if st.hi == away_from else st.written
    for k in order:
        if cancelled():
            return
        on_step()
        yield FrameMasks(k - st.lo, (), np.zeros((0, 1, 1), bool), np.zeros(0), np.zeros(0, bool))


REGION_TYPES = ("brush", "polygon", "keypoint", "rectangle", "ellipse")  # each also as "<type>labels"


def _unreadable(result: list[dict[str, Any]], target: MaskTarget, max_pixels: int) -> list[frozenset[str]]:
    """The labels of each of an annotation's regions drawn on its image that are no readable
    mask (empty for one without a label): a smart click or box whose mask never came back,
    a damaged brush. A mask erased to nothing is read, as no object; per-frame choices or
    text are no regions."""
    masks = {target.mask_control: target.mask_type, **{c.name: c.mask_type for c in target.siblings}}
    found: list[frozenset[str]] = []
    # A region drawn on another <Image> of the config is no object of this one.
    for item in _joined([item for item in result if target.draws_on(item)], target):
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
    return not seeds_from_result(result, target, max_pixels) and not _unreadable(result, target, max_pixels)


def _maybe_there(ends: dict[int, list[ObjectSeed] | None], unread: list[frozenset[str]],
                 number: dict[Identity, int]) -> frozenset[int]:
    """The object ids of a job that a human frame's regions samvid cannot read (``unread``,
    their labels) may be: its objects whose labels agree with one's (``may_be_one``), all of
    them for a region without labels."""
    return frozenset(number[s.identity] for end in ends.values() for s in end or ()
                     if any(may_be_one(s.labels, labels) for labels in unread))


def _named(ends: dict[int, list[ObjectSeed] | None], number: dict[Identity, int],
           order: list[int]) -> dict[int, ObjectSeed]:
    """Each object of a job by its object id, as the first human frame in ``order`` that
    holds it drew it (its region id, labels and extras are written on the tracked frames).
    Unlabelled there (``results.read_labels``), it takes the labels of the first frame that
    labels it: one end's label is a class someone gave it, the other's absence none."""
    named: dict[int, ObjectSeed] = {}
    for at in order:
        for s in ends.get(at) or ():
            first = named.setdefault(number[s.identity], s)
            if not first.labels and s.labels:  # and the control that holds them (a control per class)
                named[number[s.identity]] = replace(first, labels=s.labels, control=s.control)
    return named


def _wanted(objects: tuple[int | str, ...], drawn: list[ObjectSeed]) -> frozenset[Identity] | None:
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


def _chosen(seeds: list[ObjectSeed], wanted: frozenset[Identity] | None) -> list[ObjectSeed]:
    """The ``seeds`` of the identities ``wanted`` (``_wanted``); all when None."""
    return seeds if wanted is None else [s for s in seeds if s.identity in wanted]


def _frame_score(result: list[dict[str, Any]]) -> float:
    """A frame's score from its regions: the mean over its objects (each object's parts
    carry its score)."""
    by_object = {object_region_id(str(r.get("id"))): float(r["score"]) for r in result
                 if _scored(r) and isinstance(r.get("score"), (int, float))}
    return float(np.mean(list(by_object.values()))) if by_object else 0.0


def _scored(result: dict[str, Any]) -> bool:
    """Whether ``result`` is a region's geometry or label, which carry its score (an
    unlabelled plain <Brush>/<Polygon> region is its geometry alone), not a per-region extra."""
    return is_labels_result(result) or str(result.get("type")) in ("brush", "polygon")


def _steps(st: Stretch, tasks: list[dict[str, Any]], all_frames: bool, walks: int) -> int:
    """Engine steps to track a stretch of frame tasks, walked from ``walks`` of its ends:
    with ``all_frames`` the engine walks every source frame between its first and last
    task, not only the tasks."""
    if not all_frames:
        return (st.hi - st.lo + 1) * walks
    span = int(tasks[st.hi]["data"]["frame"]) - int(tasks[st.lo]["data"]["frame"]) + 1
    return span * walks


def _walks(st: Stretch, ends: dict[int, list[ObjectSeed] | None]) -> int:
    """The ends a stretch is walked from: its seeded ends with an object (a human frame
    every object left has no mask to start a walk from)."""
    return sum(1 for at, on in ((st.lo, st.from_lo), (st.hi, st.from_hi)) if on and ends[at])


class _Progress:
    """A job's progress in engine steps (a bridged stretch is walked twice)."""

    def __init__(self, ctx: JobContext, total: int) -> None:
        self.ctx, self.total, self.done = ctx, total, 0
        self.start = time.perf_counter()

    def step(self) -> None:
        self.done = min(self.done + 1, self.total)
        self.ctx.progress(self.done, self.total, self.rate())

    def finish(self) -> None:
        """The last report: every step done, at the run's rate (a finished job's frames/s)."""
        self.ctx.progress(self.total, self.total, self.rate())

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0


def run_job(payload: dict[str, Any], ctx: JobContext, settings: Settings) -> dict[str, Any]:
    """The job entry point (threads or ``samvid worker``); credentials come from ``settings``."""
    def waiting(text: str) -> None:
        # A job cancelled (or superseded) while it waits out an unreachable Label Studio
        # stops at the next retry, not after the whole wait (minutes, its clip held).
        if ctx.cancelled():
            raise _Cancelled
        ctx.note(text)

    studio = Studio(settings.label_studio_url, settings.label_studio_api_key,
                    retry_delays=backoff(settings.studio_retry_seconds), on_retry=waiting)
    try:
        return propagator_for(studio, settings).run(PropagationRequest.from_payload(payload), ctx)
    except _Cancelled:
        return {"cancelled": True}


class _Cancelled(BaseException):
    """Raised out of a Label Studio retry once the job is cancelled; never leaves ``run_job``.
    Not an Exception (as asyncio's CancelledError): a frame read that catches every error
    as an unreadable frame would pass over it and go on."""


def propagator_for(studio: Studio, settings: Settings) -> Propagator:
    """A propagator whose frame locks are the backend's: with ``REDIS_URL`` they live in
    Redis, so a batch or CLI run and the backend's jobs never write one frame at once."""
    return Propagator(studio, ImageSource.from_settings(settings), FrameLocks(studio.url, settings.redis_url))
