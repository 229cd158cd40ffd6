"""A propagation request (webhook, POST /propagate, samvid propagate): what it accepts and refuses."""

from __future__ import annotations

import pytest

from samvid import jobs
from samvid.errors import BadRequest
from samvid.propagation import PropagationRequest
from samvid.propagation.request import REQUEST_KEYS

BASE = {"project": 3, "clip": "walk", "frame": 5}


def test_a_minimal_request_tracks_forward_up_to_the_next_human_frame_without_bridging():
    req = PropagationRequest.from_payload(BASE)
    assert (req.direction, req.frames, req.bridge, req.before, req.all_frames) == ("forward", 0, False, True, False)
    assert PropagationRequest.from_payload({**BASE, "bridge": True}).bridge


def test_a_request_survives_its_job_payload():
    req = PropagationRequest.from_payload({**BASE, "direction": "both", "frames": 9, "objects": [1, "b"],
                                           "engine": "flow-preview", "bridge": False, "before": False})
    assert PropagationRequest.from_payload(req.to_payload()) == req


@pytest.mark.parametrize(("change", "message"), [
    ({"frame": "five"}, "frame must be a frame index"),
    ({"project": True}, "project must be a project id"),
    ({"project": 1.9}, "project must be a project id"),
    ({"project": "3"}, "project must be a project id"),
    ({"engine": "sam3"}, "engine 'sam3' is unknown: choose one of auto, flow"),
    ({"engine": 7}, "engine 7 is unknown"),
    ({"frame": -3}, "frame must be a frame index"),
    ({"frame": True}, "frame must be a frame index"),
    ({"frame": 2.5}, "frame must be a frame index"),
    ({"frame": 1e300}, "frame must be a frame index"),
    ({"frame": "5"}, "frame must be a frame index"),
    ({"clip": ""}, "clip must be"),
    ({"clip": " \t"}, "clip must be a clip id"),
    ({"direction": "sideways"}, "direction must be"),
    ({"frames": -1}, "frames must be"),
    ({"frames": True}, "frames must be"),
    ({"objects": "all"}, "objects must be"),
    ({"bridge": "no"}, "bridge must be true or false"),
    ({"before": 0}, "before must be true or false"),
    ({"all_frames": "yes"}, "all_frames must be true or false"),
])
def test_a_malformed_field_is_refused_with_what_to_give(change, message):
    with pytest.raises(BadRequest, match=message):
        PropagationRequest.from_payload({**BASE, **change})


@pytest.mark.parametrize("objects", [[{}], [None], [True], [""], [[1]]])
def test_an_object_that_is_neither_a_region_id_nor_a_number_is_refused_at_once(objects):
    # Accepted, it reached the job as "{}" or "None" and failed only once the job ran.
    with pytest.raises(BadRequest, match="objects must be a list of object ids"):
        PropagationRequest.from_payload({**BASE, "objects": objects})


def test_an_object_number_sent_as_a_whole_float_names_that_object():
    assert PropagationRequest.from_payload({**BASE, "objects": [2.0, "r1"]}).objects == (2, "r1")


def test_frames_take_a_whole_float_as_project_and_frame_do():
    assert PropagationRequest.from_payload({**BASE, "frames": 12.0}).frames == 12
    for frames in (2.5, False, ""):
        with pytest.raises(BadRequest, match="frames must be"):
            PropagationRequest.from_payload({**BASE, "frames": frames})


def test_an_unknown_field_is_refused_naming_the_fields_a_request_takes():
    # "limit" for "frames" ran a job over every frame up to the next human one.
    with pytest.raises(BadRequest, match=r"unknown field\(s\) 'limit': a propagation request takes "
                                         r"project, clip, frame, direction, frames, objects"):
        PropagationRequest.from_payload({**BASE, "limit": 3})


# A job payload as every samvid before payload versions queued it (version 1).
TODAYS_PAYLOAD = {"project": 3, "clip": "walk", "frame": 5, "direction": "forward", "frames": 0, "objects": [2, "r1"],
                  "engine": "flow", "all_frames": False, "bridge": True, "before": True}


