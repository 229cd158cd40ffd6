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
from samvid.errors import BadRequest
from samvid.images import ImageSource
from samvid.propagation import PropagationRequest, Propagator
from samvid.studio.client import Studio
from samvid.studio.results import brush_result, decode_brush

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


def annotate_objects(ls, task_id: int, masks: dict[str, np.ndarray]) -> None:
    """One annotation holding a brush region per ``region id: mask``."""
    from samvid.studio.results import brush_result

    regions = []
    for region_id, mask in masks.items():
        region = brush_result(mask, from_name="tag", to_name="image", labels=["Car"], region_id=region_id)
        region.pop("origin")
        regions.append(region)
    requests.post(f"{ls.url}/api/tasks/{task_id}/annotations", headers=ls.headers, timeout=30,
                  json={"result": regions}).raise_for_status()


def test_objects_propagated_in_groups_each_keep_their_masks_on_every_frame(label_studio):
    # A frame with more objects than a job takes is propagated in groups ('objects'), as
    # the refusal says: each group's job used to replace the frame's prediction with its
    # own objects only, erasing the group before.
    clip = import_clip(label_studio, BRUSH_CONFIG, name="groups", n=4)
    ids = clip.task_ids
    patch = np.zeros_like(clip.masks[0])
    patch[10:30, 90:110] = True
    annotate_objects(label_studio, ids[0], {"walker": clip.masks[0], "patch": patch})
    images = ImageSource(label_studio.url, label_studio.token, local_roots=(label_studio.files_root,))
    propagator = Propagator(Studio(label_studio.url, label_studio.token), images)
    for group in (("walker",), ("patch",)):
        propagator.run(PropagationRequest(clip.project, "groups", 0, engine="copy", objects=group), Recorder())
    for i in (1, 2, 3):
        (pred,) = predictions(label_studio, ids[i])
        by_id = {r["id"]: r for r in pred["result"]}
        assert set(by_id) == {"walker", "patch"}, f"frame {i}"
        assert np.array_equal(decode_brush(by_id["walker"]), clip.masks[0]), f"frame {i}"
        assert np.array_equal(decode_brush(by_id["patch"]), patch), f"frame {i}"
    # Propagating a group again replaces that group's masks, not a second copy beside them.
    moved = np.zeros_like(patch)
    moved[40:60, 10:30] = True
    annotate_objects(label_studio, ids[0], {"walker": moved, "patch": patch})
    propagator.run(PropagationRequest(clip.project, "groups", 0, engine="copy", objects=("walker",)), Recorder())
    (pred,) = predictions(label_studio, ids[2])
    by_id = {r["id"]: r for r in pred["result"]}
    assert len(pred["result"]) == 2 and set(by_id) == {"walker", "patch"}
    assert np.array_equal(decode_brush(by_id["walker"]), moved)
    assert np.array_equal(decode_brush(by_id["patch"]), patch)


def test_a_frame_held_by_two_tasks_propagates_from_the_one_a_human_annotated(label_studio):
    # Label Studio's "Duplicate tasks" (or a second import) gives a clip two tasks for
    # one frame: the job read the unannotated one and failed ("no annotation").
    clip = import_clip(label_studio, BRUSH_CONFIG, name="duplicated", n=4)
    ids = clip.task_ids
    data = requests.get(f"{label_studio.url}/api/tasks/{ids[0]}", headers=label_studio.headers,
                        timeout=30).json()["data"]
    reply = requests.post(f"{label_studio.url}/api/projects/{clip.project}/import", headers=label_studio.headers,
                          params={"return_task_ids": "true"}, json=[data], timeout=60)
    reply.raise_for_status()
    (copy,) = reply.json()["task_ids"]
    annotate(label_studio, copy, clip.masks[0], region_id="walker")
    images = ImageSource(label_studio.url, label_studio.token, local_roots=(label_studio.files_root,))
    result = Propagator(Studio(label_studio.url, label_studio.token), images).run(
        PropagationRequest(clip.project, "duplicated", 0, engine="copy"), Recorder())
    assert result == {"frames_written": 3, "frames_empty": 0}
    for i in (1, 2, 3):
        (pred,) = predictions(label_studio, ids[i])
        assert np.array_equal(mask_of(pred), clip.masks[0]), f"frame {i}"


def test_asking_for_an_object_the_frame_does_not_hold_names_the_objects_it_has(label_studio):
    # It said "frame 0 has no mask to propagate", which sends the user to redraw a mask
    # that is there, not to fix the object id.
    from samvid.errors import BadRequest

    clip = import_clip(label_studio, BRUSH_CONFIG, name="unknown object", n=3)
    annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")
    images = ImageSource(label_studio.url, label_studio.token, local_roots=(label_studio.files_root,))
    with pytest.raises(BadRequest) as refused:
        Propagator(Studio(label_studio.url, label_studio.token), images).run(
            PropagationRequest(clip.project, "unknown object", 0, engine="copy", objects=("walkr",)), Recorder())
    assert "walkr" in refused.value.message and "walker" in refused.value.message
    assert "no mask" not in refused.value.message


