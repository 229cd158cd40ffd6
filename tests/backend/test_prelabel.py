"""Batch pre-labelling against a real Label Studio: automatic masks (from a segmenter
whose everything mode answers one known square) and propagation (the model-free flow
tracker on a synthetic clip with exact masks). Human frames are never touched, and an
interrupted job resumes where it stopped."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import requests
from clips import annotate, import_clip, iou, predictions
from ls_requests import BRUSH_CONFIG

from samvid.automatic import AUTO_MODEL_PREFIX
from samvid.core.segmenter import Embedding, MaskPrediction, Segmenter
from samvid.embeddings import EmbeddingCache, MemoryCache
from samvid.errors import BadRequest
from samvid.images import ImageSource
from samvid.jobs import PAYLOAD_VERSIONS
from samvid.predictor import Predictor
from samvid.prelabel import PRELABEL_KEYS, Prelabeler, PrelabelRequest, parse_frames
from samvid.propagation import Propagator
from samvid.studio.client import Studio
from samvid.studio.results import decode_brush
from samvid.tracker import engines
from samvid.tracker.baselines import CopyFirstEngine, _CopyRun, _result

pytestmark = pytest.mark.studio

SQUARE = (slice(20, 50), slice(40, 70))  # what the square segmenter finds in every frame


class SquareSegmenter(Segmenter):
    """Everything mode that sees one sure 30x30 square wherever it is clicked."""

    version = "square"
    supports_everything = True

    def embed(self, image: np.ndarray) -> Embedding:
        return Embedding(self.version, image.shape[:2])

    def decode_points(self, emb: Embedding, points: np.ndarray):
        logits = np.full((len(points), 1, *emb.image_size), -8.0, np.float32)
        logits[:, 0, SQUARE[0], SQUARE[1]] = 8.0
        return logits, np.full((len(points), 1), 0.95, np.float32)

    def segment(self, embedding: Embedding, prompt) -> MaskPrediction:
        raise NotImplementedError


class Stopper:
    """A job context that asks the job to stop after ``after`` frames."""

    def __init__(self, after: int | None = None) -> None:
        self.after, self.done = after, 0
        self.notes: list[str] = []

    def progress(self, frames_done: int, frames_total: int, fps: float) -> None:
        self.done = frames_done

    def note(self, text: str) -> None:
        self.notes.append(text)

    def cancelled(self) -> bool:
        return self.after is not None and self.done >= self.after


def prelabeler(ls) -> Prelabeler:
    studio = Studio(ls.url, ls.token)
    images = ImageSource(ls.url, ls.token, local_roots=(ls.files_root,))
    return Prelabeler(studio, lambda: Predictor(SquareSegmenter(), EmbeddingCache(MemoryCache(1 << 26)), images),
                      Propagator(studio, images))


def own(ls, task_id: int, prefix: str) -> list[dict]:
    return [p for p in predictions(ls, task_id) if p["model_version"].startswith(prefix)]


def test_auto_prelabel_resumes_and_never_touches_human_frames(label_studio):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-auto", n=6)
    ids = clip.task_ids
    annotate(label_studio, ids[2], clip.masks[2])
    runner = prelabeler(label_studio)
    first = runner.run(PrelabelRequest(clip.project, mode="auto", grid=4), Stopper(after=2))
    assert first["cancelled"] and first["tasks_written"] == 2
    kept = {t: [p["id"] for p in own(label_studio, t, AUTO_MODEL_PREFIX)] for t in ids[:2]}
    assert all(len(v) == 1 for v in kept.values())

    second = runner.run(PrelabelRequest(clip.project, mode="auto", grid=4), Stopper())
    assert second == {"tasks_written": 3, "skipped_human": 1, "skipped_done": 2, "not_labelled": []}
    for t in ids[:2]:  # resumed: what was done is not redone
        assert [p["id"] for p in own(label_studio, t, AUTO_MODEL_PREFIX)] == kept[t]
    assert predictions(label_studio, ids[2]) == []
    square = np.zeros_like(clip.masks[0])
    square[SQUARE] = True
    for t in ids[:2] + ids[3:]:
        (pred,) = own(label_studio, t, AUTO_MODEL_PREFIX)
        (region,) = pred["result"]
        assert region["value"]["brushlabels"] == ["Car"]  # the project's first label
        assert (decode_brush(region) == square).all()


def test_propagate_prelabel_fills_each_human_frames_followers_within_the_range(label_studio):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-propagate", n=8)
    ids = clip.task_ids
    annotate(label_studio, ids[0], clip.masks[0], region_id="walker")
    annotate(label_studio, ids[4], clip.masks[4], region_id="walker")
    runner = prelabeler(label_studio)
    req = PrelabelRequest(clip.project, clip="prelabel-propagate", first=0, end=7, mode="propagate")
    result = runner.run(req, Stopper())
    assert result == {"frames_written": 5, "propagations": 2, "not_propagated": []}
    for i in (1, 2, 3, 5, 6):
        (pred,) = own(label_studio, ids[i], "samvid-track")
        # Which frames get masks is the question here; the tracker's accuracy is tested
        # in tests/tracker (it is lower right after frame 4 on this panning clip).
        assert iou(decode_brush(pred["result"][0]), clip.masks[i]) > 0.5, f"frame {i}"
    assert predictions(label_studio, ids[7]) == []  # outside --frames 0:7
    for human in (ids[0], ids[4]):
        assert predictions(label_studio, human) == []
    again = runner.run(req, Stopper())  # resumed: nothing left to do
    assert again == {"frames_written": 0, "propagations": 0, "not_propagated": []}


def test_propagate_prelabel_rerun_completes_an_interrupted_stretch(label_studio):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-resume", n=8)
    ids = clip.task_ids
    annotate(label_studio, ids[0], clip.masks[0], region_id="walker")
    runner = prelabeler(label_studio)
    req = PrelabelRequest(clip.project, clip="prelabel-resume", mode="propagate", engine="copy")
    first = runner.run(req, Stopper(after=3))
    assert first["cancelled"] and predictions(label_studio, ids[7]) == []
    runner.run(req, Stopper())
    for i in range(1, 8):
        assert len(own(label_studio, ids[i], "samvid-track")) == 1, f"frame {i}"


def test_propagate_prelabel_rerun_propagates_from_a_frame_annotated_inside_a_filled_stretch(label_studio):
    """Frame 4 is annotated after frames 1-7 were filled from frame 0 (no webhook told samvid):
    the rerun fills 5-7 from frame 4; 1-3, filled from frame 0 as it still is, stay done."""
    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-newer", n=8)
    ids = clip.task_ids
    annotate(label_studio, ids[0], clip.masks[0], region_id="walker")
    req = PrelabelRequest(clip.project, mode="propagate", engine="copy")
    prelabeler(label_studio).run(req, Stopper())
    annotate(label_studio, ids[4], clip.masks[4], region_id="walker")
    again = prelabeler(label_studio).run(req, Stopper())
    assert again == {"frames_written": 3, "propagations": 1, "not_propagated": []}
    for i in (5, 6, 7):
        (pred,) = own(label_studio, ids[i], "samvid-track")
        assert (decode_brush(pred["result"][0]) == clip.masks[4]).all(), f"frame {i}"
    assert prelabeler(label_studio).run(req, Stopper())["propagations"] == 0


def test_propagate_prelabel_after_the_webhook_filled_every_stretch_redoes_nothing(label_studio):
    """As the webhook does (forward only): frame 0 submitted and propagated, then frame 4.
    The stretch 0-3 was filled before frame 4 was annotated, and is still done."""
    from samvid.propagation import PropagationRequest

    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-after-webhook", n=8)
    ids = clip.task_ids
    runner = prelabeler(label_studio)
    for frame in (0, 4):
        annotate(label_studio, ids[frame], clip.masks[frame], region_id="walker")
        runner.propagator.run(PropagationRequest(clip.project, clip.name, frame, engine="copy"), Stopper())
    req = PrelabelRequest(clip.project, mode="propagate", engine="copy")
    assert runner.run(req, Stopper())["propagations"] == 0


def test_propagate_prelabel_goes_on_when_a_human_frame_is_deleted_while_it_checks(label_studio):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-deleted-human", n=8)
    ids = clip.task_ids
    for frame in (0, 4):
        annotate(label_studio, ids[frame], clip.masks[frame], region_id="walker")
    runner = prelabeler(label_studio)
    req = PrelabelRequest(clip.project, mode="propagate", engine="copy")
    runner.run(req, Stopper())
    listed = runner.studio.own_predictions

    def deleting_frame_4(task_id, prefix, **kw):  # the annotator deletes frame 4 as the job checks
        found = listed(task_id, prefix, **kw)
        requests.delete(f"{label_studio.url}/api/tasks/{ids[4]}/", headers=label_studio.headers, timeout=30)
        return found

    runner.studio.own_predictions = deleting_frame_4  # type: ignore[method-assign]
    result = runner.run(req, Stopper())
    assert result["not_propagated"] == [f"{clip.name}:4"]


class _LeavingRun(_CopyRun):
    """Copies the given masks; the objects have left the view from the walk's 4th frame."""

    def step(self, index, image, given):
        seen = super().step(index, image, given)
        return seen if index < 3 else {o: _result(np.zeros_like(r.mask)) for o, r in seen.items()}


