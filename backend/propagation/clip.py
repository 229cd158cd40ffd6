"""A clip's frame tasks in Label Studio as a propagation reads and writes them (the
base of ``Propagator``): their annotations read now, the frames of a stretch of them,
and each frame's prediction replaced under that frame's lock, once the human frames its
masks come from are checked unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from samvid.errors import BadRequest, ForbiddenSource, NotFound, StudioError
from samvid.images import ImageSource
from samvid.metrics import FRAMES_PROPAGATED
from samvid.propagation.results import MODEL_PREFIX, frame_results, frame_score, track_model_version
from samvid.propagation.seeds import ObjectSeed, annotation_result, seeds_from_result
from samvid.propagation.sources import TaskFrames, VideoSpan
from samvid.propagation.supersede import Read, Superseded
from samvid.studio.client import Studio, Task, clip_query, not_found
from samvid.studio.frame_locks import FrameLocks
from samvid.studio.protocol import MaskTarget, frame_index
from samvid.studio.results import has_region_id, object_region_id
from samvid.tracker.engine import FramesSource
from samvid.tracker.masks import FrameMasks


class ClipAccess:
    """A Label Studio project's frame tasks as a propagation reads and writes them: their
    annotations read now, the frames of a stretch (``_span``), and a frame's prediction
    replaced under that frame's lock (``locks``) once the human frames its masks come from
    are checked unchanged."""

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

    def _changed(self, sources: dict[int, Read]) -> Superseded | None:
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
            return Superseded(task_id, why)
        return None


    def _read_end(self, task_id: int) -> list[dict[str, Any]] | None:
        """The regions of the latest annotation of the human frame across a stretch; None if
        its annotation or its task is gone (deleted since the tasks were read)."""
        try:
            return self.latest_annotation(task_id)
        except (BadRequest, NotFound):
            return None


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
        Superseded if a human frame they come from (``sources``: ``_changed``) was changed
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
                    result, score = [*result, *kept], frame_score([*result, *kept])
            self._replace(task_id, result, engine, score)
        FRAMES_PROPAGATED.inc()
        return bool(result)

    def _replace(self, task_id: int, result: list[dict[str, Any]], engine: str, score: float) -> None:
        """Replace samvid's earlier predictions on the task with ``result`` (under its lock);
        NotFound if the task was deleted meanwhile."""
        try:
            self.studio.replace_predictions(task_id, MODEL_PREFIX, result, track_model_version(engine),
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
        return [item for item in earlier if not has_region_id(item) or object_region_id(item["id"]) not in mine]


def _status(exc: StudioError) -> int | None:
    """The HTTP status Label Studio refused a call with, if it answered."""
    return getattr(exc.__cause__, "status_code", None)
