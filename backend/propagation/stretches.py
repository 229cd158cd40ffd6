"""A job's stretches between human frames, as pure steps: which ends a stretch is
tracked from and which objects it carries, its progress in engine steps, the walk of a
stretch with no object, and what a job from a frame every object left says."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from samvid.errors import BadRequest
from samvid.jobs import JobContext
from samvid.propagation.request import MAX_OBJECTS
from samvid.propagation.seeds import Identity, ObjectSeed, may_be_one
from samvid.studio.protocol import frame_index
from samvid.tracker.bridge import Stretch
from samvid.tracker.masks import FrameMasks


def source_ends(st: Stretch, index: int) -> tuple[int, ...]:
    """The human ends a stretch's masks come from: the job's frame, whose annotation made
    the job (also where every object left it), and the other end of a stretch tracked
    from both."""
    other = st.lo if st.hi == index else st.hi
    return (index, other) if st.from_lo and st.from_hi else (index,)


def emptied_note(cleared: int, retracked: int) -> str:
    """What a job from a frame every object left did to the frames it bounds: ``cleared``
    (no object at either end) and ``retracked`` (from a human frame with objects beyond)."""
    said = [f"samvid's masks removed from the {cleared} frame(s) it bounds"] if cleared else []
    if retracked:
        said.append(f"{retracked} frame(s) tracked again from the human frame(s) beyond them, the objects "
                    "fading out towards this one")
    return "; ".join(said) or "no frame to clear"


def crowded_note(crowded: list[Stretch], left: list[Stretch], tasks: list[dict[str, Any]], index: int,
             direction: str) -> str:
    """What a job from a frame every object left did to the stretches to human frames with
    more objects than a job tracks (``crowded``): done as without bridging, so those the
    direction does not take (``left``) keep samvid's earlier masks."""
    def far(stretches: list[Stretch]) -> str:
        return ", ".join(str(frame_index(tasks[at]["data"].get("frame")))  # tasks are in frame order
                         for at in sorted(st.hi if st.lo == index else st.lo for st in stretches))

    said = (f"not tracked from human frame(s) {far(crowded)}, over the {MAX_OBJECTS} objects a job tracks "
            "(done as without bridging): submit them in groups with 'objects' (samvid propagate --object)")
    if left:
        said += (f"; the {sum(len(st.written) for st in left)} frame(s) between this frame and human "
                 f"frame(s) {far(left)} are left as they were (a {direction} job does not reach them)")
    return said


def empty_walk(st: Stretch, away_from: int, on_step: Callable[[], None],
                cancelled: Callable[[], bool]) -> Iterator[FrameMasks]:
    """Empty FrameMasks for the written frames of a stretch with no object at its human
    ends, walked away from the job's frame (as tracking would), positions from ``st.lo``."""
    order = reversed(st.written) if st.hi == away_from else st.written
    for k in order:
        if cancelled():
            return
        on_step()
        yield FrameMasks(k - st.lo, (), np.zeros((0, 1, 1), bool), np.zeros(0), np.zeros(0, bool))


def maybe_there(ends: dict[int, list[ObjectSeed] | None], unread: list[frozenset[str]],
                 number: dict[Identity, int]) -> frozenset[int]:
    """The object ids of a job that a human frame's regions samvid cannot read (``unread``,
    their labels) may be: its objects whose labels agree with one's (``may_be_one``), all of
    them for a region without labels."""
    return frozenset(number[s.identity] for end in ends.values() for s in end or ()
                     if any(may_be_one(s.labels, labels) for labels in unread))


def objects_by_number(ends: dict[int, list[ObjectSeed] | None], number: dict[Identity, int],
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


def engine_steps(st: Stretch, tasks: list[dict[str, Any]], all_frames: bool, walks: int) -> int:
    """Engine steps to track a stretch of frame tasks, walked from ``walks`` of its ends:
    with ``all_frames`` the engine walks every source frame between its first and last
    task, not only the tasks."""
    if not all_frames:
        return (st.hi - st.lo + 1) * walks
    span = int(tasks[st.hi]["data"]["frame"]) - int(tasks[st.lo]["data"]["frame"]) + 1
    return span * walks


def walked_ends(st: Stretch, ends: dict[int, list[ObjectSeed] | None]) -> int:
    """The ends a stretch is walked from: its seeded ends with an object (a human frame
    every object left has no mask to start a walk from)."""
    return sum(1 for at, on in ((st.lo, st.from_lo), (st.hi, st.from_hi)) if on and ends[at])


class StepProgress:
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


def job_object_ids(ends: dict[int, list[ObjectSeed] | None], index: int) -> dict[Identity, int]:
    """The object id of each object of a job, from 1, its own frame's (at ``index``) first."""
    # One object id per identity, the same in every stretch.
    keys: dict[Identity, ObjectSeed] = {}
    for end in (ends[index], *(seeds for at, seeds in ends.items() if at != index)):
        for s in end or ():
            keys.setdefault(s.identity, s)
    return {key: k for k, key in enumerate(keys, start=1)}


def crowded_stretches(stretches: list[Stretch], ends: dict[int, list[ObjectSeed] | None], seeded: bool,
                       tasks: list[dict[str, Any]]) -> list[Stretch]:
    """The stretches over the limit of objects a job tracks from a frame with no object
    (``seeded`` False), done as without bridging; BadRequest for one from a frame with
    objects, which a request's 'objects' can split."""
    crowded: list[Stretch] = []  # from a frame with no object, over the limit: as unbridged
    for st in stretches:
        # Each stretch is tracked by an engine of its own, from the objects of both its
        # human ends: counted on this frame only, one stretch tracked up to twice the limit.
        tracked = {s.identity for at, on in ((st.lo, st.from_lo), (st.hi, st.from_hi)) if on
                   for s in ends[at] or ()}
        if len(tracked) > MAX_OBJECTS and not seeded:
            # 'objects' cannot split a frame with none: done as without bridging, the
            # stretch cleared if the direction takes it, else left as it is.
            crowded.append(st)
        elif len(tracked) > MAX_OBJECTS:
            ends_at = " and ".join(str(frame_index(tasks[at]["data"].get("frame")))
                                   for at, on in ((st.lo, st.from_lo), (st.hi, st.from_hi)) if on)
            raise BadRequest(f"human frames {ends_at} hold {len(tracked)} objects between them; a job "
                             f"tracks at most {MAX_OBJECTS} at once: propagate them in groups with 'objects' (samvid propagate --object)")
    return crowded