class LeavingEngine(CopyFirstEngine):
    name = "leaving"

    def _new_run(self, state):
        return _LeavingRun()


def test_propagate_prelabel_rerun_skips_a_stretch_whose_object_left_the_view(label_studio, monkeypatch):
    """Frames 3-5 get no mask (the object left): the stretch is still done, not redone by
    every later run."""
    monkeypatch.setitem(engines.ENGINES, "leaving", LeavingEngine)
    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-leaving", n=6)
    ids = clip.task_ids
    annotate(label_studio, ids[0], clip.masks[0], region_id="walker")
    req = PrelabelRequest(clip.project, mode="propagate", engine="leaving")
    # Frames 1-2 given the mask; 3-5 reached with nothing to write, and not counted as written.
    assert prelabeler(label_studio).run(req, Stopper()) == {"frames_written": 2, "propagations": 1,
                                                             "not_propagated": []}
    kept = [p["id"] for t in ids for p in own(label_studio, t, "samvid-track")]
    assert prelabeler(label_studio).run(req, Stopper()) == {"frames_written": 0, "propagations": 0,
                                                             "not_propagated": []}
    assert [p["id"] for t in ids for p in own(label_studio, t, "samvid-track")] == kept
    assert all(len(own(label_studio, t, "samvid-track")) == 1 for t in ids[1:3])
    assert [p["result"] for p in own(label_studio, ids[5], "samvid-track")] == [[]]  # nothing there
    assert all(own(label_studio, t, "samvid-track") == [] for t in ids[3:5])


