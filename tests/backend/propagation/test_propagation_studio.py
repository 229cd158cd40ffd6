"""Propagation inside a real Label Studio: the next frames arrive already labelled.

An annotation saved on a frame task reaches the backend through Label Studio's own
webhook; the model-free flow tracker fills the following frames with predictions.
The clip is synthetic, so every predicted mask is checked against exact ground truth.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import requests
from clips import annotate, import_clip, iou, predictions, studio_app
from ls_requests import BRUSH_CONFIG, POLYGON_CONFIG
from services import ServedApp, free_port, wait_until
from test_attributes import Quiet

from samvid.app import create_app
from samvid.images import ImageSource
from samvid.models.standin import StandInSegmenter
from samvid.predictor import Predictor
from samvid.propagation import PropagationRequest, Propagator
from samvid.settings import Settings
from samvid.studio.client import Studio
from samvid.studio.protocol import parse_config
from samvid.studio.results import decode_brush, decode_mask, mask_regions

pytestmark = pytest.mark.studio


@pytest.fixture
def backend(label_studio):
    with ServedApp(studio_app(label_studio)) as served:
        yield served


def connect(ls, project: int, backend) -> None:
    resp = requests.post(f"{ls.url}/api/ml", headers=ls.headers, timeout=30,
                         json={"url": backend.url, "project": project, "is_interactive": True})
    assert resp.status_code == 201, resp.text


def mask_of(prediction: dict) -> np.ndarray:
    (region,) = [r for r in prediction["result"] if r["type"] == "brushlabels"]
    return decode_brush(region)


def test_annotating_a_frame_fills_the_following_frames(label_studio, backend):
    clip = import_clip(label_studio, BRUSH_CONFIG, n=8)
    connect(label_studio, clip.project, backend)
    annotate(label_studio, clip.task_ids[0], clip.masks[0], label="Person", region_id="walker")
    last = clip.task_ids[-1]
    wait_until(lambda: predictions(label_studio, last), what="the last frame's prediction")
    for i, task_id in enumerate(clip.task_ids[1:], start=1):
        (pred,) = predictions(label_studio, task_id)
        assert pred["model_version"].startswith("samvid-track")
        (region,) = pred["result"]
        assert region["id"] == "walker" and region["value"]["brushlabels"] == ["Person"]
        assert iou(mask_of(pred), clip.masks[i]) > 0.85, f"frame {i}"


def test_a_correction_recomputes_both_sides_up_to_the_human_frames_and_never_touches_them(label_studio):
    # The copy engine scores every frame alike, so each frame follows the nearer human frame.
    clip = import_clip(label_studio, BRUSH_CONFIG, name="corrected", n=8)
    with ServedApp(studio_app(label_studio, tracker="copy", propagate_bridge=True)) as copying:
        connect(label_studio, clip.project, copying)
        corrected_on_both_sides(label_studio, clip, copying.app.extensions["samvid.jobs"])


def jobs_finished(jobs, count: int) -> None:
    """Wait until ``count`` jobs have ended (done, or superseded by a later one) and none is
    queued or running. Waiting for "a new prediction on every frame" is not enough: an
    earlier job still writing also makes new ones (the race that once failed this test in CI)."""
    def ended() -> bool:
        states = jobs.states()
        return states["queued"] + states["running"] == 0 and states["done"] + states["cancelled"] >= count
    wait_until(ended, what=f"{count} propagation jobs to finish")


def corrected_on_both_sides(label_studio, clip, jobs) -> None:
    ids = clip.task_ids
    human7 = annotate(label_studio, ids[7], clip.masks[7], region_id="walker")
    annotate(label_studio, ids[0], clip.masks[0], region_id="walker")
    jobs_finished(jobs, 2)
    assert all(predictions(label_studio, t) for t in ids[1:7])
    # Written over in place (the id an open editor names stays): a write shows in updated_at.
    before = {t: {(p["id"], p["updated_at"]) for p in predictions(label_studio, t)} for t in ids[1:7]}

    # The annotator corrects frame 3: "walker" is really a background patch. Frames 1-2 lie
    # between human frames 0 and 3, frames 4-6 between 3 and 7: each stretch is tracked
    # from both ends, and each frame follows the nearer (a tie, frame 5, the earlier).
    patch = np.zeros_like(clip.masks[3])
    patch[10:30, 90:110] = True
    annotate(label_studio, ids[3], patch, region_id="walker")

    def recomputed() -> bool:
        now = {t: [(p["id"], p["updated_at"]) for p in predictions(label_studio, t)] for t in (*ids[1:3], *ids[4:7])}
        return all(len(p) == 1 and p[0] not in before[t] for t, p in now.items())

    jobs_finished(jobs, 3)
    assert recomputed(), "frames 1-2 and 4-6 are recomputed"
    follows = {1: clip.masks[0], 2: patch, 4: patch, 5: patch, 6: clip.masks[7]}
    for i, mask in follows.items():
        (pred,) = predictions(label_studio, ids[i])
        assert np.array_equal(mask_of(pred), mask), f"frame {i}"
    for i in (0, 7):
        assert not predictions(label_studio, ids[i]), "a human frame never gets a prediction"
    assert {(p["id"], p["updated_at"]) for p in predictions(label_studio, ids[3])} == before[ids[3]], \
        "frame 3 keeps what it had when the annotator corrected it"
    annotations7 = requests.get(f"{label_studio.url}/api/tasks/{ids[7]}/annotations",
                                headers=label_studio.headers, timeout=30).json()
    assert [a["id"] for a in annotations7] == [human7]


def test_repeated_submits_do_not_pile_up_predictions(label_studio, backend):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="repeat", n=4)
    connect(label_studio, clip.project, backend)
    for _ in range(3):
        annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")
    jobs_finished(backend.app.extensions["samvid.jobs"], 3)
    assert all(len(predictions(label_studio, t)) == 1 for t in clip.task_ids[1:])


def test_propagate_command_fills_both_directions(label_studio, monkeypatch, capsys):
    from samvid.cli import main

    clip = import_clip(label_studio, BRUSH_CONFIG, name="cli", n=6)
    annotate(label_studio, clip.task_ids[2], clip.masks[2], region_id="walker")
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    monkeypatch.setenv("SAMVID_LOCAL_ROOTS", str(label_studio.files_root))
    code = main(["propagate", "--project", str(clip.project), "--clip", "cli", "--from-frame", "2",
                 "--direction", "both"])
    assert code == 0, capsys.readouterr().err
    for i, task_id in enumerate(clip.task_ids):
        if i == 2:
            continue
        (pred,) = predictions(label_studio, task_id)
        assert iou(mask_of(pred), clip.masks[i]) > 0.85, f"frame {i}"
        assert pred["model_version"] == "samvid-track:flow", "auto is named as resolved (no weights: flow)"


def test_propagate_command_names_a_missing_frame(label_studio, monkeypatch, capsys):
    from samvid.cli import main

    clip = import_clip(label_studio, BRUSH_CONFIG, name="missing", n=2)
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    code = main(["propagate", "--project", str(clip.project), "--clip", "missing", "--from-frame", "9"])
    assert code == 2 and "has no frame 9" in capsys.readouterr().err


def test_propagate_command_with_label_studio_down_says_so_at_once(monkeypatch, capsys, caplog):
    # Before the job starts nothing is lost by failing: the outage budget is for a job
    # that is running (it waited SAMVID_STUDIO_RETRY_SECONDS, 120 s by default, first).
    from samvid.cli import main
    from samvid.studio import client

    monkeypatch.setattr(client.time, "sleep", lambda seconds: None)  # the old waits, made instant
    monkeypatch.setenv("LABEL_STUDIO_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "token")
    with caplog.at_level("WARNING", logger="samvid.studio.client"):
        code = main(["propagate", "--project", "7", "--clip", "c", "--from-frame", "0"])
    assert code == 2 and "cannot reach Label Studio" in capsys.readouterr().err
    assert "retry 1 of" not in caplog.text


def test_opening_the_frame_after_a_human_frame_computes_its_masks_on_demand(label_studio, backend):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="ondemand", n=3)
    annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")  # no backend connected: no job
    connect(label_studio, clip.project, backend)

    def opened(task_id: int) -> list[dict]:
        """The predictions Label Studio shows as the task is opened (it asks /predict first)."""
        return requests.get(f"{label_studio.url}/api/tasks/{task_id}", headers=label_studio.headers,
                            timeout=60).json()["predictions"]

    # samvid answers the frame's masks, which Label Studio stores and shows.
    (shown,) = opened(clip.task_ids[1])
    (pred,) = predictions(label_studio, clip.task_ids[1])
    assert shown["id"] == pred["id"] and pred["model_version"] == "samvid-track:flow"
    (region,) = pred["result"]
    assert region["id"] == "walker"
    assert iou(decode_brush(region), clip.masks[1]) > 0.85
    assert [p["id"] for p in opened(clip.task_ids[1])] == [pred["id"]]  # shown as stored, no second
    # Asked with a task read before that prediction was stored (a race): what the frame holds
    # is answered, and the stored copy deleted, for Label Studio to store the answer alone.
    task = requests.get(f"{label_studio.url}/api/tasks/{clip.task_ids[1]}", headers=label_studio.headers,
                        timeout=30).json()
    stale = {"tasks": [{**task, "predictions": []}], "project": f"{clip.project}.1700000000",
             "label_config": BRUSH_CONFIG, "params": {"context": None}}
    (answer,) = backend.app.test_client().post("/predict", json=stale).get_json()["results"]
    assert answer["result"] == pred["result"] and predictions(label_studio, clip.task_ids[1]) == []
    requests.post(f"{label_studio.url}/api/predictions", headers=label_studio.headers, timeout=30,
                  json={"task": clip.task_ids[1], **answer}).raise_for_status()  # as Label Studio stores it
    assert [p["result"] for p in predictions(label_studio, clip.task_ids[1])] == [pred["result"]]
    # Two frames after the human frame: left to the propagation job.
    assert opened(clip.task_ids[2]) == []
    assert predictions(label_studio, clip.task_ids[2]) == []


def test_opening_a_frame_with_redis_away_computes_nothing_and_says_so(label_studio, monkeypatch):
    # The open tracked the frame, then failed to take its write lock: the compute, and the
    # annotator's wait for it, were for nothing.
    import samvid.propagation.propagator
    from samvid.errors import QueueUnavailable
    from samvid.studio.frame_locks import FrameLocks

    clip = import_clip(label_studio, BRUSH_CONFIG, name="ondemand-redis-away", n=2)
    annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")
    task = requests.get(f"{label_studio.url}/api/tasks/{clip.task_ids[1]}", headers=label_studio.headers,
                        timeout=30).json()
    engines: list[str] = []
    monkeypatch.setattr(samvid.propagation.propagator, "make_engine", lambda name: engines.append(name))
    locks = FrameLocks(label_studio.url, f"redis://127.0.0.1:{free_port()}/0", retry_seconds=1.0,
                       socket_seconds=1.0)  # nothing listens there
    propagator = Propagator(Studio(label_studio.url, label_studio.token),
                            ImageSource(label_studio.url, label_studio.token), locks)
    with pytest.raises(QueueUnavailable, match="check that Redis runs"):
        propagator.answer_on_open(clip.project, task, parse_config(BRUSH_CONFIG), "flow")
    assert engines == []
    assert predictions(label_studio, clip.task_ids[1]) == []


def test_opening_a_frame_while_its_job_writes_it_stores_one_prediction(label_studio, backend):
    """Annotators read frames (as the UI does: GET /api/tasks/<id>, which calls /predict
    for a task without a prediction) while the job writes them: one samvid prediction each."""
    import threading

    clip = import_clip(label_studio, BRUSH_CONFIG, name="race", n=8)
    connect(label_studio, clip.project, backend)
    ids = clip.task_ids
    done = threading.Event()
    errors: list[str] = []

    def open_frames(order: list[int]) -> None:
        while not done.is_set():
            for task_id in order:
                reply = requests.get(f"{label_studio.url}/api/tasks/{task_id}",
                                     headers=label_studio.headers, timeout=60)
                if reply.status_code != 200:
                    errors.append(f"task {task_id}: {reply.status_code}")

    readers = [threading.Thread(target=open_frames, args=([ids[1]],)),  # the on-demand frame
               threading.Thread(target=open_frames, args=(ids[1:],))]
    for reader in readers:
        reader.start()
    try:
        annotate(label_studio, ids[0], clip.masks[0], region_id="walker")
        wait_until(lambda: all(predictions(label_studio, t) for t in ids[1:]), what="every frame written")
        time.sleep(2.0)  # readers go on while a straggling write could still land
    finally:
        done.set()
        for reader in readers:
            reader.join(60)
    assert errors == []
    for i, task_id in enumerate(ids[1:], start=1):
        preds = [p for p in predictions(label_studio, task_id) if p["model_version"].startswith("samvid")]
        assert len(preds) == 1, f"frame {i} has {len(preds)} samvid predictions"
        assert iou(mask_of(preds[0]), clip.masks[i]) > 0.85, f"frame {i}"


def test_two_annotators_submitting_at_once_keep_every_human_frame(label_studio, backend):
    import threading

    clip = import_clip(label_studio, BRUSH_CONFIG, name="concurrent", n=7)
    connect(label_studio, clip.project, backend)
    ids = clip.task_ids
    patch = np.zeros_like(clip.masks[3])
    patch[10:40, 150:190] = True
    submits = [threading.Thread(target=annotate, args=(label_studio, ids[0], clip.masks[0]),
                                kwargs={"region_id": "walker"}),
               threading.Thread(target=annotate, args=(label_studio, ids[3], patch),
                                kwargs={"region_id": "walker"})]
    for t in submits:
        t.start()
    for t in submits:
        t.join()
    jobs_finished(backend.app.extensions["samvid.jobs"], 2)
    # Without bridging (the default) each submit fills the frames after it up to the next
    # human frame, whichever job ran last: 1-2 follow frame 0, 4-6 the frame-3 correction.
    for i in (1, 2):
        (pred,) = predictions(label_studio, ids[i])
        assert iou(mask_of(pred), clip.masks[i]) > 0.8, f"frame {i} follows frame 0"
    for i in (4, 5, 6):
        (pred,) = predictions(label_studio, ids[i])
        assert iou(mask_of(pred), clip.masks[i]) < 0.2, f"frame {i} follows the frame-3 correction"
    for i in (0, 3):
        assert not predictions(label_studio, ids[i])
        annotations = requests.get(f"{label_studio.url}/api/tasks/{ids[i]}/annotations",
                                   headers=label_studio.headers, timeout=30).json()
        assert len(annotations) == 1


def test_all_frames_tracks_through_the_source_video_between_sparse_frame_tasks(label_studio, monkeypatch):
    from clips import import_sparse_clip

    from samvid.cli import main

    kept = [0, 3, 6, 9]  # as `samvid import --stride 3` keeps them
    project, ids, masks = import_sparse_clip(label_studio, BRUSH_CONFIG, "sparse import", kept)
    annotate(label_studio, ids[0], masks[0], region_id="walker")
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    monkeypatch.setenv("SAMVID_LOCAL_ROOTS", str(label_studio.files_root))
    assert main(["propagate", "--project", str(project), "--clip", "sparse", "--from-frame", "0",
                 "--all-frames"]) == 0
    for i, task_id in zip(kept[1:], ids[1:]):
        (pred,) = predictions(label_studio, task_id)
        assert iou(mask_of(pred), masks[i]) > 0.85, f"frame {i}"


def test_with_auth_on_the_import_connects_with_credentials_and_submits_still_propagate(
        label_studio, monkeypatch, tmp_path):
    """Label Studio's own webhook carries no credentials; samvid import adds them."""

    from samvid.cli import main

    settings = Settings.from_env(
        {}, model="standin", label_studio_url=label_studio.url, label_studio_api_key=label_studio.token,
        local_roots=(label_studio.files_root,), precompute_on_open=False,
        auth_user="ls-backend", auth_password="a long secret",
    )
    app = create_app(settings, Predictor.from_settings(settings, segmenter=StandInSegmenter()))
    frames = tmp_path / "frames"
    frames.mkdir()
    from clips import disk_clip
    from PIL import Image

    clip_frames, masks = disk_clip(4)
    for i, frame in enumerate(clip_frames):
        Image.fromarray(frame).save(frames / f"{i:05d}.png")
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    monkeypatch.setenv("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", str(label_studio.files_root))
    monkeypatch.setenv("SAMVID_AUTH_USER", "ls-backend")
    monkeypatch.setenv("SAMVID_AUTH_PASSWORD", "a long secret")
    with ServedApp(app) as served:
        assert requests.post(f"{served.url}/propagate", json={}, timeout=10).status_code == 401
        assert main(["import", str(frames), "--project", "with auth", "--backend-url", served.url,
                     "--png", "--json"]) == 0
        from samvid.studio.client import Studio

        project = Studio(label_studio.url, label_studio.token).find_project("with auth")
        (ml,) = requests.get(f"{label_studio.url}/api/ml", headers=label_studio.headers,
                             params={"project": project.id}, timeout=30).json()
        assert ml["auth_method"] == "BASIC_AUTH"
        tasks = requests.get(f"{label_studio.url}/api/tasks", headers=label_studio.headers, timeout=30,
                             params={"project": project.id, "fields": "task_only"}).json()["tasks"]
        ids = [t["id"] for t in sorted(tasks, key=lambda t: t["data"]["frame"])]
        annotate(label_studio, ids[0], masks[0], label="Object", region_id="walker", from_name="mask")
        wait_until(lambda: predictions(label_studio, ids[-1]), what="propagation through the authorised webhook")


