"""A correction is never overwritten by an older run: a propagation (a job, or a frame filled
as it is opened) whose human frame's annotation changes while it runs writes nothing from
the old annotation after the change, and stops as superseded, not failed. And a clip's
pre-labelling propagates in the clip's line of jobs, after or before the webhook's, never
beside them. In memory: no Label Studio, the tracker over flat frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from memory_clip import CONFIG, SETTINGS, TARGET, Context, box_region
from memory_clip import memory_clip as _clip

from samvid.images import ImageSource
from samvid.propagation import PropagationRequest, Propagator
from samvid.settings import Settings
from samvid.studio.client import Studio


def _car(x: int) -> list[dict[str, Any]]:
    return [box_region(x=x)]


def test_a_job_whose_frame_is_corrected_while_it_runs_writes_nothing_after_and_stops_superseded():
    human = {0: _car(5)}

    def correct(frame: int) -> None:
        if frame == 2:
            human[0] = _car(20)  # the annotator corrects frame 0: its new job owns the frames

    propagator, written = _clip(human, 8, correct)
    ctx = Context()
    result = propagator.run(PropagationRequest(1, "c", 0, frames=7), ctx)
    assert written == [1, 2]
    assert result["superseded"] and result["frames_written"] == 2
    assert "frame 0's annotation changed" in ctx.notes[-1]


def test_a_superseded_job_still_names_the_objects_it_was_asked_for_that_its_frame_lacks():
    # Its result said nothing of them: `samvid propagate` printed "done" and exited 0.
    human = {0: _car(5)}

    def correct(frame: int) -> None:
        if frame == 2:
            human[0] = _car(20)

    propagator, _ = _clip(human, 8, correct)
    result = propagator.run(PropagationRequest(1, "c", 0, frames=7, objects=("car", "cra", "cra")), Context())
    assert result["superseded"] and result["objects_missing"] == ["cra"]


def test_a_job_whose_frame_every_object_leaves_meanwhile_stops_before_the_next_frame():
    human = {0: _car(5)}

    def leave(frame: int) -> None:
        if frame == 1:
            human[0] = []  # every object left: its job removes samvid's masks, none are written back

    propagator, written = _clip(human, 5, leave)
    assert propagator.run(PropagationRequest(1, "c", 0, frames=4), Context())["superseded"]
    assert written == [1]


def test_a_bridged_job_stops_when_the_human_frame_at_the_stretch_s_other_end_changes():
    human = {0: _car(5), 6: _car(5)}

    def correct(frame: int) -> None:
        human[6] = _car(30)

    propagator, written = _clip(human, 7, correct)
    ctx = Context()
    result = propagator.run(PropagationRequest(1, "c", 0, bridge=True), ctx)
    assert len(written) == 1 and result["superseded"]
    assert "propagate frame 0 (direction forward, bridged) again" in ctx.notes[-1]


def test_a_job_whose_frames_keep_their_annotations_writes_them_all():
    propagator, written = _clip({0: _car(5), 6: _car(5)}, 7)
    result = propagator.run(PropagationRequest(1, "c", 0, bridge=True), Context())
    assert sorted(written) == [1, 2, 3, 4, 5] and not result.get("superseded")


def test_a_frame_opened_while_the_human_frame_before_it_changes_is_not_filled_from_the_old_annotation(tmp_path):
    from PIL import Image

    for k in range(2):
        Image.fromarray(np.full((20, 40, 3), 128, np.uint8)).save(tmp_path / f"f{k}.png")
    settings = Settings.from_env(SETTINGS, local_roots=(tmp_path,))
    rows = [{"id": 1 + k, "data": {"clip": "c", "frame": k, "image": str(tmp_path / f"f{k}.png")},
             "total_annotations": 1 - k} for k in range(2)]
    propagator = Propagator(Studio(settings.label_studio_url, "x"), ImageSource.from_settings(settings))
    propagator.clip_tasks = lambda project, clip, waited_for=False: rows
    propagator.locks.ensure_reachable = lambda: None
    annotation = {"result": _car(5)}

    def latest(task_id: int) -> list[dict[str, Any]]:
        found = annotation["result"]
        annotation["result"] = []  # saved right after this read: every object left frame 0
        return found

    propagator.latest_annotation = latest
    propagator.annotated_now = lambda task_id: False
    written: list[int] = []
    propagator.studio.own_predictions = lambda task_id, prefix, **kwargs: []
    propagator.studio.replace_predictions = lambda task_id, *args, **kwargs: written.append(task_id)
    assert propagator.answer_on_open(1, rows[1], TARGET, "flow") is None
    assert written == []


def test_a_clip_s_propagating_prelabel_runs_in_the_line_of_the_clip_s_webhook_jobs():
    from samvid.app import create_app
    from samvid.jobs import JobStatus, ThreadJobs
    from samvid.models.standin import StandInSegmenter
    from samvid.predictor import Predictor
    from samvid.prelabel import PrelabelRequest

    class Recorded(ThreadJobs):
        """Records the keys of the jobs submitted, running none."""

        keys: list[str]

        def submit(self, kind: str, key: str, payload: dict[str, Any], order: int | str = 0) -> JobStatus:
            self.keys.append(key)
            return JobStatus(id="j", kind=kind, key=key)

    settings = Settings.from_env(SETTINGS, model="standin", precompute_on_open=False)
    jobs = Recorded(settings)
    jobs.keys = []
    client = create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter(radius=10)),
                        jobs).test_client()
    task = {"id": 5, "project": 3, "data": {"clip": "walk", "frame": 0, "image": "/f0.png"}}
    assert client.post("/webhook", json={"action": "ANNOTATION_UPDATED", "annotation": {"id": 1, "result": []},
                                         "task": task}).status_code == 201
    assert PrelabelRequest(3, "walk", mode="propagate").key == jobs.keys[-1]
    # Automatic masks write no frame a propagation writes: they hold up no webhook job.
    assert PrelabelRequest(3, "walk", mode="auto").key != jobs.keys[-1]


class _Studio:
    """Label Studio's answers to a job's reads and writes of a clip's frame tasks (task id =
    frame + 1), as it gives them over HTTP: ``gone`` tasks are deleted, a prediction for one
    refused with 400 "Invalid pk"; ``refused`` tasks refuse it with 400 though they exist."""

    def __init__(self, human: dict[int, list[dict[str, Any]]], gone: set[int], refused: frozenset[int] = frozenset()) -> None:
        self.human, self.gone, self.refused = human, gone, refused
        self.written: list[int] = []

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        import httpx

        path = url.split("127.0.0.1:9", 1)[1]
        if path.startswith("/api/projects/"):
            return httpx.Response(200, json={"label_config": CONFIG})
        if path.endswith("/annotations"):
            frame = int(path.split("/")[3]) - 1
            if frame + 1 in self.gone:
                return httpx.Response(404, json={"detail": "Not found."})
            return httpx.Response(200, json=[{"id": frame, "result": self.human[frame], "was_cancelled": False}]
                                  if frame in self.human else [])
        if method == "GET":  # a task's predictions
            return httpx.Response(200, json=[])
        task = kwargs["json"]["task"]
        if task in self.gone or task in self.refused:
            return httpx.Response(400, json={"task": ["Invalid pk"]})
        self.written.append(task - 1)
        return httpx.Response(201, json={"id": 100 + task})


def _over_http(monkeypatch: Any, ls: _Studio, frames: int) -> Propagator:
    import httpx

    monkeypatch.setattr(httpx.Client, "request", lambda self, method, url, **kwargs: ls.request(method, url, **kwargs))
    settings = Settings.from_env(SETTINGS)
    propagator = Propagator(Studio(settings.label_studio_url, "x"), ImageSource.from_settings(settings))
    propagator.clip_tasks = lambda project, clip, waited_for=False: [
        {"id": 1 + f, "data": {"clip": "c", "frame": f, "image": f"/f{f}.png"},
         "total_annotations": int(f in ls.human)} for f in range(frames)]
    images = [np.full((20, 40, 3), 100, np.uint8) for _ in range(frames)]
    propagator._span = lambda walk, target, all_frames: (images[: len(walk)], {i: t["id"] for i, t in enumerate(walk)})
    return propagator


def test_a_frame_task_deleted_after_its_check_is_passed_over_and_the_job_writes_the_others(monkeypatch):
    # Deleted between the job's check of it and its write: Label Studio refuses the write.
    ls = _Studio({0: _car(5)}, gone=set())
    propagator = _over_http(monkeypatch, ls, 6)
    checked = propagator.annotated_now

    def check_then_delete(task_id: int) -> bool:
        found = checked(task_id)
        if task_id == 3:
            ls.gone.add(3)
        return found

    propagator.annotated_now = check_then_delete
    result = propagator.run(PropagationRequest(1, "c", 0, frames=5), Context())
    assert ls.written == [1, 3, 4, 5]
    assert result["frames_written"] == 4


def test_a_write_refused_for_a_frame_task_that_still_exists_fails_the_job(monkeypatch):
    from samvid.errors import StudioError

    propagator = _over_http(monkeypatch, _Studio({0: _car(5)}, gone=set(), refused=frozenset({3})), 6)
    with pytest.raises(StudioError, match="Invalid pk"):
        propagator.run(PropagationRequest(1, "c", 0, frames=5), Context())


def _opened(monkeypatch: Any, ls: _Studio, deleted: bool) -> Propagator:
    """A propagator over a clip of two frames whose second is opened: its masks are ready
    (``on_demand``); with ``deleted`` the task is deleted in Label Studio right after the
    check that no job wrote it."""
    from samvid.propagation import OnOpen

    propagator = _over_http(monkeypatch, ls, 2)
    propagator.on_demand = lambda project, task, target, engine: OnOpen(_car(7), 0.9, 1, _car(5))
    checked = propagator.studio.own_predictions

    def check_then_delete(task_id: int, prefix: str, **kwargs: Any) -> list[dict[str, Any]]:
        found = checked(task_id, prefix, **kwargs)
        if deleted:
            ls.gone.add(task_id)
        return found

    propagator.studio.own_predictions = check_then_delete
    return propagator


def _handed_off() -> None:
    """Wait for the threads that hold opened frames' locks until their answers are stored."""
    import threading

    for thread in threading.enumerate():
        if thread.name == "samvid-answer-stored":
            thread.join(10)