def test_propagate_prelabel_rerun_tracks_again_the_stretch_before_a_frame_every_object_left_since(label_studio):
    """Frames 1-7 filled from frame 0; then frame 5 is annotated with no object (the walker
    left). As a bridged submit of frame 5 would, the rerun tracks 1-4 again, the walker fading
    out towards frame 5: it was left drawn at full score right up to it."""
    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-left-since", n=8)
    ids = clip.task_ids
    annotate(label_studio, ids[0], clip.masks[0], region_id="walker")
    req = PrelabelRequest(clip.project, mode="propagate", engine="copy")
    runner = prelabeler(label_studio)
    runner.run(req, Stopper())
    assert own(label_studio, ids[4], "samvid-track")[0]["result"]
    requests.post(f"{label_studio.url}/api/tasks/{ids[5]}/annotations", headers=label_studio.headers,
                  json={"result": []}, timeout=30).raise_for_status()
    assert runner.run(req, Stopper())["propagations"] == 2  # the stretches before and after frame 5
    assert own(label_studio, ids[1], "samvid-track")[0]["result"], "next to frame 0: the walker"
    assert not any(p["result"] for p in own(label_studio, ids[4], "samvid-track")), "next to frame 5: gone"
    assert runner.run(req, Stopper())["propagations"] == 0


