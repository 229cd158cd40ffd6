"""Propagation where Label Studio's state is less than tidy, against a real Label Studio:
skipped frames, a frame relabelled between two others, a frame task deleted while its
job runs, and progress over the source video's frames."""

from __future__ import annotations

import numpy as np
import pytest
import requests
from clips import annotate, import_clip, import_sparse_clip, iou, predictions
from ls_requests import BRUSH_CONFIG
from services import ServedApp, wait_until
from test_propagation_studio import connect, jobs_finished, mask_of

from samvid.cli import main
from samvid.images import ImageSource
from samvid.propagation import PropagationRequest, Propagator
from samvid.studio.client import Studio

pytestmark = pytest.mark.studio


def skip(ls, task_id: int) -> None:
    """What Label Studio's *Skip* button stores: a cancelled, empty annotation."""
    requests.post(f"{ls.url}/api/tasks/{task_id}/annotations", headers=ls.headers, timeout=30,
                  json={"result": [], "was_cancelled": True}).raise_for_status()


def propagate(ls, monkeypatch, project: int, clip: str, frame: int, *args: str) -> None:
    monkeypatch.setenv("LABEL_STUDIO_URL", ls.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", ls.token)
    monkeypatch.setenv("SAMVID_LOCAL_ROOTS", str(ls.files_root))
    assert main(["propagate", "--project", str(project), "--clip", clip, "--from-frame", str(frame),
                 *args]) == 0


class Recorder:
    """A job context that keeps every progress report."""

    def __init__(self) -> None:
        self.reports: list[tuple[int, int]] = []
        self.fps: list[float] = []

    def progress(self, frames_done: int, frames_total: int, fps: float) -> None:
        self.reports.append((frames_done, frames_total))
        self.fps.append(fps)

    def note(self, text: str) -> None:
        pass

    def cancelled(self) -> bool:
        return False


def test_a_skipped_frame_starts_no_propagation(label_studio):
    from clips import studio_app

    clip = import_clip(label_studio, BRUSH_CONFIG, name="skipped", n=4)
    with ServedApp(studio_app(label_studio)) as backend:
        connect(label_studio, clip.project, backend)
        skip(label_studio, clip.task_ids[0])
        annotate(label_studio, clip.task_ids[2], clip.masks[2], region_id="walker")
        jobs = backend.app.extensions["samvid.jobs"]
        jobs_finished(jobs, 1)
        states = jobs.states()
    assert states["failed"] == 0 and states["done"] == 1, states
    assert predictions(label_studio, clip.task_ids[3]), "the annotated frame still propagates"


def test_a_frame_with_a_live_annotation_and_a_skip_is_a_human_frame(label_studio, monkeypatch):
    # Label Studio counts the skip apart from the live annotation; counting it against
    # the live one made frame 3 look unannotated, so the bridge ran past it.
    clip = import_clip(label_studio, BRUSH_CONFIG, name="skip-and-live", n=6)
    ids = clip.task_ids
    patch = np.zeros_like(clip.masks[3])
    patch[10:30, 90:110] = True
    annotate(label_studio, ids[0], clip.masks[0], region_id="walker")
    annotate(label_studio, ids[3], patch, region_id="walker")
    skip(label_studio, ids[3])
    propagate(label_studio, monkeypatch, clip.project, "skip-and-live", 0, "--bridge", "--engine", "copy")
    # copy follows the nearer human frame of a bridged stretch: frame 2 is frame 3's.
    (pred1,), (pred2,) = predictions(label_studio, ids[1]), predictions(label_studio, ids[2])
    assert np.array_equal(mask_of(pred1), clip.masks[0])
    assert np.array_equal(mask_of(pred2), patch)
    assert predictions(label_studio, ids[3]) == [] and predictions(label_studio, ids[4]) == []


def test_a_bridged_correction_names_each_object_as_the_corrected_frame_does(label_studio, monkeypatch):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="relabelled", n=5)
    ids = clip.task_ids
    annotate(label_studio, ids[0], clip.masks[0], label="Person", region_id="walker")
    annotate(label_studio, ids[4], clip.masks[4], label="Person", region_id="walker")
    annotate(label_studio, ids[2], clip.masks[2], label="Car", region_id="walker")  # the correction
    propagate(label_studio, monkeypatch, clip.project, "relabelled", 2, "--bridge", "--engine", "copy")
    for i in (1, 3):
        (pred,) = predictions(label_studio, ids[i])
        (region,) = pred["result"]
        assert region["value"]["brushlabels"] == ["Car"], f"frame {i}"