def test_an_answer_on_open_that_label_studio_does_not_store_is_written_by_samvid(monkeypatch):
    # Label Studio's request failed after /predict answered: the frame keeps its masks.
    ls = _Studio({0: _car(5)}, gone=set())
    answer = _opened(monkeypatch, ls, deleted=False).answer_on_open(
        1, {"id": 2, "data": {"clip": "c", "frame": 1}}, TARGET, "flow", stored_within=0.2)
    assert answer is not None and answer.result == _car(7)
    _handed_off()
    assert ls.written == [1]


def test_a_frame_deleted_while_it_is_opened_gets_nothing_written_and_is_no_error(monkeypatch):
    ls = _Studio({0: _car(5)}, gone=set())
    _opened(monkeypatch, ls, deleted=True).answer_on_open(
        1, {"id": 2, "data": {"clip": "c", "frame": 1}}, TARGET, "flow", stored_within=0.2)
    _handed_off()
    assert ls.written == []


def test_a_prelabel_whose_stretch_is_superseded_lists_it_as_not_propagated_and_goes_on():
    from samvid.prelabel import Prelabeler, PrelabelRequest

    propagator, _ = _clip({0: _car(5), 4: _car(5)}, 8)
    rows = propagator.clip_tasks(1, "c")
    runs: list[int] = []
    said = "stopped after 1 frame(s): frame 0's annotation changed while this job ran; frames 2-3 left unwritten"

    def run(req: PropagationRequest, ctx: Any) -> dict[str, Any]:
        runs.append(req.frame)
        if req.frame == 0:  # frame 0 corrected while its stretch was filled
            ctx.note(said)
            return {"frames_written": 1, "frames_empty": 0, "superseded": True}
        return {"frames_written": 3, "frames_empty": 0}

    propagator.run = run
    prelabeler = Prelabeler(propagator.studio, lambda: None, propagator)
    prelabeler.tasks = lambda req: rows
    marked: list[tuple[str, int]] = []
    prelabeler._mark_done = lambda task_id, engine: marked.append(("done", task_id))
    prelabeler._mark_undone = lambda task_id, ends=(): marked.append(("undone", task_id))
    prelabeler._annotated_inside = lambda req, run: False
    ctx = Context()
    result = prelabeler.run(PrelabelRequest(1, "c", mode="propagate", force=True), ctx)
    assert runs == [0, 4]
    # Frames are left unwritten, and no other job is sure to fill them: the command exits 1,
    # and the stretch is not marked done, its last frame's mark taken off (the next run fills it).
    assert result["not_propagated"] == ["c:0"] and result["propagations"] == 1
    assert result["frames_written"] == 4
    assert marked == [("undone", 4), ("done", 8)]
    # The propagation's note says which frames; the job's last says what to run.
    assert ctx.notes[0] == said and len(ctx.notes) == 2
    assert "run the same samvid prelabel command again" in ctx.notes[1]