def test_propagate_prelabel_names_a_task_without_a_frame_index_instead_of_crashing(label_studio):
    project = label_studio.client().projects.create(title="prelabel nullframe", label_config=BRUSH_CONFIG)
    # Clip "c" has a human frame; clip "d", which nobody annotated, is never walked.
    data = [{"image": f"/data/local-files/?d=x/{n}.png", "frame": n, "clip": clip}
            for clip in ("c", "d") for n in (0, None, 2)]
    reply = requests.post(f"{label_studio.url}/api/projects/{project.id}/import", headers=label_studio.headers,
                          params={"return_task_ids": "true"}, json=data, timeout=60)
    reply.raise_for_status()
    first = sorted(reply.json()["task_ids"])[0]
    with_clip_d = PrelabelRequest(project.id, mode="propagate", engine="copy")
    assert prelabeler(label_studio).run(with_clip_d, Stopper())["propagations"] == 0
    annotate(label_studio, first, np.ones((4, 4), bool), region_id="walker")
    with pytest.raises(BadRequest, match=r"task \d+ has frame None.*index"):
        prelabeler(label_studio).run(PrelabelRequest(project.id, mode="propagate", engine="copy"), Stopper())


def test_propagate_prelabel_takes_a_human_frame_without_a_mask_as_no_object_and_fills_the_rest(label_studio):
    empty = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-empty", n=3)
    full = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-full", n=3)
    requests.post(f"{label_studio.url}/api/tasks/{empty.task_ids[0]}/annotations", headers=label_studio.headers,
                  json={"result": []}, timeout=30).raise_for_status()  # submitted with nothing drawn
    annotate(label_studio, full.task_ids[0], full.masks[0], region_id="walker")
    ctx = Stopper()
    for clip in (empty, full):
        result = prelabeler(label_studio).run(PrelabelRequest(clip.project, mode="propagate", engine="copy"), ctx)
        if clip is empty:
            # An answer (no object there), not a failure: nothing to draw on the frames after it.
            assert result["not_propagated"] == [] and "frame 0 has no objects" in ctx.notes[0]
    assert result == {"frames_written": 2, "propagations": 1, "not_propagated": []}
    assert all(len(own(label_studio, t, "samvid-track")) == 1 for t in full.task_ids[1:])
    assert not any(p["result"] for t in empty.task_ids for p in predictions(label_studio, t))


def test_auto_prelabel_skips_a_frame_whose_image_cannot_be_read_and_labels_the_rest(label_studio, caplog):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-lost", n=4)
    ids = clip.task_ids
    lost = label_studio.files_root / f"p{clip.project}-prelabel-lost" / "00001.png"
    lost.rename(lost.with_suffix(".bak"))  # frame 1's image is gone (a broken upload)
    runner, ctx = prelabeler(label_studio), Stopper()
    result = runner.run(PrelabelRequest(clip.project, mode="auto", grid=4), ctx)
    assert result == {"tasks_written": 3, "skipped_human": 0, "skipped_done": 0, "not_labelled": [ids[1]]}
    assert f"task {ids[1]} (clip 'prelabel-lost' frame 1) not labelled" in ctx.notes[0]
    assert any(f"task {ids[1]} (clip 'prelabel-lost' frame 1) not labelled" in r.getMessage()
               for r in caplog.records if r.levelname == "WARNING")
    assert own(label_studio, ids[1], AUTO_MODEL_PREFIX) == []  # nothing written: not counted done
    assert all(len(own(label_studio, t, AUTO_MODEL_PREFIX)) == 1 for t in (ids[0], *ids[2:]))
    lost.with_suffix(".bak").rename(lost)  # fixed: the next run labels it, and only it
    again = runner.run(PrelabelRequest(clip.project, mode="auto", grid=4), Stopper())
    assert again == {"tasks_written": 1, "skipped_human": 0, "skipped_done": 3, "not_labelled": []}


