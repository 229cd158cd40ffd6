"""DAVIS layout: a palette PNG per frame whose pixel value is the object id.

Layout (what ``samvid eval``, ``samvid track`` and VOS training code read)::

    OUT/JPEGImages/<clip>/<frame:06d>.jpg   (or the .png, ... the frame was labelled as)
    OUT/Annotations/<clip>/<frame:06d>.png
    OUT/ImageSets/all.txt      (one clip folder per line)
    OUT/samvid.json            (classes, times, sources: see manifest.py)

Files are named by the frame index, so a sparsely labelled clip's files still
say which video frame they are. An object keeps one class per clip
(``frames.keep_first_labels``). Each clip's objects are numbered 1..N in the PNGs
in order of first appearance, as DAVIS tools expect (never 255, DAVIS's void);
``samvid.json`` maps each value back to the project's object id (``pixel_values``).
One value per pixel cannot hold overlapping masks or more than 254 objects: the
larger object id wins an overlapped pixel and such cases are reported as ``lossy``.
davis2017-evaluation takes a sequence's number of objects from the largest value of its
first PNG by file name and drops every larger value: a clip's objects so dropped are
reported, once per clip (``late_objects``); the PNGs hold them all the same. Names have
``FRAME_DIGITS`` digits, so a clip that crosses frame 999999 has names that sort out of
frame order (``name_order``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from samvid.export.frames import (
    Category,
    ExportFrame,
    Problems,
    Where,
    Written,
    exported_file,
    file_stem,
    frame_file,
    frame_masks,
    frame_name,
    keep_first_labels,
    report_written_labels,
    save_image,
)
from samvid.export.manifest import ManifestWriter, read_manifest
from samvid.studio.results import MAX_PIXELS
from samvid.tracker.masks import read_label_png, write_label_png

# Pixel values of objects: 0 is the background and 255 DAVIS's void (davis2017-evaluation
# sets it to 0), so a clip holds at most 254 objects.
MAX_OBJECTS = 254


def pixel_value(values: dict[int, int], object_id: int) -> int | None:
    """The PNG value of ``object_id`` in its clip, numbering the clip's objects 1..N in
    order of first appearance (``values`` grows); None past ``MAX_OBJECTS``.

    DAVIS tools take the number of objects from the largest value of the first frame,
    so project-wide ids (3, 7) would be read as 7 objects, 5 of them empty.
    """
    if object_id not in values:
        if len(values) >= MAX_OBJECTS:
            return None
        values[object_id] = len(values) + 1
    return values[object_id]


def unvouched(frame: ExportFrame) -> bool:
    """Whether nothing but its regions' claim vouches for a frame's size, and the claim
    is over ``MAX_PIXELS``: the PNG would allocate it (a 100000 x 100000 claim is 9 GiB).

    An image copied or a mask decoded has the size for real. ``ProjectReader`` skips such
    a frame itself; this guards frames built by other means (a loader, a script).
    """
    return (frame.image_bytes is None and not len(frame.masks)
            and frame.height * frame.width > MAX_PIXELS)


class DavisWriter:
    def __init__(self, out: Path, categories: list[Category], problems: Problems | None = None):
        self.out = Path(out)
        self.problems = problems if problems is not None else Problems()
        self.manifest = ManifestWriter("davis", categories)
        self._first_labels: dict[tuple[str, int], str] = {}
        self._several: set[tuple[str, int]] = set()  # (clip, object id) reported as several_labels
        self._values: dict[str, dict[int, int]] = {}  # clip -> {object id: pixel value}
        # clip -> {PNG file name: (its frame, Where, largest value)}: what a DAVIS tool that
        # lists the folder by name makes of the clip, known only once every frame is written.
        self._pngs: dict[str, dict[str, tuple[int, Where, int]]] = {}
        self._entered: dict[str, dict[int, int]] = {}  # clip -> {object id: first frame on a PNG}
        self.written = Written()

    def add(self, frame: ExportFrame) -> None:
        where: Where = {"clip": frame.clip, "frame": frame.frame, "task_id": frame.task_id}
        if unvouched(frame):
            self.problems.add(
                "missing_image", f"the frame's size, {frame.width}x{frame.height}, is only what "
                f"its regions claim (no image copied) and over samvid's limit of {MAX_PIXELS} "
                "pixels (SAMVID_MAX_IMAGE_PIXELS): frame skipped", **where)
            return
        frame = keep_first_labels(frame, self._first_labels, self.problems)
        values = self._values.setdefault(frame.clip, {})
        ids = np.zeros((frame.height, frame.width), np.uint8)
        painted: list[tuple[int, int]] = []
        for i, object_id in enumerate(frame.object_ids):  # ascending: larger id wins overlap
            mask = frame.masks.masks[i]
            if not mask.any():
                continue
            value = pixel_value(values, object_id)
            if value is None:
                self.problems.add("lossy", f"object {object_id} is the clip's object number "
                                  f"{MAX_OBJECTS + 1} or later: a palette PNG holds {MAX_OBJECTS} "
                                  "(255 is DAVIS's void): object left out", **where)
                continue
            overlap = int((mask & (ids > 0)).sum())
            if overlap:
                self.problems.add("lossy", f"object {object_id} overlaps another object on "
                                  f"{overlap} pixels: the larger id keeps them", **where)
            ids[mask] = value
            painted.append((object_id, value))
        # The manifest lists what the PNG holds: an object painted over entirely is not there.
        present = set(np.unique(ids).tolist())
        written = [o for o, v in painted if v in present]
        for object_id in sorted({o for o, _ in painted} - set(written)):
            self.problems.add("lossy", f"object {object_id} is wholly covered by larger ids: "
                              "not on this frame's PNG", **where)
        write_label_png(self.out / "Annotations" / frame_file(frame.clip, frame.frame, ".png"), ids)
        image = save_image(frame, self.out / "JPEGImages")
        self.manifest.add(frame, image, written, pixel_values=values)
        report_written_labels(frame, written, self._several, self.problems)
        self.written.add(frame.clip, frame.source, written)
        png = frame_name(frame.frame, ".png")
        self._pngs.setdefault(frame.clip, {})[png] = (frame.frame, where, int(ids.max()))
        entered = self._entered.setdefault(frame.clip, {})
        for object_id in written:
            entered[object_id] = min(frame.frame, entered.get(object_id, frame.frame))

    def report_late_objects(self) -> None:
        """One ``late_objects`` per clip with objects davis2017-evaluation drops.

        It takes a sequence's number of objects from the largest value of its first PNG in
        sorted file name order and drops every larger value from the ground truth (results
        that hold one stop its evaluation). The rule is the values as written, not which
        objects the first frame shows: an object wholly covered there, or one numbered on
        a later frame that arrived first, has a lower value and is counted.
        """
        for clip, pngs in self._pngs.items():
            first = min(pngs)
            _, where, counted = pngs[first]
            values = self._values[clip]
            late = sorted((o, f) for o, f in self._entered[clip].items() if values[o] > counted)
            if not late:
                continue
            objects = ", ".join(f"{o} (from frame {f})" for o, f in late)
            them = "them" if len(late) > 1 else "it"
            # samvid's tools take the lowest frame number as the first (``name_order`` otherwise).
            lowest = min(number for number, _, _ in pngs.values())
            ours = (f", and samvid track and eval of this export neither track nor score {them}"
                    if pngs[first][0] == lowest else "")
            self.problems.add("late_objects", f"object{'s' * (len(late) > 1)} {objects} "
                              f"{'are' if len(late) > 1 else 'is'} not on the clip's first PNG, "
                              f"{first}: davis2017-evaluation drops {them} from its ground truth{ours}",
                              **where)

    def report_name_order(self) -> None:
        """One ``name_order`` per clip whose file names sort out of frame order.

        Past frame 999999 a name has more than ``FRAME_DIGITS`` digits and sorts before the
        6-digit ones; DAVIS tools list a folder by name. Padding every name to the clip's
        widest would need the clip's largest frame before its first file is written.
        """
        for pngs in self._pngs.values():
            if sorted(pngs) == sorted(pngs, key=lambda name: pngs[name][0]):
                continue  # wider names that still sort last (frames 0 and 10000000) are in order
            first = min(pngs)
            _, where, _ = pngs[first]
            self.problems.add("name_order", f"frame numbers past 999999 make names of more digits: "
                              f"{first} sorts first, before the clip's earlier frames, in tools that "
                              "list a folder by name (davis2017-evaluation); samvid's own tools sort "
                              "by number", **where)

    def close(self) -> Path:
        self.report_late_objects()
        self.report_name_order()
        self.out.mkdir(parents=True, exist_ok=True)
        sets = self.out / "ImageSets"
        sets.mkdir(exist_ok=True)
        folders = [file_stem(c) for c in self.manifest.clips]
        (sets / "all.txt").write_text("".join(f"{f}\n" for f in folders))
        return self.manifest.close(self.out)


def load(out: Path) -> Iterator[ExportFrame]:
    """Frames of a DAVIS export, by clip then frame (the inverse of ``DavisWriter``)."""
    out = Path(out)
    manifest = read_manifest(out)
    for clip in sorted(manifest["clips"], key=lambda c: c["clip"]):
        objects = {int(k): v for k, v in clip["objects"].items()}
        # Exports before renumbering have no pixel_values: there the value is the object id.
        object_of = {int(k): int(v) for k, v in clip.get("pixel_values", {}).items()}
        for entry in clip["frames"]:
            ids = read_label_png(exported_file(out / "Annotations" / clip["folder"], entry["frame"], ".png"))
            present = [int(v) for v in np.unique(ids) if v]
            height, width = ids.shape
            masks = frame_masks(entry["frame"], height, width,
                                [(object_of.get(v, v), ids == v, 1.0) for v in present])
            yield ExportFrame(
                clip=clip["clip"], frame=entry["frame"], masks=masks,
                labels=tuple(objects[o] for o in masks.object_ids),
                video=clip["video"], time=entry["time"], source=entry["source"],
                task_id=entry["task_id"], image=entry["image"],
            )
