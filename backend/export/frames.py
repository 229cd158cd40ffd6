"""The values every exporter and loader shares: categories, frames, bad-data reports.

An ``ExportFrame`` is one video frame of one clip with the masks of its objects
(a ``samvid.tracker.masks.FrameMasks``) plus what the formats need beyond
masks: class labels, the clip and source video, time and where the masks came
from. Writers take it, loaders give it back, so a round trip compares like with like.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from pycocotools import mask as mask_utils

from samvid.tracker.masks import FrameMasks, bbox

log = logging.getLogger(__name__)

ANNOTATION = "annotation"
PREDICTION = "prediction"


@dataclass(frozen=True)
class Category:
    """A class of the labeling config. ``id`` starts at 1 (COCO); YOLO uses ``id - 1``."""

    id: int
    name: str


@dataclass
class ExportFrame:
    """Masks of the objects on one frame of a clip, objects sorted by object id.

    ``labels[i]`` is the class name of ``masks.object_ids[i]`` and ``attributes[i]``
    its per-region attributes (``{control name: value}``, empty when it has none;
    left out, every object gets an empty dict). ``source`` is
    ``"annotation"`` or ``"prediction"`` (a frame filled from a model). ``image``
    is the relative file the image was written to (or the task's URL when images
    were not copied); ``image_bytes`` the encoded image while it travels from the
    reader to a writer. ``frame_labels[i]``, from ``ProjectReader``, holds the object's
    own labels on this frame (its class ``labels[i]`` is its clip's, which may be none of
    them: ``label_changed``); empty for frames built otherwise (loaded), whose labels are
    their objects' own. ``region_names[i]`` is how messages name the object's first region
    there (``identity.Region.shown_id``), from ``ProjectReader`` too.
    """

    clip: str
    frame: int
    masks: FrameMasks
    labels: tuple[str, ...]
    video: str = ""
    time: float | None = None
    source: str = ANNOTATION
    task_id: int | None = None
    image: str = ""
    image_bytes: bytes | None = field(default=None, repr=False)
    image_ext: str = ".jpg"
    attributes: tuple[dict[str, Any], ...] = ()
    frame_labels: tuple[tuple[str, ...], ...] = ()
    region_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.masks):
            raise ValueError("one label per object")
        if self.frame_labels and len(self.frame_labels) != len(self.labels):
            raise ValueError("one tuple of labels per object")
        if self.region_names and len(self.region_names) != len(self.labels):
            raise ValueError("one region name per object")
        if not self.attributes:
            self.attributes = tuple({} for _ in self.labels)
        elif len(self.attributes) != len(self.labels):
            raise ValueError("one attribute dict per object")
        else:
            self.attributes = tuple(dict(a or {}) for a in self.attributes)

    @property
    def height(self) -> int:
        return int(self.masks.masks.shape[1])

    @property
    def width(self) -> int:
        return int(self.masks.masks.shape[2])

    @property
    def object_ids(self) -> tuple[int, ...]:
        return self.masks.object_ids


def frame_masks(
    frame: int,
    height: int,
    width: int,
    objects: list[tuple[int, np.ndarray, float]],
) -> FrameMasks:
    """A ``FrameMasks`` of ``(object_id, mask, score)`` triples, sorted by object id."""
    objects = sorted(objects, key=lambda o: o[0])
    if not objects:
        return FrameMasks.empty(frame, height, width)
    masks = np.stack([np.asarray(m, bool) for _, m, _ in objects])
    return FrameMasks(
        frame,
        tuple(int(o) for o, _, _ in objects),
        masks,
        np.asarray([s for _, _, s in objects], np.float32),
        np.asarray(masks.reshape(len(objects), -1).any(axis=1)),
    )


# Longest folder name kept as it is: file systems allow 255 bytes, and a shorter cut
# leaves room for the hash and for tools that add a suffix.
MAX_STEM = 100


def file_stem(clip: str) -> str:
    """A clip id made safe as one folder name (clip ids are free text).

    A safe id up to ``MAX_STEM`` characters is kept as it is; any other is cut there
    and gets a hash of the whole id appended, so two ids that differ only in unsafe
    characters, or after the cut, never share a folder.
    """
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", clip).strip("._")
    # An empty id (a plain COCO file's images, loaded) kept as "" would join as
    # "/<frame>.png": the export's files written at the file system's root.
    if stem and stem == clip and len(stem) <= MAX_STEM:
        return stem
    return f"{stem[:MAX_STEM] or 'clip'}-{hashlib.sha1(clip.encode()).hexdigest()[:8]}"


# Digits of a frame file name, as ``samvid import`` names its frames: a 4-hour video (the
# import limit) has fewer than 10**6 frames at up to 69 frames/s, so names sort in frame
# order as plain strings, which is how VOS and YOLO tools list a folder.
FRAME_DIGITS = 6
# Exports before FRAME_DIGITS had 5 digits; loaders still find their files.
OLD_FRAME_DIGITS = 5


def frame_name(frame: int, ext: str, digits: int = FRAME_DIGITS) -> str:
    """``<frame:06d><ext>``: the frame index, not a running count, names the file, so
    files of a sparsely labelled clip still say which video frame they are."""
    return f"{frame:0{digits}d}{ext}"


def frame_file(clip: str, frame: int, ext: str) -> str:
    """``<clip>/<frame:06d><ext>``, the file of one frame relative to a format's folder."""
    return f"{file_stem(clip)}/{frame_name(frame, ext)}"


