"""Webhook events as Label Studio 1.23 really posts them (``samvid.studio.events``)."""

from __future__ import annotations

import pytest

from samvid.errors import BadRequest
from samvid.settings import Settings
from samvid.studio.events import propagation_from_event


@pytest.mark.parametrize("action", ["ANNOTATION_CREATED", "ANNOTATION_UPDATED"])
def test_a_submit_from_a_webhook_without_its_payload_is_refused_saying_to_turn_the_payload_on(action):
    """With "Send payload" off Label Studio posts the action alone: it was answered
    "ignored", and no submit of the project ever propagated, without a word why."""
    with pytest.raises(BadRequest, match="Send payload"):
        propagation_from_event({"action": action}, Settings.from_env({}))


@pytest.mark.parametrize("action", ["TASKS_DELETED", "PROJECT_UPDATED", "ANNOTATIONS_DELETED", "START_TRAINING"])
def test_other_events_without_a_payload_are_still_ignored(action):
    assert propagation_from_event({"action": action}, Settings.from_env({})) is None


def test_a_skipped_frame_is_still_no_frame_to_propagate_from():
    event = {"action": "ANNOTATION_CREATED", "annotation": {"id": 1, "result": [], "was_cancelled": True},
             "task": {"id": 7, "project": 3, "data": {"image": "/data/x.png", "clip": "walk", "frame": 5}}}
    assert propagation_from_event(event, Settings.from_env({})) is None
