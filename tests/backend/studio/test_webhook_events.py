"""What a Label Studio webhook event asks samvid to do."""

from __future__ import annotations

import pytest

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


@pytest.mark.parametrize("frame", [None, "five", 2.5, -1])
def test_a_submitted_task_whose_frame_is_no_index_is_no_frame_to_propagate_from(frame):
    """Propagation does not count such a task among the clip's frames either."""
    assert propagation_from_event(submitted(frame), Settings.from_env({})) is None
