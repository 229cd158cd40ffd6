"""Batch pre-labelling: predictions for many frame tasks at once, as one resumable job.

Two modes:

- ``auto``: every selected task gets the automatic masks of its frame
  (``samvid.automatic``), one prediction per task.
- ``propagate``: every human-annotated frame in the selection is propagated forward
  to the next human frame (or the end of the selection), as ``samvid propagate``
  would, one propagation per human frame.

Human work is never touched: tasks with an annotation are skipped, and each task is
checked again right before its prediction is written (an annotator may be working
through the same frames). Resuming is re-running: tasks that already hold a samvid
prediction of the same mode are skipped unless ``force`` is set, so an interrupted job
continues where it stopped. In propagate mode a stretch is done when its last frame holds
a prediction written after its human frame was last annotated: a frame annotated since
inside a filled stretch, or a mask redrawn, is propagated from again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from samvid.automatic import (
    AUTO_MODEL_PREFIX,
    AutoConfig,
    auto_model_version,
    automatic_regions,
    require_everything,
)
from samvid.errors import BadRequest, NotFound, SamvidError
from samvid.jobs import JobContext, newer_than_this, refuse_unknown_fields, versioned
from samvid.propagation import (
    MAX_FRAME,
    PropagationRequest,
    Propagator,
    annotation_result,
    clip_key,
    engine_name,
    human_annotated,
    left_the_view,
    propagator_for,
    whole_number,
)
from samvid.propagation import MODEL_PREFIX as TRACK_PREFIX
from samvid.propagation.results import track_model_version
from samvid.settings import Settings
from samvid.studio.client import Studio, backoff
from samvid.studio.protocol import MaskTarget, choose_label, frame_index, image_ref, parse_config

log = logging.getLogger(__name__)

MODES = ("auto", "propagate")
JOB_KIND = "prelabel"  # the jobs.RUNNERS kind of ``run_job``
# What fills a stretch a run left unfinished: a pre-labelling is only started by that command.
AGAIN = "run the same samvid prelabel command again"
# A field added here bumps jobs.PAYLOAD_VERSIONS["prelabel"]: a worker of the version before
# then refuses the job as a newer samvid's, where it would have run it without the new option.
PRELABEL_KEYS = ("project", "clip", "first", "end", "mode", "force", "grid", "engine")


@dataclass(frozen=True)
class PrelabelRequest:
    project: int
    clip: str | None = None  # one clip, or every task of the project
    first: int | None = None  # source frame indices first <= frame < end (task data "frame")
    end: int | None = None
    mode: str = "auto"
    force: bool = False  # redo tasks that already have a samvid prediction of this mode
    grid: int = 16  # auto mode: clicks per side
    engine: str = "flow"  # propagate mode: tracker engine

    @classmethod
    def from_payload(cls, payload: Any) -> PrelabelRequest:
        if not isinstance(payload, dict):
            raise BadRequest("the pre-labelling request must be a JSON object")
        newer = newer_than_this(JOB_KIND, payload)
        if newer is not None:  # a worker says this before it gets here (``jobs.run_payload``)
            raise BadRequest(f"this request was {newer}: run it with a samvid of this one's version")
        if "project" not in payload:
            raise BadRequest("give project (id), and integer first/end/grid if any")
        # As a propagation request's: an option this samvid lacks was dropped without a word.
        refuse_unknown_fields(payload, PRELABEL_KEYS, "a pre-labelling request")
        project = whole_number(payload["project"], "project", "a project id", 2**63 - 1)
        first, end = (None if payload.get(name) is None else
                      whole_number(payload[name], name, "a frame index", MAX_FRAME) for name in ("first", "end"))
        grid = 16 if payload.get("grid") is None else payload["grid"]
        if isinstance(grid, float) and grid.is_integer():
            grid = int(grid)
        mode = payload.get("mode", "auto")
        if mode not in MODES:
            raise BadRequest(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        # One check and one message for every bad grid: -3 is told the same range as 0 or 65.
        if isinstance(grid, bool) or not isinstance(grid, int) or not 1 <= grid <= 64:
            raise BadRequest(f"grid must be 1-64 clicks per side, not {grid!r}")
        clip = payload.get("clip")
        # An empty one ("clip": "$CLIP" unset) would read as none: every clip of the project,
        # with force redone. Clip ids are text in the tasks, so a number would match none.
        if clip is not None and (not isinstance(clip, str) or not clip.strip()):
            raise BadRequest(f"clip must be a clip id (the text of the tasks' data 'clip'), "
                             f"or left out for every clip of the project, not {clip!r}")
        return cls(project, clip, first, end, mode,
                   bool(payload.get("force")), grid, engine_name(payload.get("engine")))

    def to_payload(self) -> dict[str, Any]:
        return versioned(JOB_KIND, {
            "project": self.project, "clip": self.clip, "first": self.first, "end": self.end,
            "mode": self.mode, "force": self.force, "grid": self.grid, "engine": self.engine})

    @property
    def key(self) -> str:
        """Job key: two pre-labellings of the same selection never run at once. One that
        propagates in a clip has the key of the clip's other propagation jobs (the webhook's):
        it runs after a correction's job, or that job after it, never beside it. Automatic
        masks write no frame a propagation writes, and a whole project's pre-labelling holds
        no one clip: they keep keys of their own, not holding up the clips' webhook jobs."""
        if self.mode == "propagate" and self.clip is not None:
            return clip_key(self.project, self.clip)
        return f"{self.project}:prelabel:{self.clip or '*'}"

    @property
    def order(self) -> str:
        """Job order (``samvid.jobs``): only the same request again supersedes a running
        one; any other (another mode, range, grid, --force) waits for it, so that no
        pre-labelling is cancelled by someone else's."""
        return json.dumps(self.to_payload(), sort_keys=True)

    def selects(self, data: dict[str, Any]) -> bool:
        if self.clip is not None and data.get("clip") != self.clip:
            return False
        if self.first is None and self.end is None:
            return True
        # As propagation and export read it: a CSV-imported clip's "3" is frame 3.
        frame = frame_index(data.get("frame"))
        if frame is None:
            return False
        return (self.first is None or frame >= self.first) and (self.end is None or frame < self.end)


