"""Propagation jobs keep their guarantees with SAM 2's memory engine, in a real Label Studio:
the job runs up to the next human frame and never writes it, reports progress, names the
engine in each prediction's model_version, keeps each object's region id, and stops when
cancelled. Random weights (none can be downloaded here): the masks are noise, so which
frames are written and under which ids is asserted, not mask content."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import requests
import small_models
from clips import annotate, import_clip, predictions, studio_app
from ls_requests import BRUSH_CONFIG
from services import wait_until

from samvid.studio.results import brush_result

pytestmark = pytest.mark.studio


def annotate_two(ls, task_id: int, first: np.ndarray) -> None:
    """Two objects: ``walker`` (the clip's disk) and ``ball`` (a square in a corner)."""
    square = np.zeros_like(first)
    square[10:40, 10:40] = True
    regions = [brush_result(m, from_name="tag", to_name="image", labels=["Car"], region_id=rid)
               for m, rid in ((first, "walker"), (square, "ball"))]
    for r in regions:
        r.pop("origin")
    requests.post(f"{ls.url}/api/tasks/{task_id}/annotations", headers=ls.headers, timeout=30,
                  json={"result": regions}).raise_for_status()


def finished(client, job_id: str) -> dict:
    wait_until(lambda: client.get(f"/jobs/{job_id}").get_json()["state"] in ("done", "failed", "cancelled"),
               timeout=600, what="the memory-engine job to end")
    return client.get(f"/jobs/{job_id}").get_json()


@pytest.fixture(scope="module")
def small_random_sam2() -> Iterator[None]:
    """This module's jobs track with a slim SAM 2 (tests/small_models.py): they are about the job."""
    with small_models.small_random_sam2():
        yield


@pytest.fixture(scope="module")
def sam2_app(label_studio, small_random_sam2):
    # The default precision, as a user of this machine gets it: bf16 where the CPU runs it
    # natively (AVX512-BF16, AMX), fp32 elsewhere. Forcing bf16 on a CPU without those
    # emulates it, about 8x slower than fp32 (two minutes a job), and these tests are
    # about the job, not the precision (bf16 tracking: tracker/test_memory_engine.py).
    return studio_app(label_studio, tracker="sam2", random_weights=True, precision="auto").test_client()


def test_a_sam2_job_stops_at_the_human_frame_and_names_its_engine(label_studio, sam2_app):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="memory", n=5)
    ids = clip.task_ids
    human = annotate(label_studio, ids[3], clip.masks[3], region_id="walker")
    annotate_two(label_studio, ids[0], clip.masks[0])
    job = sam2_app.post("/propagate", json={"project": clip.project, "clip": clip.name, "frame": 0,
                                            "bridge": False}).get_json()
    status = finished(sam2_app, job["id"])
    assert status["state"] == "done", status
    # Frames 1 and 2 reached, 3 is human; random weights may leave them empty.
    assert status["result"]["frames_written"] + status["result"]["frames_empty"] == 2
    assert status["frames_done"] == status["frames_total"] > 0
    assert not predictions(label_studio, ids[3]), "a human frame never gets a prediction"
    kept = requests.get(f"{label_studio.url}/api/tasks/{ids[3]}/annotations", headers=label_studio.headers,
                        timeout=30).json()
    assert [a["id"] for a in kept] == [human]
    for task_id in ids[1:3]:
        for pred in predictions(label_studio, task_id):  # none when both objects' masks are empty
            assert pred["model_version"] == "samvid-track:sam2"
            assert {r["id"] for r in pred["result"]} <= {"walker", "ball"}


def test_a_cancelled_sam2_job_stops(label_studio, sam2_app):
    clip = import_clip(label_studio, BRUSH_CONFIG, name="memory-cancel", n=12)
    annotate(label_studio, clip.task_ids[0], clip.masks[0], region_id="walker")
    job = sam2_app.post("/propagate", json={"project": clip.project, "clip": clip.name, "frame": 0}).get_json()
    wait_until(lambda: sam2_app.get(f"/jobs/{job['id']}").get_json()["frames_done"] >= 1, timeout=300,
               what="the first propagated frame")
    sam2_app.delete(f"/jobs/{job['id']}")
    status = finished(sam2_app, job["id"])
    assert status["state"] == "cancelled"
    assert len([t for t in clip.task_ids[1:] if predictions(label_studio, t)]) < 11