def exported_file(folder: Path, frame: int, ext: str) -> Path:
    """The file of ``frame`` in a clip's ``folder`` of an export, old (5-digit) or new."""
    path = folder / frame_name(frame, ext)
    old = folder / frame_name(frame, ext, OLD_FRAME_DIGITS)
    return old if not path.exists() and old.exists() else path


def encode_rle(mask: np.ndarray) -> dict:
    """COCO compressed RLE of a bool (H, W) mask, JSON-ready (``counts`` as str)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict) -> np.ndarray:
    """Bool (H, W) mask of a COCO RLE (compressed or not)."""
    if isinstance(rle.get("counts"), list):
        rle = mask_utils.frPyObjects(rle, *rle["size"])
    else:
        rle = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
    return mask_utils.decode(rle).astype(bool)


def bbox_area(mask: np.ndarray) -> tuple[list[float], int]:
    """COCO ``[x, y, w, h]`` box and pixel area of a mask."""
    box = bbox(mask)
    if box is None:
        return [0.0, 0.0, 0.0, 0.0], 0
    x0, y0, x1, y1 = box
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)], int(np.count_nonzero(mask))


@dataclass
class Written:
    """What a writer has written: the export's summary counts it, not the frames offered,
    as a writer may leave a frame out (YouTube-VIS's ``size_mismatch``, DAVIS's
    ``missing_image``)."""

    frames: int = 0
    predicted_frames: int = 0
    clips: set[str] = field(default_factory=set)
    objects: set[tuple[str, int]] = field(default_factory=set)  # (clip, object id)

    def add(self, clip: str, source: str, object_ids: Iterable[int]) -> None:
        """A frame written, holding ``object_ids`` (objects absent from it, or that its
        format could not hold, are not among them)."""
        self.frames += 1
        self.predicted_frames += source == PREDICTION
        self.clips.add(clip)
        self.objects.update((clip, o) for o in object_ids)


@dataclass(frozen=True)
class Problem:
    """Bad data met during an export, or a limit of its format; the export goes on (what
    becomes of the item: ``KINDS``)."""

    kind: str  # one of KINDS
    message: str
    clip: str | None = None
    frame: int | None = None
    task_id: int | None = None


# kind -> what it means; the keys are what tests and the summary count.
KINDS = {
    "missing_image": "task has no image, or the image could not be read: frame skipped",
    "unknown_label": "no label of the region is a class of the config: region skipped",
    "size_mismatch": "mask size differs from the image (region skipped), or a frame's size from "
    "its video's in YouTube-VIS (frame skipped)",
    "duplicate_object_id": "two regions of different classes claim one object id on a frame: "
    "later region skipped",
    "bad_region": "region could not be decoded: region skipped",
    "no_mask_control": "region drawn on an <Image> that no mask control labels: region skipped",
    "bad_task": "task lacks clip or an integer frame (0 to 10000000), or another task of its "
    "frame is kept: task skipped",
    "bad_time": "task's time is not a number: frame exported without a time",
    "lossy": "the format cannot hold the mask exactly (overlap, parts, holes, too thin, id range)",
    "label_changed": "an object changes class within a clip: its class on its latest "
    "annotated frame exported is kept",
    "several_labels": "an object has several labels: it is exported as its one class in the "
    "clip; COCO and YouTube-VIS keep them all in its attributes, DAVIS and YOLO only its class",
    "late_objects": "DAVIS: objects entering a clip after its first PNG, as in ordinary video, "
    "which davis2017-evaluation and samvid track/eval leave out; nothing is skipped",
    "name_order": "DAVIS: a clip's frame numbers cross 999999, so its 7-digit file names sort before "
    "its 6-digit ones in tools that list a folder by name (davis2017-evaluation); nothing is skipped",
}


class Where(TypedDict):
    """Where a problem was met (``Problems.add``'s keywords)."""

    clip: str | None
    frame: int | None
    task_id: int | None


class Problems:
    """Collects ``Problem``s and logs each as a warning with where it happened (``quiet``:
    not logged, for a look ahead whose problems are reported when it is met again)."""

    def __init__(self, quiet: bool = False) -> None:
        self.items: list[Problem] = []
        self.quiet = quiet

    def add(
        self,
        kind: str,
        message: str,
        *,
        clip: str | None = None,
        frame: int | None = None,
        task_id: int | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown problem kind {kind!r}")
        problem = Problem(kind, message, clip, frame, task_id)
        self.items.append(problem)
        if self.quiet:
            return
        where = ", ".join(
            f"{k} {v}" for k, v in (("task", task_id), ("clip", clip), ("frame", frame)) if v is not None
        )
        log.warning("%s%s (%s)", f"{where}: " if where else "", message, KINDS[kind])

    def counts(self) -> Counter[str]:
        return Counter(p.kind for p in self.items)

    def __len__(self) -> int:
        return len(self.items)


def keep_first_labels(
    frame: ExportFrame, first: dict[tuple[str, int], str], problems: Problems
) -> ExportFrame:
    """``frame`` with each object's class as it was first in its clip; a change is reported.

    A YouTube-VIS object and a DAVIS manifest entry hold one class per object, so every
    writer passes its frames through here: COCO's ``track_id`` and YOLO's lines then agree
    with them. ``first`` maps (clip, object id) to that class and is filled as frames come.
    Frames from ``ProjectReader`` already carry each object's one class (its latest
    annotated label over the regions exported, ``identity.py``), so keeping the first only
    guards frames built by other means. Each object of a reader's frame whose class is none
    of its own labels there (``frame_labels``) is reported here (``label_changed``): over the
    frames written, as the class is settled over them.
    """
    # An object whose mask covers no pixel here is written by no format: nothing to report.
    objects = zip(frame.object_ids, frame.frame_labels, frame.labels, frame.masks.masks)
    report_label_changes(frame.clip, frame.frame, frame.task_id,
                         ((o, own, label) for o, own, label, mask in objects if mask.any()), problems)
    labels = first_labels(frame.clip, frame.frame, frame.task_id,
                          zip(frame.object_ids, frame.labels), first, problems)
    return frame if labels == frame.labels else replace(frame, labels=labels)


def report_label_changes(
    clip: str | None, frame: int | None, task_id: int | None, objects: Iterable[tuple[int, tuple[str, ...], str]],
    problems: Problems,
) -> None:
    """A ``label_changed`` for each of a frame's ``(object id, own labels, class)`` whose
    class is none of its own labels there (``ExportFrame.frame_labels``)."""
    for object_id, own, label in objects:
        # A class among its labels here is no change: it is one of the labels it has.
        if label not in own:
            problems.add("label_changed", label_changed_message(object_id, own, label),
                         clip=clip, frame=frame, task_id=task_id)


def report_written_labels(
    frame: ExportFrame, written: Iterable[int], reported: set[tuple[str, int]], problems: Problems
) -> None:
    """``report_several_labels`` of the objects ``written`` of a frame a writer wrote: a frame
    or object it leaves out (YouTube-VIS's frame of another size, DAVIS's object covered) is
    not exported with its labels, so it is no report's. Frames without their objects' own
    labels (``frame_labels``: loaded ones) report nothing."""
    kept = set(written)
    names = frame.region_names or ("",) * len(frame.labels)
    report_several_labels(
        frame.clip, frame.frame, frame.task_id,
        ((o, own, label, name) for o, own, label, name
         in zip(frame.object_ids, frame.frame_labels, frame.labels, names) if o in kept),
        reported, problems)


def report_several_labels(
    clip: str, frame: int | None, task_id: int | None,
    objects: Iterable[tuple[int, tuple[str, ...], str, str]], reported: set[tuple[str, int]],
    problems: Problems,
) -> None:
    """One ``several_labels`` per object of a clip written with several labels on some frame,
    at the first such frame written: of a frame's ``(object id, own labels, class, region
    name)`` written, those with several labels not yet in ``reported`` ((clip, object id),
    filled here). DAVIS and YOLO hold only its class."""
    for object_id, own, label, name in objects:
        if len(own) < 2 or (clip, object_id) in reported:
            continue
        reported.add((clip, object_id))
        region = f" (region {name})" if name else ""
        problems.add(
            "several_labels",
            f"object {object_id}{region} has the labels {list(own)}: it is exported as {label!r}, "
            "its class in this clip (its first label in the config's order on its latest annotated "
            "frame); COCO and YouTube-VIS keep all its labels in its attributes, DAVIS and YOLO "
            "only its class", clip=clip, frame=frame, task_id=task_id)


def label_changed_message(object_id: int, own: tuple[str, ...], label: str) -> str:
    """Why an object labelled ``own`` on a frame is reported as ``label_changed`` there."""
    shown = repr(own[0]) if len(own) < 2 else f"labelled {list(own)}"
    return f"object {object_id} is {shown} here but {label!r} on its latest annotated frame"


def first_labels(
    clip: str, frame: int, task_id: int | None, objects: Iterable[tuple[int, str]],
    first: dict[tuple[str, int], str], problems: Problems,
) -> tuple[str, ...]:
    """``keep_first_labels`` of a frame's ``(object id, label)`` pairs: each object's class
    as it was first in ``clip``, a change reported."""
    labels = []
    for object_id, label in objects:
        known = first.setdefault((clip, object_id), label)
        if known != label:
            problems.add(
                "label_changed", f"object {object_id} is {label!r} here but {known!r} earlier",
                clip=clip, frame=frame, task_id=task_id,
            )
        labels.append(known)
    return tuple(labels)


def save_image(frame: ExportFrame, folder: Path) -> str:
    """Write the frame's image bytes under ``folder``; the relative file name either way."""
    name = frame_file(frame.clip, frame.frame, frame.image_ext)
    if frame.image_bytes is not None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(frame.image_bytes)
    return name