def test_two_auto_prelabels_writing_one_frame_at_once_leave_one_prediction(label_studio):
    """Two jobs whose selections overlap (one clip, the whole project: two job keys, two
    workers) reach a frame together: the second write waits for the first, then replaces it."""
    import threading

    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-twice", n=1)
    task = clip.task_ids[0]
    first, second = prelabeler(label_studio), prelabeler(label_studio)
    request = first.studio._request_once
    others: list[threading.Thread] = []

    def listed_then_interrupted(method, path, *args, **kwargs):
        reply = request(method, path, *args, **kwargs)
        if method == "GET" and path == "/api/predictions" and not others:
            # The other job writes now, between this write's listing and its post.
            others.append(threading.Thread(target=second._write_auto, args=(task, [], "square")))
            others[0].start()
            others[0].join(2)  # it waits for the frame while this write holds it
        return reply

    first.studio._request_once = listed_then_interrupted  # type: ignore[method-assign]
    assert first._write_auto(task, [], "square") == 1
    others[0].join(60)
    assert len(own(label_studio, task, AUTO_MODEL_PREFIX)) == 1


def test_prelabel_names_a_task_whose_frame_is_not_a_number_instead_of_crashing(label_studio):
    project = label_studio.client().projects.create(title="prelabel strframe", label_config=BRUSH_CONFIG)
    data = [{"image": f"/data/local-files/?d=x/{n}.png", "frame": n, "clip": "c"}
            for n in ("frame_0001", "frame_0002")]
    requests.post(f"{label_studio.url}/api/projects/{project.id}/import", headers=label_studio.headers,
                  json=data, timeout=60).raise_for_status()
    for mode in ("auto", "propagate"):
        with pytest.raises(BadRequest, match=r"task \d+ has frame 'frame_000\d'.*index"):
            prelabeler(label_studio).run(PrelabelRequest(project.id, mode=mode, grid=4), Stopper())


@pytest.mark.parametrize("odd", [1.5, -1])
def test_prelabel_names_a_task_whose_frame_is_a_fraction_or_negative_as_it_names_text(label_studio, odd):
    """int() made 1.5 frame 1 (two tasks of one frame) and let -1 pass, while propagation
    leaves both out of the clip: a stretch then began at another task than the one meant."""
    project = label_studio.client().projects.create(title=f"prelabel oddframe {odd}", label_config=BRUSH_CONFIG)
    data = [{"image": f"/data/local-files/?d=x/{n}.png", "frame": n, "clip": "c"} for n in (0, odd, 2)]
    requests.post(f"{label_studio.url}/api/projects/{project.id}/import", headers=label_studio.headers,
                  json=data, timeout=60).raise_for_status()
    for mode in ("auto", "propagate"):
        with pytest.raises(BadRequest, match=rf"task \d+ has frame {odd}.*index"):
            prelabeler(label_studio).run(PrelabelRequest(project.id, mode=mode, grid=4), Stopper())