def test_a_bridged_stretch_to_an_object_drawn_again_from_scratch_keeps_it_on_every_frame(
        label_studio, monkeypatch):
    # Frame 4 was drawn from scratch (a new region id): both ends hold the same car. As two
    # objects, each end was sure the other's was absent: the middle frame got neither (any
    # engine less sure of itself than copy), and the others two names for one car.
    clip = import_clip(label_studio, BRUSH_CONFIG, name="redrawn", n=5)
    ids = clip.task_ids
    annotate(label_studio, ids[0], clip.masks[0], region_id="car")
    annotate(label_studio, ids[4], clip.masks[4], region_id="car-drawn-again")
    propagate(label_studio, monkeypatch, clip.project, "redrawn", 4, "--bridge", "--engine", "flow")
    for i in (1, 2, 3):
        (pred,) = predictions(label_studio, ids[i])
        (region,) = pred["result"]
        assert region["id"] == "car-drawn-again", f"frame {i}: named as the corrected frame"
        assert iou(mask_of(pred), clip.masks[i]) > 0.8, f"frame {i}"


def test_after_a_human_annotation_is_deleted_propagating_the_frame_before_it_recomputes_its_frames(
        label_studio, monkeypatch):
    # Label Studio's ANNOTATIONS_DELETED names only the annotation's id, not its task:
    # samvid cannot tell which frames came from it. The documented remedy is to propagate
    # from the human frame before it again, over the deleted one up to the next human frame.
    clip = import_clip(label_studio, BRUSH_CONFIG, name="deleted-annotation", n=6)
    ids = clip.task_ids
    patch = np.zeros_like(clip.masks[2])
    patch[10:30, 90:110] = True
    annotate(label_studio, ids[0], clip.masks[0], region_id="walker")
    wrong = annotate(label_studio, ids[2], patch, region_id="walker")
    propagate(label_studio, monkeypatch, clip.project, "deleted-annotation", 2, "--engine", "copy")
    assert np.array_equal(mask_of(predictions(label_studio, ids[4])[0]), patch)
    requests.delete(f"{label_studio.url}/api/annotations/{wrong}", headers=label_studio.headers,
                    timeout=30).raise_for_status()
    propagate(label_studio, monkeypatch, clip.project, "deleted-annotation", 0, "--engine", "copy")
    for i in range(1, 6):
        (pred,) = predictions(label_studio, ids[i])
        assert np.array_equal(mask_of(pred), clip.masks[0]), f"frame {i}"


def test_a_frame_task_deleted_while_its_job_runs_is_skipped_and_the_others_written(label_studio):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="deleted", n=6)
    ids = clip.task_ids
    annotate(label_studio, ids[0], clip.masks[0], region_id="walker")
    studio = Studio(label_studio.url, label_studio.token)

    class DeletingOne(Propagator):
        """Deletes frame 3's task just before the job looks at it, as a user might."""

        def annotated_now(self, task_id: int) -> bool:
            if task_id == ids[3]:
                studio.request("DELETE", f"/api/tasks/{task_id}/", "delete a task")
            return super().annotated_now(task_id)

    images = ImageSource(label_studio.url, label_studio.token, local_roots=(label_studio.files_root,))
    result = DeletingOne(studio, images).run(
        PropagationRequest(clip.project, "deleted", 0, engine="copy"), Recorder())
    assert result == {"frames_written": 4, "frames_empty": 0}
    for i in (1, 2, 4, 5):
        assert len(predictions(label_studio, ids[i])) == 1, f"frame {i}"


def test_progress_over_all_frames_counts_the_source_videos_frames(label_studio):
    project, ids, masks = import_sparse_clip(label_studio, BRUSH_CONFIG, "sparse progress", [0, 9])
    annotate(label_studio, ids[0], masks[0], region_id="walker")
    images = ImageSource(label_studio.url, label_studio.token, local_roots=(label_studio.files_root,))
    ctx = Recorder()
    Propagator(Studio(label_studio.url, label_studio.token), images).run(
        PropagationRequest(project, "sparse", 0, engine="copy", all_frames=True), ctx)
    wait_until(lambda: predictions(label_studio, ids[1]), what="the last frame's prediction")
    assert {total for _, total in ctx.reports} == {10}, "the video's 10 frames, not its 2 tasks"
    done = [d for d, _ in ctx.reports]
    assert done == sorted(done) and done[-1] == 10 and done.count(10) <= 2, "it reaches the end at the end"
    assert ctx.fps[-1] > 0, "a finished job keeps its frames/s"