def test_a_bridged_job_whose_other_human_frame_is_deleted_as_it_starts_fills_the_stretch_from_its_frame(
        label_studio):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="other end deleted", n=5)
    ids = clip.task_ids
    annotate(label_studio, ids[0], clip.masks[0], region_id="walker")
    annotate(label_studio, ids[4], clip.masks[4], region_id="walker")
    studio = Studio(label_studio.url, label_studio.token)

    class DeletingTheOtherEnd(Propagator):
        """Deletes frame 4's task just before the job reads its annotation, as a user might."""

        deleted = False

        def annotations(self, task_id: int) -> list[dict]:
            if task_id == ids[4] and not self.deleted:
                studio.request("DELETE", f"/api/tasks/{task_id}/", "delete a task")
                self.deleted = True
            return super().annotations(task_id)

    images = ImageSource(label_studio.url, label_studio.token, local_roots=(label_studio.files_root,))
    result = DeletingTheOtherEnd(studio, images).run(
        PropagationRequest(clip.project, "other end deleted", 0, engine="copy", bridge=True), Recorder())
    assert result == {"frames_written": 3, "frames_empty": 0}
    for i in (1, 2, 3):
        (pred,) = predictions(label_studio, ids[i])
        assert np.array_equal(mask_of(pred), clip.masks[0]), f"frame {i}"


def test_a_task_of_the_clip_without_a_frame_number_is_no_frame_of_it(label_studio):
    # A task imported by hand into the clip with "frame": null made every open of the
    # clip's frames a 500 (sorting on int(None)).
    clip = import_clip(label_studio, BRUSH_CONFIG, name="odd-frame", n=2)
    studio = Studio(label_studio.url, label_studio.token)
    studio.create_tasks(clip.project, [{"image": "/data/x.png", "clip": clip.name, "frame": frame}
                                       for frame in (None, "one", True, 1.5, -1)])
    propagator = Propagator(studio, ImageSource(label_studio.url, label_studio.token))
    assert [t["id"] for t in propagator.clip_tasks(clip.project, clip.name)] == clip.task_ids
    # A CSV import makes every value a string: "10" is frame 10, after "9", as export reads it.
    studio.create_tasks(clip.project, [{"image": f"/data/{f}.png", "clip": "from-csv", "frame": f}
                                       for f in ("10", "9")])
    assert [t["data"]["frame"] for t in propagator.clip_tasks(clip.project, "from-csv")] == ["9", "10"]


def test_propagating_past_a_frame_whose_image_cannot_be_read_says_so_and_exits_1(
        label_studio, monkeypatch, capsys):
    # The tracker passes over the frame and fills the ones after it: the command said
    # "done: 3 frames" and exited 0, a script took the clip for filled.
    clip = import_clip(label_studio, BRUSH_CONFIG, name="unreadable", n=5)
    annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")
    lost = label_studio.files_root / f"p{clip.project}-unreadable" / "00002.png"
    lost.rename(lost.with_suffix(".bak"))
    try:
        monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
        monkeypatch.setenv("SAMVID_LOCAL_ROOTS", str(label_studio.files_root))
        code = main(["propagate", "--project", str(clip.project), "--clip", "unreadable",
                     "--from-frame", "0", "--engine", "copy"])
    finally:
        lost.with_suffix(".bak").rename(lost)
    assert code == 1
    out, err = capsys.readouterr()
    assert "done: 3 frames" in out
    assert "1 frame(s) of clip 'unreadable' got no prediction" in err
    assert [len(predictions(label_studio, t)) for t in clip.task_ids[1:]] == [1, 0, 1, 1]