def parse_frames(text: str | None) -> tuple[int | None, int | None]:
    """``"10:50"`` -> ``(10, 50)`` (end excluded, like a Python slice); ``"10:"``, ``":50"``."""
    if not text:
        return None, None
    first, sep, end = text.partition(":")
    try:
        if not sep:
            raise ValueError
        a = int(first) if first.strip() else None
        b = int(end) if end.strip() else None
    except ValueError as exc:
        raise BadRequest(f"--frames {text!r}: write A:B (frame indices, B excluded)") from exc
    if a is None and b is None:
        # ``--frames "$FIRST:$LAST"`` with both unset: read as no --frames, every frame of the
        # project (redone with --force), as an empty --frames would be.
        raise BadRequest(f"--frames {text!r} gives neither A nor B: write A:B (A: or :B leave a "
                         "side open), or leave --frames out for every frame")
    if (a is not None and a < 0) or (b is not None and b < 0):
        raise BadRequest(f"--frames {text!r}: frame indices start at 0")
    if (a is not None and a > MAX_FRAME) or (b is not None and b > MAX_FRAME):
        # Said here, naming the option: the request's own check names its fields (first, end).
        raise BadRequest(f"--frames {text!r}: frame indices go up to {MAX_FRAME}")
    if a is not None and b is not None and b <= a:
        raise BadRequest(f"--frames {text!r}: B must be larger than A")
    return a, b