@pytest.mark.parametrize("version", [{}, {"payload_version": 1}, {"payload_version": 1.0}])
def test_a_job_payload_of_this_version_is_read_whether_or_not_it_says_its_version(version):
    req = PropagationRequest.from_payload({**TODAYS_PAYLOAD, **version})
    assert (req.project, req.clip, req.frame, req.objects, req.bridge) == (3, "walk", 5, (2, "r1"), True)


def test_a_request_of_version_1_is_queued_without_its_version_which_workers_before_versions_refuse():
    assert PropagationRequest.from_payload(TODAYS_PAYLOAD).to_payload() == TODAYS_PAYLOAD


def test_once_the_version_is_raised_the_payload_carries_it_and_reads_back(monkeypatch):
    monkeypatch.setitem(jobs.PAYLOAD_VERSIONS, "propagate", 2)
    payload = PropagationRequest.from_payload(TODAYS_PAYLOAD).to_payload()
    assert payload == {**TODAYS_PAYLOAD, "payload_version": 2}
    assert PropagationRequest.from_payload(payload) == PropagationRequest.from_payload(TODAYS_PAYLOAD)


def test_a_request_of_a_newer_samvid_is_refused_as_such_not_for_its_new_field():
    # `samvid propagate --backend-url` of a newer samvid, posting to this backend: "unknown
    # field 'keep_ids'" blamed the request, not the versions.
    with pytest.raises(BadRequest) as refused:
        PropagationRequest.from_payload({**TODAYS_PAYLOAD, "keep_ids": True, "payload_version": 2})
    message = refused.value.message
    assert "made by a newer samvid" in message and "payload is version 2" in message, message
    assert "reads propagate payloads up to version 1" in message and "upgrade the backend" in message, message
    assert "unknown field" not in message


@pytest.mark.parametrize("version", [0, -1, "2", True, 1.5, None])
def test_a_version_that_is_no_whole_number_from_1_is_refused(version):
    with pytest.raises(BadRequest, match="payload_version must be a whole number from 1"):
        PropagationRequest.from_payload({**TODAYS_PAYLOAD, "payload_version": version})


def test_a_field_added_to_the_request_raises_its_payload_version():
    # Workers of the version before then refuse its jobs as a newer samvid's (jobs.run_payload):
    # once a field is added, raise PAYLOAD_VERSIONS["propagate"] and pin the new fields here.
    assert (jobs.PAYLOAD_VERSIONS["propagate"], REQUEST_KEYS) == (1, tuple(TODAYS_PAYLOAD))


def test_a_request_without_project_clip_or_frame_is_refused_naming_all_three():
    with pytest.raises(BadRequest, match=r"give project \(id\), clip \(string\) and frame \(index\)"):
        PropagationRequest.from_payload({"project": 3, "clip": "walk"})


def test_a_request_that_is_not_an_object_is_refused():
    with pytest.raises(BadRequest, match="JSON object"):
        PropagationRequest.from_payload([BASE])


def test_samvid_propagate_refuses_an_unknown_engine_at_start_naming_the_choices(monkeypatch, capsys):
    from samvid.cli import main

    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")  # never reached
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "x")
    code = main(["propagate", "--project", "1", "--clip", "c", "--from-frame", "0", "--engine", "sam3"])
    assert code == 2
    assert "unknown engine 'sam3'; choose one of auto, flow" in capsys.readouterr().err
    from samvid.tracker.engines import resolved

    assert resolved("auto") != "sam3", "a refused engine never becomes the process's auto"


def test_samvid_propagate_refuses_bridge_and_no_bridge_together(capsys):
    from samvid.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["propagate", "--project", "1", "--clip", "c", "--from-frame", "0", "--bridge", "--no-bridge"])
    assert stop.value.code == 2
    assert "not allowed with argument --bridge" in capsys.readouterr().err


def test_more_objects_than_a_job_takes_are_refused_at_once_with_their_count():
    # Queued, the job failed only once it ran, advising groups: the list was one.
    for objects, count in ((list(range(1, 102)), 101), ([f"r{i}" for i in range(5000)], 5000)):
        with pytest.raises(BadRequest, match=f"at most 100 objects a job, got {count}: split them into groups"):
            PropagationRequest.from_payload({**BASE, "objects": objects})


def test_an_object_named_twice_counts_once_towards_the_objects_a_job_takes():
    objects = [*range(1, 101), 1, 2]
    assert len(PropagationRequest.from_payload({**BASE, "objects": objects}).objects) == 102