def test_submitting_a_frame_the_object_has_left_clears_samvids_masks_after_it(label_studio):
    # The annotator deleted the object's mask on frame 3 (it left the scene): the job
    # failed "no mask to propagate" and frames 4 and 5 kept the stale masks from frame 0.
    from clips import studio_app

    clip = import_clip(label_studio, BRUSH_CONFIG, name="object gone", n=6)
    ids = clip.task_ids
    with ServedApp(studio_app(label_studio, tracker="copy")) as backend:
        connect(label_studio, clip.project, backend)
        jobs = backend.app.extensions["samvid.jobs"]
        annotate(label_studio, ids[0], clip.masks[0], region_id="walker")
        jobs_finished(jobs, 1)
        before = {i: predictions(label_studio, ids[i]) for i in range(1, 6)}
        assert all(len(p) == 1 for p in before.values()), before
        requests.post(f"{label_studio.url}/api/tasks/{ids[3]}/annotations", headers=label_studio.headers,
                      json={"result": []}, timeout=30).raise_for_status()

        def both_ended() -> dict | None:  # failed ones too: jobs_finished waits for "done"
            states = jobs.states()
            idle = states["queued"] + states["running"] == 0
            return states if idle and states["done"] + states["failed"] + states["cancelled"] >= 2 else None

        ended = wait_until(both_ended, what="the second job to end")
        assert ended["failed"] == 0 and ended["done"] == 2, ended
    assert predictions(label_studio, ids[4]) == [] and predictions(label_studio, ids[5]) == []
    assert [predictions(label_studio, ids[i]) for i in (1, 2)] == [before[1], before[2]]
    (human,) = requests.get(f"{label_studio.url}/api/tasks/{ids[3]}/annotations", headers=label_studio.headers,
                            timeout=30).json()
    assert human["result"] == []


def propagated_from_frame_0(label_studio, name: str, n: int):
    """A clip whose frame 0 holds the walker, propagated over the rest; and its propagator."""
    clip = import_clip(label_studio, BRUSH_CONFIG, name=name, n=n)
    annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")
    images = ImageSource(label_studio.url, label_studio.token, local_roots=(label_studio.files_root,))
    propagator = Propagator(Studio(label_studio.url, label_studio.token), images)
    propagator.run(PropagationRequest(clip.project, name, 0, engine="copy"), Recorder())
    return clip, propagator


def submit(label_studio, task_id: int, result: list) -> None:
    requests.post(f"{label_studio.url}/api/tasks/{task_id}/annotations", headers=label_studio.headers,
                  json={"result": result}, timeout=30).raise_for_status()


def test_a_job_from_a_frame_with_no_objects_says_what_it_cleared(label_studio):
    clip, propagator = propagated_from_frame_0(label_studio, "gone note", 4)
    ids = clip.task_ids
    submit(label_studio, ids[1], [])
    notes: list[str] = []
    recorder = Recorder()
    recorder.note = notes.append  # type: ignore[method-assign]
    result = propagator.run(PropagationRequest(clip.project, "gone note", 1, engine="copy"), recorder)
    assert result == {"frames_written": 0, "frames_empty": 2}
    assert notes == ["frame 1 has no objects (every one left the view): samvid's masks removed from "
                     "the 2 frame(s) it bounds"]
    assert predictions(label_studio, ids[2]) == predictions(label_studio, ids[3]) == []


def test_a_frame_whose_regions_are_no_readable_mask_is_refused_and_clears_nothing(label_studio):
    # A smart click whose mask never came back (the backend was down) is no "object left":
    # taken as one, samvid's masks after it were removed.
    clip, propagator = propagated_from_frame_0(label_studio, "unread", 3)
    ids = clip.task_ids
    before = predictions(label_studio, ids[2])
    click = {"id": "k1", "from_name": "kp", "to_name": "image", "type": "keypointlabels",
             "original_width": 64, "original_height": 48,
             "value": {"x": 50.0, "y": 50.0, "width": 1.0, "keypointlabels": ["Car"]}}
    submit(label_studio, ids[1], [click])
    with pytest.raises(BadRequest, match="its regions are no masks samvid can read"):
        propagator.run(PropagationRequest(clip.project, "unread", 1, engine="copy"), Recorder())
    assert predictions(label_studio, ids[2]) == before != []


def test_an_empty_frames_bridged_job_tracks_the_next_human_frames_object_back_fading_it_out_towards_it(label_studio):
    # Left to the far end's job, the stale masks stayed (and prelabel said to run again, for
    # ever); tracked from the far end with the empty frame read as an open one, its object was
    # drawn right up to the frame the annotator said it had left. The empty frame is a given
    # end where the object is absent.
    clip, propagator = propagated_from_frame_0(label_studio, "empty bridge", 5)
    ids = clip.task_ids
    annotate(label_studio, ids[4], clip.masks[4], region_id="walker")
    # The object's strokes erased on frame 1 (a brush region of no pixel): read, as no object.
    submit(label_studio, ids[1], [brush_result(np.zeros_like(clip.masks[1]), from_name="tag", to_name="image",
                                               labels=["Car"])])
    result = propagator.run(PropagationRequest(clip.project, "empty bridge", 1, engine="copy", bridge=True),
                            Recorder())
    assert result == {"frames_written": 1, "frames_empty": 1}
    assert predictions(label_studio, ids[2]) == [] and predictions(label_studio, ids[3]) != []