class Prelabeler:
    """Runs pre-labelling requests against one Label Studio (``predictor`` for auto mode)."""

    def __init__(self, studio: Studio, predictor_factory: Callable[[], Any],
                 propagator: Propagator) -> None:
        self.studio = studio
        self._predictor_factory = predictor_factory
        self.propagator = propagator

    def tasks(self, req: PrelabelRequest) -> list[dict[str, Any]]:
        """The selected tasks with annotation and prediction counts, by clip and frame."""
        found = [t for t in self.studio.task_rows(req.project) if req.selects(t.get("data") or {})]
        return sorted(found, key=lambda t: (str(t["data"].get("clip", "")), _frame(t), t["id"]))

    def _has_own_prediction(self, task: dict[str, Any], prefix: str) -> bool:
        if not int(task.get("total_predictions") or 0):
            return False
        return bool(self.studio.own_predictions(task["id"], prefix))

    def _stretch_done(self, last: dict[str, Any], human: dict[str, Any], target: MaskTarget,
                      bound: dict[str, Any] | None = None) -> bool:
        """Whether a stretch's last frame holds samvid's propagation from its human frame
        as it is now: a prediction written after its latest annotation. One written before
        comes from other human work (a frame annotated since inside a filled stretch, a
        mask redrawn since), so the stretch is not done. Nor is one whose next human frame
        (``bound``) every object has left since: a bridged submit of that frame tracks the
        stretch again, the objects fading out towards it (written before, they are drawn
        at full score right up to it)."""
        if not int(last.get("total_predictions") or 0):
            return False
        own = self.studio.own_predictions(last["id"], TRACK_PREFIX)
        if not own:
            return False
        written = [w for w in (_written_at(p) for p in own) if w is not None]
        try:
            changed = self._annotated_at(human["id"])
        except NotFound:
            return False  # deleted meanwhile: its run says so
        if len(written) < len(own):
            return True  # no times to compare: trust the prediction
        left = self._left_at(bound["id"], target) if bound is not None else None
        if left is not None and max(written) <= left:
            return False
        return changed is None or max(written) > changed

    def _left_at(self, task_id: int, target: MaskTarget) -> datetime | None:
        """When a human frame's latest annotation said every object had left the view; None
        if it holds an object (or a region samvid cannot read), gives no time, or is deleted
        (the stretch then runs on past it: its own run checks it)."""
        try:
            live = self.propagator.live_annotations(task_id)
        except NotFound:
            live = []
        if not live:
            return None
        latest = max(live, key=lambda a: a.get("updated_at") or "")  # as propagation reads it
        if not left_the_view(annotation_result(latest), target, self.propagator.images.max_pixels):
            return None
        return _written_at(latest)

    def _annotated_at(self, task_id: int) -> datetime | None:
        """When the task's live annotations last changed (None if unknown)."""
        live = self.propagator.live_annotations(task_id)
        times = [t for t in (_written_at(a) for a in live) if t is not None]
        return max(times) if times and len(times) == len(live) else None

    def _mark_done(self, task_id: int, engine: str) -> None:
        """An empty prediction on a stretch's last frame where the objects had left the view
        (the propagation writes no prediction there): without it, every later run would see
        the stretch unfinished and propagate it again."""
        with self.propagator.locks.hold(task_id):
            try:
                if self._human_now(task_id) or self.studio.own_predictions(task_id, TRACK_PREFIX):
                    return
            except NotFound:
                return  # deleted meanwhile
            self.studio.replace_predictions(task_id, TRACK_PREFIX, [], track_model_version(engine),
                                            0.0, write_empty=True)

    def _annotated_inside(self, req: PrelabelRequest, run: _Stretch) -> bool:
        """Whether a frame of the stretch, after its human frame, is annotated now."""
        tasks = [t for t in self.tasks(req) if t["data"].get("clip") == run.clip]
        ids = [t["id"] for t in tasks]
        if run.last_task not in ids:
            return False
        inside = tasks[: ids.index(run.last_task) + 1]
        return any(human_annotated(t) for t in inside if _frame(t) > run.frame)

    def _mark_undone(self, task_id: int, ends: tuple[int, ...] = ()) -> None:
        """Removes samvid's prediction from a stretch's last frame, so that the next run
        propagates the stretch again (``_stretch_done``); not one written after the latest
        annotation of each of the stretch's human frames ``ends``: that one comes from
        their present work (the job a change of theirs started), not from this run."""
        with self.propagator.locks.hold(task_id):
            try:
                if self._human_now(task_id) or (ends and self._newer_than(task_id, ends)):
                    return
            except NotFound:
                return  # deleted meanwhile
            self.studio.replace_predictions(task_id, TRACK_PREFIX, [], "", 0.0, write_empty=False)

    def _newer_than(self, task_id: int, ends: tuple[int, ...]) -> bool:
        """Whether samvid's predictions on the task were all written after the latest
        annotation of every task of ``ends`` (False where a time is unknown)."""
        written = [_written_at(p) for p in self.studio.own_predictions(task_id, TRACK_PREFIX)]
        if not written or None in written:
            return False
        changed = [self._annotated_at(end) for end in ends]
        return None not in changed and min(w for w in written if w) > max(c for c in changed if c)

    def _human_now(self, task_id: int) -> bool:
        return self.propagator.annotated_now(task_id)

    def run(self, req: PrelabelRequest, ctx: JobContext) -> dict[str, Any]:
        project = self.studio.request("GET", f"/api/projects/{req.project}", "read the project")
        target = parse_config(project["label_config"])
        tasks = self.tasks(req)
        if req.mode == "auto":
            return self._auto(req, target, tasks, ctx)
        return self._propagate(req, target, tasks, ctx)

    def _auto(self, req: PrelabelRequest, target, tasks, ctx: JobContext) -> dict[str, Any]:
        todo = [t for t in tasks if not human_annotated(t)]
        skipped_human = len(tasks) - len(todo)
        if not req.force:
            todo = [t for t in todo if not self._has_own_prediction(t, AUTO_MODEL_PREFIX)]
        skipped_done = len(tasks) - skipped_human - len(todo)
        if not todo:  # said at once: loading the model takes long, and it may not even load here
            log.info("nothing to do: %d selected task(s), %d annotated by a human, %d with automatic "
                     "masks already (--force redoes those)", len(tasks), skipped_human, skipped_done)
            ctx.progress(0, 0, 0.0)
            return {"tasks_written": 0, "skipped_human": skipped_human, "skipped_done": skipped_done,
                    "not_labelled": []}
        predictor = self._predictor_factory()
        require_everything(predictor.segmenter)  # before any work: say so at once
        # Each task's first label where the config reads them from the task (dynamic labels).
        label = None if target.labels_keys else choose_label(target, None)
        config = AutoConfig(grid=req.grid)
        written, not_labelled, started = 0, [], time.perf_counter()
        ctx.progress(0, len(todo), 0.0)
        for done, task in enumerate(todo, start=1):
            if ctx.cancelled():
                return {"tasks_written": written, "cancelled": True}
            try:
                labelled = target.for_task(task["data"])
                regions = automatic_regions(predictor, image_ref(task, labelled, None), task["id"],
                                            labelled, label or choose_label(labelled, None), config)
            except SamvidError as exc:
                # One frame's image (lost, unreadable, not in the task) is not the batch's:
                # the others are still labelled. Nothing is written for it, so a later run
                # (once the image is fixed) tries it again.
                _skipped(ctx, f"{_which(task)} not labelled: {exc.message}")
                not_labelled.append(task["id"])
            else:
                written += self._write_auto(task["id"], regions, predictor.version)
            elapsed = time.perf_counter() - started
            ctx.progress(done, len(todo), done / elapsed if elapsed > 0 else 0.0)
        return {"tasks_written": written, "skipped_human": skipped_human,
                "skipped_done": skipped_done, "not_labelled": not_labelled}

    def _write_auto(self, task_id: int, regions: list[dict[str, Any]], version: str) -> int:
        """Writes one task's automatic masks unless a human got there first; 1 if written.

        Under the frame's lock, as every samvid write of a frame: two jobs whose selections
        overlap (one clip, the whole project) would otherwise both find no earlier
        prediction and leave two."""
        with self.propagator.locks.hold(task_id):
            try:
                human = self._human_now(task_id)  # annotated while we computed: theirs wins
            except NotFound:
                human = True  # deleted while we computed: nothing to write
            if human:
                return 0
            # Written even when empty: it records that the frame was done (resume skips it).
            scores = [r.get("score", 0.0) for r in regions]
            self.studio.replace_predictions(
                task_id, AUTO_MODEL_PREFIX, regions, auto_model_version(version),
                sum(scores) / len(scores) if scores else 0.0, write_empty=True)
        return 1

    def _propagate(self, req: PrelabelRequest, target: MaskTarget, tasks, ctx: JobContext) -> dict[str, Any]:
        by_clip: dict[str, list[dict[str, Any]]] = {}
        for task in tasks:
            if isinstance(task["data"].get("clip"), str) and "frame" in task["data"]:
                by_clip.setdefault(task["data"]["clip"], []).append(task)
        runs: list[_Stretch] = []
        for clip, clip_tasks in by_clip.items():
            human = [i for i, task in enumerate(clip_tasks) if human_annotated(task)]
            if human:  # a clip to walk in frame order: each of its frames needs its index
                for task in clip_tasks:
                    _frame(task, strict=True)
            for i, after in zip(human, [*human[1:], len(clip_tasks)]):
                if after == i + 1:
                    continue  # nothing between two human frames, or after the last
                # A run stopped mid-stretch left its last frames without a prediction:
                # only a stretch whose last frame has one, newer than its human frame's
                # annotation, is done. (Not the next human frame's: the webhook fills a
                # stretch from its first frame alone, and that is done too; unless every
                # object has left the view there since.)
                bound = clip_tasks[after] if after < len(clip_tasks) else None
                if not req.force and self._stretch_done(clip_tasks[after - 1], clip_tasks[i], target,
                                                        bound):
                    continue  # done by an earlier run (or by the webhook)
                # The limit runs to the selection's end (bridged propagation stops at the next
                # human frame itself); the share of the progress is the frames it fills.
                runs.append(_Stretch(clip, _frame(clip_tasks[i], strict=True), len(clip_tasks) - i - 1,
                                     after - i - 1, clip_tasks[after - 1]["id"],
                                     (clip_tasks[i]["id"], *([bound["id"]] if bound is not None else []))))
        total = sum(run.share for run in runs)
        progress = _Offset(ctx, total)
        written, failed = 0, []
        for run in runs:
            clip, frame, share = run.clip, run.frame, run.share
            if ctx.cancelled():
                return {"frames_written": written, "cancelled": True}
            progress.share = share
            # Each stretch once, bridged from its first human frame: with nobody reviewing
            # in between, a stretch is filled best from both of its human frames.
            try:
                result = self.propagator.run(PropagationRequest(
                    req.project, clip, frame, "forward", run.limit, (), req.engine, bridge=True,
                    before=False), progress)
            except (BadRequest, NotFound) as exc:
                # One frame's problem (annotated without a mask, deleted meanwhile) is not
                # the batch's: the other stretches are still filled, and the job says which.
                _skipped(ctx, f"clip {clip!r} frame {frame} not propagated: {exc.message}")
                failed.append(f"{clip}:{frame}")
            else:
                written += int(result.get("frames_written", 0))
                if result.get("cancelled"):
                    return {"frames_written": written, "cancelled": True}
                if result.get("superseded"):
                    # A human frame of the stretch changed meanwhile: the rest of it is left
                    # unwritten, and no other job is sure to fill it (the webhook's may run
                    # the other way, or not bridge). Not done: the next run fills it. Its last
                    # frame may be written all the same (a stretch tracked back from its far
                    # end, every object having left its first frame): that mark goes, or the
                    # next run would count the stretch done. The propagation's note (which
                    # frames, and why) stays the job's; the run to repeat is this one, not
                    # the propagation the note names.
                    if not self._annotated_inside(req, run):
                        self._mark_undone(run.last_task, run.ends)
                    _skipped(ctx, f"clip {clip!r} frame {frame}: a human frame of the stretch changed while "
                                  f"it was filled; its rest is left unwritten: {AGAIN} to fill it")
                    failed.append(f"{clip}:{frame}")
                    progress.offset += share
                    continue
                # Every frame reached, masked or not: none annotated or deleted meanwhile.
                reached = int(result.get("frames_written", 0)) + int(result.get("frames_empty", 0))
                if reached == share:
                    self._mark_done(run.last_task, req.engine)
                elif not self._annotated_inside(req, run):
                    # A frame the tracker could not read is passed over, and its followers
                    # written: the last frame's mask would make every later run skip the hole.
                    # (A frame annotated meanwhile stops the run instead: a stretch of its own,
                    # which the webhook may be filling now, and the next run checks.)
                    self._mark_undone(run.last_task)
                    _skipped(ctx, f"clip {clip!r} frame {frame}: {share - reached} of {share} frames "
                                  "left without a prediction (an image that could not be read, or a "
                                  f"frame annotated or deleted meanwhile): {AGAIN} to fill them")
                    failed.append(f"{clip}:{frame}")
            progress.offset += share
        ctx.progress(total, total, progress.rate())
        return {"frames_written": written, "propagations": len(runs) - len(failed), "not_propagated": failed}