def test_propagate_prelabel_progress_total_is_the_number_of_frames_it_fills(label_studio):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-share", n=10)
    for i in (0, 3, 6):
        annotate(label_studio, clip.task_ids[i], clip.masks[i], region_id="walker")
    reports: list[tuple[int, int]] = []
    rates: list[float] = []

    class Recorder(Stopper):
        def progress(self, frames_done: int, frames_total: int, fps: float) -> None:
            reports.append((frames_done, frames_total))
            rates.append(fps)

    req = PrelabelRequest(clip.project, mode="propagate", engine="copy")
    result = prelabeler(label_studio).run(req, Recorder())
    assert result["frames_written"] == 7  # 1-2, 4-5, 7-9
    assert {total for _, total in reports} == {7}
    done = [d for d, _ in reports]
    assert done == sorted(done) and done[-1] == 7
    assert rates[-1] > 0, "the finished job keeps its frames/s"


def test_auto_prelabel_progress_reaches_its_total_when_the_last_task_is_annotated_meanwhile(label_studio):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-progress", n=3)
    runner = prelabeler(label_studio)
    runner._human_now = lambda task_id: task_id == clip.task_ids[-1]  # type: ignore[method-assign]
    reports: list[tuple[int, int]] = []

    class Recorder(Stopper):
        def progress(self, frames_done: int, frames_total: int, fps: float) -> None:
            reports.append((frames_done, frames_total))

    result = runner.run(PrelabelRequest(clip.project, mode="auto", grid=4), Recorder())
    assert result["tasks_written"] == 2 and reports[-1] == (3, 3)


def test_frames_ranges_are_checked():
    assert parse_frames("10:50") == (10, 50) and parse_frames(":5") == (None, 5)
    assert parse_frames(None) == (None, None)
    for bad in ("10", "a:b", "5:5", "-3:", ":-1"):
        with pytest.raises(BadRequest):
            parse_frames(bad)


def test_a_frames_range_selects_a_csv_imported_clips_frames_whose_indices_are_text():
    # A CSV import makes every value text: propagation and export read "3" as frame 3, and
    # --frames 1:4 selected none of the clip's tasks (the job said nothing to do).
    req = PrelabelRequest.from_payload({"project": 1, "first": 1, "end": 4})
    assert [n for n in ("0", "1", "3", "4", " 2 ") if req.selects({"clip": "c", "frame": n})] == ["1", "3", " 2 "]
    assert [n for n in (2, 2.0, True, -2, 2.5, "2.5", "x", None) if req.selects({"frame": n})] == [2, 2.0]


@pytest.mark.parametrize("clip", ["", " ", 0, ["a"]])
def test_a_clip_that_is_empty_or_no_text_is_refused_not_read_as_every_clip(clip):
    # "" read as no clip: the job pre-labelled (with force, redid) every clip of the project.
    with pytest.raises(BadRequest, match="clip must be a clip id"):
        PrelabelRequest.from_payload({"project": 1, "clip": clip})
    assert PrelabelRequest.from_payload({"project": 1, "clip": "dog"}).clip == "dog"


# A pre-labelling job's payload as every samvid before payload versions queued it (version 1).
TODAYS_PAYLOAD = {"project": 1, "clip": "dog", "first": 2, "end": 9, "mode": "propagate", "force": True, "grid": 8,
                  "engine": "flow"}


def test_an_unknown_field_is_refused_naming_the_fields_a_pre_labelling_takes():
    # Ignored, a newer backend's option ("min_score") was dropped without a word and the job
    # ran as another than the one asked for; a misspelt one ("frames") the same.
    for field in ("min_score", "frames"):
        with pytest.raises(BadRequest, match=rf"unknown field\(s\) '{field}': a pre-labelling request takes "
                                             r"project, clip, first, end, mode, force, grid, engine"):
            PrelabelRequest.from_payload({**TODAYS_PAYLOAD, field: 1})


@pytest.mark.parametrize("version", [{}, {"payload_version": 1}])
def test_a_pre_labelling_payload_of_this_version_is_read_whether_or_not_it_says_its_version(version):
    req = PrelabelRequest.from_payload({**TODAYS_PAYLOAD, **version})
    assert req == PrelabelRequest(1, "dog", 2, 9, "propagate", True, 8, "flow")
    assert req.to_payload() == TODAYS_PAYLOAD  # version 1 is queued as before versions were


