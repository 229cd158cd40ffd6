"""Propagation and pre-labelling with Label Studio's dynamic labels (a mask control with
value="$labels", its labels in each task's data): a human frame's regions are read against
the labels its own task gives, and the frames filled from it keep them. In memory: no Label
Studio, the tracker over flat frames."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pytest

from samvid.prelabel import Prelabeler, PrelabelRequest
from samvid.propagation import PropagationRequest, Propagator, seeds_from_result
from samvid.studio.protocol import MaskTarget, parse_config
from samvid.studio.results import mask_region, mask_regions

IMG = '<Image name="image" value="$image"/>'
DYNAMIC = f'<View>{IMG}<BrushLabels name="tag" toName="image" value="$labels"/></View>'
SEPARATE = (f'<View>{IMG}<Brush name="brush" toName="image"/>'
            '<Labels name="kind" toName="image" value="$labels"/></View>')
DRAWN = MaskTarget("image", "image", False, "tag", "brushlabels", ("Car", "Person"))


def _car() -> np.ndarray:
    m = np.zeros((20, 40), bool)
    m[5:12, 5:15] = True
    return m


def _region(*labels: str, region_id: str = "car") -> dict:
    return mask_region(_car(), DRAWN, list(labels), region_id=region_id)


def _propagated(human: dict[int, list[dict]], frames: int, labels: Any, config: str = DYNAMIC) -> dict[int, list]:
    """The prediction written on each frame of a clip of ``frames`` flat frames in memory whose
    human frames hold the given regions, each task's data ``labels`` as given (absent: None)."""
    from samvid.images import ImageSource
    from samvid.settings import Settings
    from samvid.studio.client import Studio

    settings = Settings.from_env({"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "x"})
    studio = Studio(settings.label_studio_url, "x")
    studio.request = lambda method, path, what, **kwargs: {"label_config": config}
    propagator = Propagator(studio, ImageSource.from_settings(settings))
    extra = {} if labels is None else {"labels": labels}
    propagator.clip_tasks = lambda project, clip, waited_for=False: [
        {"id": 1 + f, "data": {"clip": "c", "frame": f, "image": f"/f{f}.png", **extra},
         "total_annotations": int(f in human)} for f in range(frames)]
    propagator.latest_annotation = lambda task_id: human[task_id - 1]
    images = [np.full((20, 40, 3), 100, np.uint8) for _ in range(frames)]
    propagator._span = lambda walk, target, all_frames: (images[: len(walk)], {i: t["id"] for i, t in enumerate(walk)})
    propagator.annotated_now = lambda task_id: task_id - 1 in human
    written: dict[int, list] = {}
    studio.replace_predictions = lambda task_id, prefix, result, *args, **kwargs: written.update({task_id - 1: result})
    studio.own_predictions = lambda task_id, prefix: []

    class Context:
        def progress(self, done, total, fps): pass
        def note(self, text): pass
        def cancelled(self): return False

    propagator.run(PropagationRequest(1, "c", 0, frames=frames - 1, direction="forward"), Context())
    return written


def _labels(result: list[dict]) -> list:
    return [r["value"].get("brushlabels", r["value"].get("labels")) for r in result]


def test_propagated_frames_keep_the_label_of_the_tasks_list_the_human_gave():
    written = _propagated({0: [_region("Person")]}, 3, [{"value": "Car"}, {"value": "Person"}])
    assert sorted(written) == [1, 2]
    assert all(_labels(result) == [["Person"]] for result in written.values())


def test_a_region_saved_without_a_label_takes_the_one_label_its_tasks_list_offers():
    # As a static config's one <Label> names it: nothing else can be meant.
    written = _propagated({0: [_region()]}, 3, [{"value": "Car"}])
    assert all(_labels(result) == [["Car"]] for result in written.values())


def test_a_region_saved_without_a_label_stays_unlabelled_where_its_task_offers_several():
    written = _propagated({0: [_region()]}, 2, [{"value": "Car"}, {"value": "Person"}])
    assert _labels(written[1]) == [[]]


def test_a_frame_task_without_its_list_of_labels_is_still_propagated_with_its_saved_labels():
    written = _propagated({0: [_region("Person")]}, 2, None)
    assert _labels(written[1]) == [["Person"]]


def test_a_dynamic_labels_row_beside_a_plain_brush_labels_the_propagated_masks():
    # Drawn as Label Studio saves it: the brush geometry and a "labels" twin of the <Labels>.
    human = mask_regions(_car(), parse_config(SEPARATE).for_task({"labels": ["Car"]}), ["Car"], region_id="car")
    assert [r["type"] for r in human] == ["brush", "labels"]
    written = _propagated({0: human}, 2, ["Car", "Person"], SEPARATE)
    assert [(r["type"], r["from_name"]) for r in written[1]] == [("brush", "brush"), ("labels", "kind")]
    assert _labels(written[1])[1] == ["Car"]


def test_the_parts_of_an_object_are_one_class_in_the_order_of_the_tasks_list():
    target = parse_config(DYNAMIC).for_task({"labels": ["Person", "Car", "red"]})
    parts = [_region("red", "Car"), _region("Car")]
    (seed,) = seeds_from_result(parts, target)
    assert seed.labels == ("Car", "red")


class _Locks:
    def hold(self, task_id: int):
        return contextlib.nullcontext()


def test_auto_prelabel_labels_each_tasks_masks_with_the_first_label_of_its_own_list(monkeypatch):
    tasks = [{"id": 1, "data": {"clip": "c", "frame": 0, "image": "/a.png", "labels": ["Car", "Person"]}},
             {"id": 2, "data": {"clip": "c", "frame": 1, "image": "/b.png", "labels": [{"value": "Dog"}]}},
             {"id": 3, "data": {"clip": "c", "frame": 2, "image": "/c.png"}}]
    made: dict[int, str] = {}

    def regions(predictor, ref, task_id, target, label, config):
        made[task_id] = label
        return [mask_region(_car(), target, [label], region_id=f"a{task_id}")]

    monkeypatch.setattr("samvid.prelabel.automatic_regions", regions)
    monkeypatch.setattr("samvid.prelabel.require_everything", lambda segmenter: None)
    written: dict[int, list] = {}
    studio: Any = type("Studio", (), {})()
    studio.request = lambda *args, **kwargs: {"label_config": DYNAMIC}
    studio.task_rows = lambda project, *args, **kwargs: tasks
    studio.replace_predictions = lambda task_id, prefix, result, *args, **kwargs: written.update({task_id: result})
    propagator: Any = type("Propagator", (), {"locks": _Locks(), "annotated_now": lambda self, task_id: False})()
    notes: list[str] = []

    class Context:
        def progress(self, done, total, fps): pass
        def note(self, text): notes.append(text)
        def cancelled(self): return False

    result = Prelabeler(studio, lambda: type("P", (), {"segmenter": None, "version": "x"})(), propagator).run(
        PrelabelRequest(1, mode="auto"), Context())
    assert made == {1: "Car", 2: "Dog"}
    assert {k: _labels(v) for k, v in written.items()} == {1: [["Car"]], 2: [["Dog"]]}
    assert result["not_labelled"] == [3]
    assert "task data 'labels'" in notes[-1]


@pytest.mark.parametrize("config", [DYNAMIC, SEPARATE])
def test_a_dynamic_config_reads_its_data_key(config):
    assert parse_config(config).labels_keys[0][1] == "labels"