def _skipped(ctx: JobContext, why: str) -> None:
    """Say why a frame was left out, on the job (its next progress report replaces the
    note) and in the log, where ``samvid prelabel`` and the worker show it for good."""
    ctx.note(why)
    log.warning("%s", why)


@dataclass(frozen=True)
class _Stretch:
    """The frames after a human frame up to the next one, to be propagated."""

    clip: str
    frame: int  # the human frame's index
    limit: int  # frames after it up to the selection's end (bridging stops at the next human frame)
    share: int  # frames it fills: its share of the progress
    last_task: int  # the task id of its last frame
    ends: tuple[int, ...] = ()  # the task ids of its human frame and the next one, if any


def _frame(task: dict[str, Any], strict: bool = False) -> int:
    """A task's frame index (task data "frame"), 0 when it has none (unless ``strict``: a
    frame to propagate from or to must have one)."""
    frame = task["data"].get("frame")
    # Read as propagation and export read it (``frame_index``): int() made 3.7 frame 3 and
    # let -3 pass, tasks the clip's propagation then did not count as its frames.
    index = frame_index(frame if strict else frame or 0)
    if index is None:
        raise BadRequest(
            f"task {task['id']} has frame {frame!r}: a task's data 'frame' must be the frame's "
            "index (0, 1, 2...), as `samvid import` writes it; fix that task's data, or leave "
            "it out with --clip or --frames")
    return index


