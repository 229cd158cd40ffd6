"""What a Label Studio webhook event asks samvid to do."""

from __future__ import annotations

import pytest

from samvid.errors import BadRequest
from samvid.settings import Settings
from samvid.studio.events import propagation_from_event


def submitted(frame: object) -> dict:
    return {"action": "ANNOTATION_CREATED", "annotation": {"id": 1, "result": []},
            "task": {"id": 7, "project": 3, "data": {"image": "/data/x.png", "clip": "walk", "frame": frame}}}


@pytest.mark.parametrize("frame", [5, "5", 5.0])
def test_a_submitted_frame_propagates_from_its_index_however_the_import_wrote_it(frame):
    """A CSV import makes every value text: its "5" was refused and no submit propagated."""
    request = propagation_from_event(submitted(frame), Settings.from_env({}))
    assert request is not None and (request.project, request.clip, request.frame) == (3, "walk", 5)


@pytest.mark.parametrize("frame", [None, "five", 2.5, -1, pytest.param("9" * 5000, id="5000-digits")])
def test_a_submitted_task_whose_frame_is_no_index_is_no_frame_to_propagate_from(frame):
    """Propagation does not count such a task among the clip's frames either; text of
    thousands of digits (which ``int`` refuses) answered Label Studio with a 500."""
    assert propagation_from_event(submitted(frame), Settings.from_env({})) is None


def test_a_submitted_frame_whose_event_names_no_project_is_refused_saying_so():
    """It was refused as a propagation request without its "project" field ("not None")."""
    event = submitted(5)
    del event["task"]["project"]
    with pytest.raises(BadRequest, match="names no project"):
        propagation_from_event(event, Settings.from_env({}))


def test_the_project_of_a_submitted_frame_may_come_from_the_event_alone():
    event = submitted(5)
    del event["task"]["project"]
    event["project"] = {"id": 4}
    assert propagation_from_event(event, Settings.from_env({})).project == 4
