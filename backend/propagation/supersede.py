"""Whether a human frame a job tracks from changed while it ran: the part of its
annotation compared before each write (``Read``), the stop when it changed
(``Superseded``), and what the stopped job says (``end_superseded``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from samvid.jobs import JobContext
from samvid.propagation.request import PropagationRequest
from samvid.propagation.seeds import Identity, ObjectSeed, human_annotated, joined_regions, seed_object_number
from samvid.studio.protocol import MaskTarget, frame_index
from samvid.studio.results import (
    has_region_id,
    object_numbers,
    object_region_id,
    region_ids,
    unnamed_region_id,
)

# The package's one logger, as before it was split: its log lines keep their name.
log = logging.getLogger("samvid.propagation")


class Superseded(Exception):
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
    result = joined_regions([item for item in result if target.draws_on(item)], target)
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
        region_id = object_region_id(item["id"]) if has_region_id(item) else unnamed_region_id(item, taken)
        number, _ = seed_object_number(item, region_id, numbers)
        mine = ((False, region_id) if number is None else (True, str(number))) in wanted
        (theirs if mine else others).add(region_id)
        mask_of[k] = mine
    kept: list[dict[str, Any]] = []
    for k, item in enumerate(result):
        if k in mask_of:
            mine = mask_of[k]
        elif has_region_id(item):
            region_id = object_region_id(item["id"])
            mine = region_id in theirs or region_id not in others
        else:
            mine = True  # nothing names its object
        if mine:
            kept.append(item)
    return kept


def renames_apart(wanted: frozenset[Identity] | None, here: list[ObjectSeed],
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


def end_superseded(ctx: JobContext, req: PropagationRequest, tasks: list[dict[str, Any]], stop: Superseded,
                left: list[int], written: int, empty: int) -> dict[str, Any]:
    """What a job stopped by a change of a human frame it tracks from (``Superseded``) says:
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