def _written_at(item: dict[str, Any]) -> datetime | None:
    """When an annotation or prediction was last written (samvid writes a frame's
    prediction over in place: its creation time is not its last write)."""
    return _when(item.get("updated_at") or item.get("created_at"))


def _when(text: Any) -> datetime | None:
    """A Label Studio time (``2026-12-05T07:38:41.123456Z``) as a datetime in UTC; None if it
    is not one."""
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None
    except ValueError:
        return None
    return when.replace(tzinfo=timezone.utc) if when is not None and when.tzinfo is None else when


def _which(task: dict[str, Any]) -> str:
    """``task 12 (clip 'c' frame 3)`` for a frame task, ``task 12`` for any other."""
    data = task.get("data") or {}
    if "clip" in data or "frame" in data:
        return f"task {task['id']} (clip {data.get('clip')!r} frame {data.get('frame')})"
    return f"task {task['id']}"


class _Offset:
    """One propagation's progress as part of the whole job's: its ``share`` of frames
    after ``offset``."""

    def __init__(self, ctx: JobContext, total: int) -> None:
        self.ctx, self.total, self.offset, self.share = ctx, total, 0, 0
        self.start = time.perf_counter()

    def rate(self) -> float:
        """Frames filled per second over the whole job so far (the finished job's)."""
        elapsed = time.perf_counter() - self.start
        return self.offset / elapsed if elapsed > 0 else 0.0

    def progress(self, frames_done: int, frames_total: int, fps: float) -> None:
        # A propagation counts engine steps (a bridged stretch is walked twice): scaled to
        # its share, so that the job's count is frames filled.
        part = self.share * frames_done // frames_total if frames_total > 0 else 0
        self.ctx.progress(min(self.offset + min(part, self.share), self.total), self.total, fps)

    def note(self, text: str) -> None:
        self.ctx.note(text)

    def cancelled(self) -> bool:
        return self.ctx.cancelled()


def run_job(payload: dict[str, Any], ctx: JobContext, settings: Settings) -> dict[str, Any]:
    """The job entry point (``jobs.RUNNERS["prelabel"]``; threads or ``samvid worker``)."""
    from samvid.predictor import Predictor

    studio = Studio(settings.label_studio_url, settings.label_studio_api_key,
                    retry_delays=backoff(settings.studio_retry_seconds), on_retry=ctx.note)
    prelabeler = Prelabeler(studio, lambda: Predictor.from_settings(settings), propagator_for(studio, settings))
    req = PrelabelRequest.from_payload(payload)
    log.info("pre-labelling %s", json.dumps(req.to_payload()))
    return prelabeler.run(req, ctx)
