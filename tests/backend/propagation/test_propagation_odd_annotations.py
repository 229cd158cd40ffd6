"""Annotations Label Studio stores that hold no list of regions: one saved without a result
(Label Studio 1.23 stores null) or one whose result holds items that are no regions. Read as
annotations without those regions, they fail neither a job (from such a frame, or bridged to
one) nor the filling of a frame opened after one. In memory: no Label Studio, the tracker
over flat frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from memory_clip import CONFIG, SETTINGS, TARGET, Context, box_region

from samvid.images import ImageSource
from samvid.propagation import PropagationRequest, Propagator
from samvid.settings import Settings
from samvid.studio.client import Studio


def _car() -> dict[str, Any]:
    return box_region()


def _clip(results: dict[int, Any], frames: int) -> tuple[Propagator, dict[int, list[dict[str, Any]]]]:
    """A Propagator over a clip of ``frames`` flat frames whose human frames' annotations
    hold the ``results`` given, as Label Studio answers them (task id = frame + 1), and the
    prediction it writes on each frame."""
    settings = Settings.from_env(SETTINGS)
    studio = Studio(settings.label_studio_url, "x")

    def answer(method: str, path: str, what: str, **kwargs: Any) -> Any:
        if path.endswith("/annotations"):
            frame = int(path.split("/")[3]) - 1
            return [{"id": 10 + frame, "result": results[frame], "was_cancelled": False,
                     "updated_at": "2026-01-01T00:00:00Z"}] if frame in results else []
        return {"label_config": CONFIG}

    studio.request = answer
    propagator = Propagator(studio, ImageSource.from_settings(settings))
    propagator.clip_tasks = lambda project, clip, waited_for=False: [
        {"id": 1 + f, "data": {"clip": "c", "frame": f, "image": f"/f{f}.png"},
         "total_annotations": int(f in results)} for f in range(frames)]
    images = [np.full((20, 40, 3), 100, np.uint8) for _ in range(frames)]
    propagator._span = lambda walk, target, all_frames: (images[: len(walk)], {i: t["id"] for i, t in enumerate(walk)})
    written: dict[int, list[dict[str, Any]]] = {}
    studio.replace_predictions = lambda task_id, prefix, result, *args, **kwargs: written.update({task_id - 1: result})
    studio.own_predictions = lambda task_id, prefix, **kwargs: []
    return propagator, written


@pytest.mark.parametrize("result", [None, [], [1, "x", None]])
def test_a_job_from_a_frame_whose_annotation_holds_no_regions_reads_it_as_every_object_left(result):
    propagator, written = _clip({0: result}, 4)
    ctx = Context()
    outcome = propagator.run(PropagationRequest(1, "c", 0, frames=3), ctx)
    assert outcome == {"frames_written": 0, "frames_empty": 3}
    assert all(result == [] for result in written.values())  # samvid's masks there removed
    assert "no objects" in ctx.notes[-1]


def test_a_job_passes_over_the_items_of_a_result_that_are_no_regions():
    propagator, written = _clip({0: [1, _car(), "x"]}, 3)
    assert propagator.run(PropagationRequest(1, "c", 0, frames=2), Context())["frames_written"] == 2
    assert all([r["id"] for r in result] == ["car"] for result in written.values())


@pytest.mark.parametrize("result", [None, [7]])
def test_a_bridged_job_to_a_frame_whose_annotation_holds_no_regions_fades_its_objects_out_towards_it(result):
    propagator, written = _clip({0: [_car()], 4: result}, 5)
    outcome = propagator.run(PropagationRequest(1, "c", 0, bridge=True), Context())
    assert outcome["frames_written"] + outcome["frames_empty"] == 3
    assert sorted(written) == [1, 2, 3]


@pytest.mark.parametrize("result", [None, [{"1": 2}, 3]])
def test_a_frame_opened_after_one_whose_annotation_holds_no_regions_is_not_filled(result):
    propagator, written = _clip({0: result}, 2)
    task = {"id": 2, "data": {"clip": "c", "frame": 1, "image": "/f1.png"}}
    assert propagator.answer_on_open(1, task, TARGET, "flow") is None
    assert written == {}