def data_manager_rows(ls, project: int, ordering: str, score_below: float | None = None) -> list[dict]:
    """The project's tasks as the Data Manager lists them, sorted by one of its columns and,
    with ``score_below``, filtered to a Prediction score under it."""
    query: dict = {"ordering": [ordering]}
    if score_below is not None:
        query["filters"] = {"conjunction": "and", "items": [{
            "filter": "filter:tasks:predictions_score", "operator": "less", "type": "Number",
            "value": score_below}]}
    resp = requests.get(f"{ls.url}/api/tasks", headers=ls.headers, timeout=30, params={
        "project": project, "fields": "all", "page_size": 100, "query": json.dumps(query)})
    resp.raise_for_status()
    return resp.json()["tasks"]


def test_the_data_manager_sorts_and_filters_propagated_frames_by_their_score_once_their_version_is_chosen(
        label_studio, backend):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="scored", n=6)
    connect(label_studio, clip.project, backend)
    annotate(label_studio, clip.task_ids[0], clip.masks[0], label="Person", region_id="walker")
    wait_until(lambda: predictions(label_studio, clip.task_ids[-1]), what="the last frame's prediction")
    written = {t: predictions(label_studio, t)[0] for t in clip.task_ids[1:]}
    versions = {p["model_version"] for p in written.values()}
    assert versions == {"samvid-track:flow"}
    # Label Studio 1.23 scores a task by the predictions of the project's chosen model
    # version, which connecting a backend sets to the backend's title: samvid's column is
    # empty until the admin picks samvid's version (Settings > Annotation > Prelabeling).
    rows = data_manager_rows(label_studio, clip.project, "tasks:predictions_score")
    assert all(r.get("predictions_score") is None for r in rows)
    resp = requests.patch(f"{label_studio.url}/api/projects/{clip.project}", headers=label_studio.headers,
                          json={"model_version": "samvid-track:flow"}, timeout=30)
    resp.raise_for_status()
    rows = data_manager_rows(label_studio, clip.project, "tasks:predictions_score")
    column = {r["id"]: r.get("predictions_score") for r in rows}
    for task_id, pred in written.items():
        assert column[task_id] == pytest.approx(pred["score"]), "the Prediction score column shows samvid's"
    ranked = [r["id"] for r in rows if r["id"] in written]
    assert [column[t] for t in ranked] == sorted(column[t] for t in ranked), "worst frames first"
    # The other documented review: the frames scored under a bar, in frame order.
    bar = sorted(column[t] for t in written)[len(written) // 2]
    flagged = [r["id"] for r in data_manager_rows(label_studio, clip.project, "tasks:id", score_below=bar)]
    assert flagged == sorted(t for t in written if column[t] < bar) and flagged


# -- a polygon project: an object seen in parts ----------------------------------------------

POLYGON_OBJECTS = POLYGON_CONFIG.replace(
    "</View>", '  <Number name="object_id" toName="image" perRegion="true" min="1"/>\n</View>')


def behind_a_pole(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The object's left and right of a 6 px pole through its middle."""
    columns = np.arange(mask.shape[1])
    middle = int(np.nonzero(mask)[1].mean())
    return mask & (columns < middle - 3), mask & (columns >= middle + 3)


def polygons(mask: np.ndarray, region_id: str, object_id: int | None = None) -> list[dict]:
    """The regions an annotator's polygon(s) of ``mask`` make, and its object id."""
    regions = mask_regions(mask, parse_config(POLYGON_OBJECTS), ["Car"], region_id=region_id)
    for r in regions:
        r.pop("origin")
    number = {"id": region_id, "from_name": "object_id", "to_name": "image", "type": "number",
              "value": {"number": object_id}}
    return regions + ([number] if object_id else [])


def save_annotation(ls, task_id: int, result: list[dict]) -> None:
    requests.post(f"{ls.url}/api/tasks/{task_id}/annotations", headers=ls.headers, timeout=30,
                  json={"result": result}).raise_for_status()


def propagate(ls, project: int, clip: str, frame: int, objects: tuple[str, ...] = ()) -> None:
    images = ImageSource(ls.url, ls.token, local_roots=(ls.files_root,))
    Propagator(Studio(ls.url, ls.token), images).run(
        PropagationRequest(project, clip, frame, engine="copy", objects=objects), Quiet())


def parts_of(ls, task_id: int) -> dict[str, np.ndarray]:
    """The polygon regions of the task's one prediction, by region id."""
    (pred,) = predictions(ls, task_id)
    return {r["id"]: decode_mask(r) for r in pred["result"] if r["type"] == "polygonlabels"}


def two_part_object(ls, name: str, n: int = 3):
    """A clip whose frame 0 an annotator drew as two polygons of one object (id 7) either side
    of a pole: (clip, the object's mask as drawn)."""
    clip = import_clip(ls, POLYGON_OBJECTS, name=name, n=n)
    left, right = behind_a_pole(clip.masks[0])
    save_annotation(ls, clip.task_ids[0], polygons(left, "left", 7) + polygons(right, "right", 7))
    drawn = np.logical_or(*[decode_mask(r) for r in polygons(left, "l") + polygons(right, "r")])
    return clip, drawn


def test_polygon_project_propagates_every_part_of_an_object(label_studio):
    clip, drawn = two_part_object(label_studio, "poly parts")
    propagate(label_studio, clip.project, clip.name, 0)
    for task_id in clip.task_ids[1:]:
        parts = parts_of(label_studio, task_id)
        assert sorted(parts) == ["left", "left~2"]  # one polygon per part, the largest keeps the id
        assert iou(np.logical_or(*parts.values()), drawn) > 0.95  # the copy engine keeps the mask
        (pred,) = predictions(label_studio, task_id)
        assert [(r["id"], r["value"]) for r in pred["result"] if r["type"] == "number"] == \
            [("left", {"number": 7})]


def test_accepting_a_propagated_frame_with_parts_keeps_one_object(label_studio):
    clip, drawn = two_part_object(label_studio, "poly accepted", n=4)
    propagate(label_studio, clip.project, clip.name, 0)
    (pred,) = predictions(label_studio, clip.task_ids[2])
    save_annotation(label_studio, clip.task_ids[2], pred["result"])  # the annotator accepts frame 2
    propagate(label_studio, clip.project, clip.name, 2, objects=("7",))  # object 7: both its parts
    parts = parts_of(label_studio, clip.task_ids[3])
    assert sorted(parts) == ["left", "left~2"]
    assert iou(np.logical_or(*parts.values()), drawn) > 0.95


def test_export_reads_polygon_parts_as_one_track(label_studio, tmp_path):
    from samvid.cli import main
    from samvid.export import FORMATS

    clip, drawn = two_part_object(label_studio, "poly export")
    propagate(label_studio, clip.project, clip.name, 0)
    for fmt in sorted(FORMATS):
        out = tmp_path / fmt
        assert main(["export", "--project", str(clip.project), "--format", fmt, str(out), "--fill",
                     "--url", label_studio.url, "--api-key", label_studio.token]) == 0
        frames = list(FORMATS[fmt][1](out))
        assert [(f.frame, f.object_ids) for f in frames] == [(i, (7,)) for i in range(3)], fmt
        for f in frames:  # a YOLO line is one polygon going around both parts
            assert iou(f.masks.mask_of(7), drawn) > 0.95, (fmt, f.frame)


def test_repropagation_leaves_no_stale_part(label_studio):
    clip, _ = two_part_object(label_studio, "poly again")
    propagate(label_studio, clip.project, clip.name, 0)
    assert sorted(parts_of(label_studio, clip.task_ids[1])) == ["left", "left~2"]
    # The pole was a mistake: the annotator redraws the object in one piece.
    save_annotation(label_studio, clip.task_ids[0], polygons(clip.masks[0], "left", 7))
    propagate(label_studio, clip.project, clip.name, 0)
    for task_id in clip.task_ids[1:]:
        parts = parts_of(label_studio, task_id)
        assert sorted(parts) == ["left"]
        assert iou(parts["left"], clip.masks[0]) > 0.95


def test_propagate_command_on_a_backend_reports_the_frames_written_not_the_tracking_steps(
        label_studio, monkeypatch, capsys):
    # A bridged stretch is walked from both ends: the job's progress counts 12 engine steps
    # over 6 frames, of which 4 are written. The remote command said "12 frames".
    from samvid.cli import main

    clip = import_clip(label_studio, BRUSH_CONFIG, name="remote-count", n=6)
    annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")
    annotate(label_studio, clip.task_ids[5], clip.masks[5], region_id="walker")
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    with ServedApp(studio_app(label_studio, tracker="copy")) as served:
        code = main(["propagate", "--project", str(clip.project), "--clip", "remote-count", "--from-frame", "0",
                     "--bridge", "--engine", "copy", "--backend-url", served.url])
    out = capsys.readouterr().out
    assert code == 0
    assert "done: 4 frames of clip 'remote-count' from frame 0" in out, out