def test_a_pre_labelling_of_a_newer_samvid_is_refused_as_such_not_run_without_its_new_field():
    with pytest.raises(BadRequest) as refused:
        PrelabelRequest.from_payload({**TODAYS_PAYLOAD, "min_score": 0.9, "payload_version": 2})
    message = refused.value.message
    assert "made by a newer samvid" in message and "reads prelabel payloads up to version 1" in message, message


def test_a_field_added_to_a_pre_labelling_raises_its_payload_version():
    # Workers of the version before then refuse its jobs as a newer samvid's (jobs.run_payload):
    # once a field is added, raise PAYLOAD_VERSIONS["prelabel"] and pin the new fields here.
    assert (PAYLOAD_VERSIONS["prelabel"], PRELABEL_KEYS) == (1, tuple(TODAYS_PAYLOAD))


def test_the_command_says_why_a_segmenter_without_everything_mode_cannot_prelabel(label_studio):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-cli", n=2)
    env = {**os.environ, "SAMVID_MODEL": "standin", "LABEL_STUDIO_URL": label_studio.url,
           "LABEL_STUDIO_API_KEY": label_studio.token, "REDIS_URL": ""}
    out = subprocess.run([sys.executable, "-m", "samvid.cli", "prelabel", "--project",
                          "propagation prelabel-cli"], env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 2, out.stderr
    assert "no automatic ('segment everything') mode" in out.stderr
    resp = requests.get(f"{label_studio.url}/api/predictions", headers=label_studio.headers,
                        params={"task": clip.task_ids[0]}, timeout=30)
    assert resp.json() == []


def on_the_queue(ls, redis_server, monkeypatch):
    """The environment of `samvid prelabel` with REDIS_URL set, the prelabel job kind
    registered; returns the queue its jobs go to (an RQ worker in the test runs them)."""
    from rq import Queue

    from samvid import jobs
    from samvid.redis_jobs import QUEUE, RedisJobs

    monkeypatch.setitem(jobs.RUNNERS, "prelabel", "samvid.prelabel:run_job")
    for name, value in {"REDIS_URL": redis_server.url, "LABEL_STUDIO_URL": ls.url,
                        "LABEL_STUDIO_API_KEY": ls.token,
                        "SAMVID_LOCAL_ROOTS": str(ls.files_root)}.items():
        monkeypatch.setenv(name, value)
    return Queue(QUEUE, connection=RedisJobs(redis_server.url).redis)


def prelabel_in_thread(project: int, codes: list[int], *args: str):
    """`samvid prelabel --mode propagate --json` run in a thread, its exit code into ``codes``."""
    import threading

    from samvid.cli import main

    command = threading.Thread(target=lambda: codes.append(main([
        "prelabel", "--project", str(project), "--mode", "propagate", *args, "--json"])))
    command.start()
    return command


def wait_queued(queue, count: int) -> None:
    import time

    deadline = time.monotonic() + 30
    while queue.count < count:
        assert time.monotonic() < deadline, "the command queued no job"
        time.sleep(0.1)


@pytest.mark.redis
def test_the_command_queues_on_redis_and_follows_the_job(label_studio, redis_server, monkeypatch,
                                                          capsys):
    """REDIS_URL set: `samvid prelabel` queues the job, a worker runs it, the command
    reports its result. The worker runs here (RQ's SimpleWorker, main thread) so that
    the test's registration of the job kind is visible to it."""
    import json

    from rq import SimpleWorker

    queue = on_the_queue(label_studio, redis_server, monkeypatch)
    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-redis", n=4)
    annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")
    codes: list[int] = []
    command = prelabel_in_thread(clip.project, codes)
    wait_queued(queue, 1)
    SimpleWorker([queue], connection=queue.connection).work(burst=True, with_scheduler=False)
    command.join(30)
    assert codes == [0]
    assert json.loads(capsys.readouterr().out) == {"frames_written": 3, "propagations": 1,
                                                          "not_propagated": []}
    for task_id in clip.task_ids[1:]:
        assert len(own(label_studio, task_id, "samvid-track")) == 1


@pytest.mark.redis
def test_a_different_prelabel_request_on_the_same_project_waits_instead_of_cancelling_the_running_one(
        label_studio, redis_server, monkeypatch):
    """Two people pre-label one project through the queue (REDIS_URL set): the second
    request (another range) runs after the first, it does not cancel it."""
    from rq import SimpleWorker

    from samvid.redis_jobs import RedisJobs

    queue = on_the_queue(label_studio, redis_server, monkeypatch)
    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-two", n=4)
    annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")
    codes: list[int] = []
    commands = []
    for frames in ("0:2", "0:4"):
        commands.append(prelabel_in_thread(clip.project, codes, "--frames", frames))
        wait_queued(queue, len(commands))  # queued in this order
    first, second = queue.job_ids
    SimpleWorker([queue], connection=queue.connection).work(burst=True, with_scheduler=False)
    for command in commands:
        command.join(30)
    queued = RedisJobs(redis_server.url)
    assert queued.get(first).state == "done" and queued.get(second).state == "done"
    assert codes == [0, 0]


def test_propagate_prelabel_does_not_count_a_stretch_with_an_unreadable_frame_as_done(label_studio):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-hole", n=5)
    ids = clip.task_ids
    annotate(label_studio, ids[0], clip.masks[0], region_id="walker")
    lost = label_studio.files_root / f"p{clip.project}-prelabel-hole" / "00002.png"
    lost.rename(lost.with_suffix(".bak"))  # frame 2's image is gone: the tracker passes over it
    runner, ctx = prelabeler(label_studio), Stopper()
    req = PrelabelRequest(clip.project, clip="prelabel-hole", mode="propagate", engine="copy")
    first = runner.run(req, ctx)
    # Said, so the command exits 1: not a run that filled everything.
    assert first["not_propagated"] == ["prelabel-hole:0"]
    assert "1 of 4 frames left without a prediction" in ctx.notes[-1]
    lost.with_suffix(".bak").rename(lost)  # fixed: the next run fills the hole
    runner.run(req, Stopper())
    for i in range(1, 5):
        assert len(own(label_studio, ids[i], "samvid-track")) == 1, f"frame {i}"


class _AnnotatingMidway(Stopper):
    """As the job's first step is reported, an annotator submits frame 2 and the webhook's
    propagation from it fills the stretch's last frame."""

    def __init__(self, ls, clip) -> None:
        super().__init__()
        self.ls, self.clip, self.acted = ls, clip, False

    def progress(self, frames_done: int, frames_total: int, fps: float) -> None:
        super().progress(frames_done, frames_total, fps)
        if frames_done and not self.acted:
            self.acted = True
            ids = self.clip.task_ids
            annotate(self.ls, ids[2], self.clip.masks[2], region_id="walker")
            Studio(self.ls.url, self.ls.token).replace_predictions(
                ids[4], "samvid-track", [], "samvid-track:webhook", 0.0, write_empty=True)


def test_propagate_prelabel_leaves_what_the_webhook_wrote_after_a_frame_annotated_meanwhile(label_studio):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="prelabel-midway", n=5)
    ids = clip.task_ids
    annotate(label_studio, ids[0], clip.masks[0], region_id="walker")
    req = PrelabelRequest(clip.project, clip="prelabel-midway", mode="propagate", engine="copy")
    result = prelabeler(label_studio).run(req, _AnnotatingMidway(label_studio, clip))
    assert result["not_propagated"] == []  # annotated meanwhile: no failure
    assert [p["model_version"] for p in own(label_studio, ids[4], "samvid-track")] == ["samvid-track:webhook"]
