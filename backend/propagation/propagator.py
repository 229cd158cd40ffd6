"""The propagation of a human frame (``Propagator``): a job's run over the stretches
it bounds, and the masks of a frame opened right after a human frame
(``answer_on_open``)."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from typing import Any, NamedTuple

from samvid.errors import BadRequest, NotFound
from samvid.jobs import JobContext
from samvid.metrics import FRAMES_PROPAGATED
from samvid.propagation.clip import ClipAccess
from samvid.propagation.handoff import STORED_WITHIN, Answer, hold_until_stored
from samvid.propagation.request import MAX_OBJECTS, PropagationRequest
from samvid.propagation.results import MODEL_PREFIX, frame_results, track_model_version
from samvid.propagation.seeds import (
    Identity,
    ObjectSeed,
    chosen_seeds,
    for_frame,
    human_annotated,
    match_redrawn,
    missing_objects,
    seeds_from_result,
    unreadable_labels,
    wanted_identities,
)
from samvid.propagation.sources import TaskFrames
from samvid.propagation.stretches import (
    StepProgress,
    crowded_note,
    crowded_stretches,
    emptied_note,
    empty_walk,
    engine_steps,
    job_object_ids,
    maybe_there,
    objects_by_number,
    source_ends,
    walked_ends,
)
from samvid.propagation.supersede import Read, Superseded, end_superseded, renames_apart
from samvid.studio.client import Task
from samvid.studio.protocol import MaskTarget, parse_config
from samvid.tracker.bridge import Stretch, plan, track_stretch
from samvid.tracker.engines import make_engine, resolved

# Why an object asked for may be missing where its region is on the frame.
NAMING = ("an object with an object-id number is named by that number, and a region samvid cannot read "
          "is no object (draw it again)")

# The package's one logger, as before it was split: its log lines keep their name.
log = logging.getLogger("samvid.propagation")


class Propagator(ClipAccess):
    """Runs one propagation request against a Label Studio project.

    Every write of a frame's prediction holds that frame's lock (``locks``), shared with
    whatever else writes it (the job, ``/predict`` on opening a frame): one samvid
    prediction per frame whatever the timing."""

    def run(self, req: PropagationRequest, ctx: JobContext) -> dict[str, Any]:
        project = self.studio.request("GET", f"/api/projects/{req.project}", "read the project")
        config = parse_config(project["label_config"])
        tasks = self.clip_tasks(req.project, req.clip)
        index = _job_task(tasks, req)
        # Its regions are read, and the frames it fills written, with the labels its task gives.
        target = for_frame(config, tasks[index])
        annotation = self.latest_annotation(tasks[index]["id"])
        drawn = seeds_from_result(annotation, target, self.images.max_pixels)
        wanted = wanted_identities(req.objects, drawn)
        seeds = chosen_seeds(drawn, wanted)
        _check_seeds(req, seeds, drawn, annotation, target, self.images.max_pixels)
        # Not refused: a queued job whose object was deleted since still tracks the others.
        missing = missing_objects(req.objects, drawn)
        engine = resolved(req.engine)  # named in each prediction's model version
        given = [human_annotated(t) for t in tasks]
        given[index] = True
        # A frame with no object bridges too: a stretch to a human frame with objects is
        # tracked from that frame, the objects fading out towards this one (a given end where
        # each is absent); one with no object at either end is cleared.
        stretches = plan(given, index, forward=req.direction in ("forward", "both"),
                         backward=req.direction in ("backward", "both"), limit=req.frames,
                         bridge=req.bridge, before=req.before)
        ends, unread, maybe, sourced = self._human_ends(config, tasks, index, stretches, annotation, target,
                                                        wanted, seeds, drawn)
        crowded = crowded_stretches(stretches, ends, bool(seeds), tasks)
        stretches = [st for st in stretches if st not in crowded
                     or req.direction in (("forward", "both") if st.lo == index else ("backward", "both"))]
        number = job_object_ids(ends, index)
        # A stretch with no object at any of its seeded ends has nothing to track: its
        # frames are walked only to remove samvid's masks, as for a frame every object left.
        bare = [st for st in stretches if st in crowded
                or not any(ends[at] for at, on in ((st.lo, st.from_lo), (st.hi, st.from_hi)) if on)]
        total = sum(len(st.written) if st in bare else engine_steps(st, tasks, req.all_frames, walked_ends(st, ends))
                    for st in stretches)
        progress = StepProgress(ctx, total)
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
            unsure = (maybe_there(ends, maybe.get(st.lo, []), number),
                      maybe_there(ends, maybe.get(st.hi, []), number))
            # Where both ends hold an object, the job's own frame names it (its labels and
            # attributes are the annotator's latest word); else this stretch's other end,
            # the one it is tracked from: not a human frame on the job frame's other side.
            objects = objects_by_number(ends, number, [index, st.lo, st.hi, *ends])
            # A human frame samvid cannot read is tracked to (an open end) but is no frame to
            # write, nor one a human annotated meanwhile, nor one passed over.
            held = {tasks[at]["id"] for at in (st.lo, st.hi) if at in unread}
            # The human ends whose annotations its masks come from: checked before each write.
            sources = {tasks[at]["id"]: sourced[at] for at in source_ends(st, index) if at in sourced}
            if st in bare:
                tasks_at = {k - st.lo: tasks[k]["id"] for k in st.written}
                walked = empty_walk(st, away_from=index, on_step=progress.step, cancelled=ctx.cancelled)
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
            except Superseded as exc:
                # Unwritten: the rest of this stretch, and the stretches after it.
                left = [k for k in st.written if tasks[k]["id"] not in filled]
                left += [k for later in stretches[stretches.index(st) + 1:] for k in later.written]
                ended = end_superseded(ctx, req, tasks, exc, left, written, empty)
                return {**ended, **({"objects_missing": list(missing)} if missing else {})}
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
            _note_no_objects(ctx, req, emptied_note(cleared, retracked), crowded, stretches, tasks, index)
        if missing:  # after the progress, which clears a note: said on the ended job too
            ctx.note(f"no object of frame {req.frame} is named {', '.join(map(repr, missing))} (of those asked "
                     f"for): not tracked; {NAMING}")
        # Said, not only logged: "done" with a hole in the clip read as a clip filled.
        return {"frames_written": written, "frames_empty": empty, **({"frames_skipped": skipped} if skipped else {}),
                **({"objects_missing": list(missing)} if missing else {})}

    def _human_ends(self, config: MaskTarget, tasks: list[dict[str, Any]], index: int, stretches: list[Stretch],
                    annotation: list[dict[str, Any]], target: MaskTarget, wanted: frozenset[Identity] | None,
                    seeds: list[ObjectSeed], drawn: list[ObjectSeed]) -> _Ends:
        """The human ends of a job's stretches: its own frame (at ``index`` in the clip's
        ``tasks``: its ``annotation``, ``seeds`` chosen of the objects ``drawn``) and the other
        given frame of each bridged stretch, read now."""
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
                    apart = renames_apart(wanted, drawn, matched)
                    sourced[other] = Read.of(found, there, wanted if apart else None)
                    if not apart:
                        sourced[index] = Read.of(annotation)
        return _Ends(ends, unread, maybe, sourced)

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
        unread = unreadable_labels(annotation, target, self.images.max_pixels)
        # Matched before the request's objects are chosen: an object deleted and drawn again
        # there has a new region id, which the request does not name.
        found = match_redrawn(named, seeds_from_result(annotation, target, self.images.max_pixels), unread)
        if not found and unread:
            return None, True, unread, None
        # Objects there, none of them the request's: its objects are absent there, or
        # unknown where an unreadable region may be one (``unsure``), as when it names none.
        return chosen_seeds(found, wanted), True, unread, found

    def answer_on_open(self, project: int, task: dict[str, Any], target: MaskTarget, engine: str,
                       stored_within: float = STORED_WITHIN) -> Answer | None:
        """The prediction to answer for a frame opened right after a human frame
        (``on_demand``), for Label Studio to store; None if a human annotated it meanwhile,
        or the human frame changed (the job of that change writes it).

        Decided under the frame's write lock, which is held until Label Studio has stored
        the answer (``handoff``): a job writing the frame meanwhile waits, then replaces it.
        Where the job wrote it first (after Label Studio read the task), the job's masks are
        answered and its copy deleted: the labeling stream shows only what an answer stores.
        """
        found = self.on_demand(project, task, target, engine)
        if not found or not found.result:
            return None
        task_id = int(task["id"])
        hold = ExitStack()
        hold.enter_context(self.locks.hold(task_id))
        try:
            answer = self._answer_locked(task_id, found, engine)
        except BaseException:
            hold.close()
            raise
        if answer is None:
            hold.close()
            return None
        hold_until_stored(hold, lambda: bool(self.studio.own_predictions(task_id, MODEL_PREFIX)),
                          lambda: self._store_unstored(task_id, answer), stored_within)
        return answer

    def _answer_locked(self, task_id: int, found: OnOpen, engine: str) -> Answer | None:
        """``answer_on_open``'s decision, under the frame's lock."""
        try:
            if self.annotated_now(task_id):
                return None
            if self._changed({found.source: Read.of(found.read)}) is not None:
                # Changed while the masks were computed: the job its change started writes
                # this frame (or, every object gone, removed samvid's masks: none belong here).
                return None
            own = self.studio.own_predictions(task_id, MODEL_PREFIX)
            if own:  # the job got there first
                latest = max(own, key=lambda p: p.get("id") or 0)
                for prediction in own:
                    self.studio.delete_prediction(int(prediction["id"]))
                return Answer(list(latest.get("result") or []), float(latest.get("score") or 0.0),
                              str(latest.get("model_version")), copied=True)
        except NotFound:
            # Deleted while it was opened: nothing to fill, as a job passes over such a frame.
            log.info("task %d was deleted while it was opened: no masks answered for it", task_id)
            return None
        # A frame propagation wrote, as a job's are: counted by the server process that opened
        # it, whose own counter /metrics reads (never added to the workers' count in Redis too).
        FRAMES_PROPAGATED.inc()
        return Answer(found.result, found.score, track_model_version(engine))

    def _store_unstored(self, task_id: int, answer: Answer) -> None:
        """Write an answer Label Studio did not store (still under the frame's lock), unless
        the frame holds samvid's masks or a human's by now."""
        try:
            if self.annotated_now(task_id) or self.studio.own_predictions(task_id, MODEL_PREFIX):
                return
            self.studio.replace_predictions(task_id, MODEL_PREFIX, answer.result, answer.model_version,
                                            answer.score, write_empty=True)
        except NotFound:
            return
        log.info("task %d: Label Studio did not store the masks answered on open; written instead", task_id)

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


class _Ends(NamedTuple):
    """The human ends of a job's stretches (``Propagator._human_ends``), by position in the
    clip's tasks."""

    ends: dict[int, list[ObjectSeed] | None]
    unread: set[int]
    maybe: dict[int, list[frozenset[str]]]
    sourced: dict[int, Read]


def _job_task(tasks: list[dict[str, Any]], req: PropagationRequest) -> int:
    """The position in the clip's ``tasks`` of the frame the job starts from."""
    at_frame = [i for i, t in enumerate(tasks) if int(t["data"]["frame"]) == req.frame]
    if not at_frame:
        raise NotFound(f"clip {req.clip!r} of project {req.project} has no frame {req.frame}")
    # Two tasks may hold one frame (a duplicated or re-imported task): the job starts
    # from the one a human annotated.
    return next((i for i in at_frame if human_annotated(tasks[i])), at_frame[0])


def _check_seeds(req: PropagationRequest, seeds: list[ObjectSeed], drawn: list[ObjectSeed],
                 annotation: list[dict[str, Any]], target: MaskTarget, max_pixels: int) -> None:
    """Refuse a job whose frame has none of the objects it asks for, no mask samvid can read
    where it has regions, or more objects than a job takes (``seeds``: those it asks for of
    the objects ``drawn`` on the frame)."""
    if not seeds and drawn:
        raise BadRequest(f"frame {req.frame} has none of the objects {', '.join(map(repr, req.objects))}: "
                         f"its objects are {', '.join(s.name for s in drawn[:20])}"
                         + (", ..." if len(drawn) > 20 else ""))
    if not seeds and req.objects:
        raise BadRequest(f"frame {req.frame} has no mask to propagate")
    if not seeds and unreadable_labels(annotation, target, max_pixels):
        # Not "every object left": a smart click or box whose mask never came back, a
        # damaged brush. Taken as no object, samvid's masks after it were removed.
        raise BadRequest(f"frame {req.frame} has no mask to propagate: its regions are no masks "
                         "samvid can read; draw the mask again, or delete them where the object has left")
    # No object at all (the annotator deleted the masks: every object left the view) is
    # an answer too: samvid's earlier masks on the frames it bounds are stale, and go.
    if len(seeds) > MAX_OBJECTS and req.objects:
        # The groups were asked for already: advising them again said nothing of what to change.
        raise BadRequest(f"frame {req.frame}: {len(seeds)} asked for (of the frame's {len(drawn)} objects); "
                         f"a job takes at most {MAX_OBJECTS}: split them into groups")
    if len(seeds) > MAX_OBJECTS:
        raise BadRequest(f"frame {req.frame} has {len(seeds)} objects; a job takes at most "
                         f"{MAX_OBJECTS}: propagate them in groups with 'objects' (samvid propagate --object)")


def _note_no_objects(ctx: JobContext, req: PropagationRequest, what: str, crowded: list[Stretch],
                     stretches: list[Stretch], tasks: list[dict[str, Any]], index: int) -> None:
    """Say what a job from a frame every object left did (``what``, and to the ``crowded``
    stretches). Said on the job: "done" with nothing written would read as a job that did
    nothing."""
    if crowded:
        what += "; " + crowded_note(crowded, [st for st in crowded if st not in stretches], tasks, index,
                                req.direction)
    ctx.note(f"frame {req.frame} has no objects (every one left the view): {what}")
    log.info("clip %r frame %d has no objects: %s", req.clip, req.frame, what)
