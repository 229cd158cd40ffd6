"""``samvid propagate`` without ``--direction`` / ``--frames`` follows the settings a submit
follows (SAMVID_PROPAGATE_DIRECTION, SAMVID_PROPAGATE_FRAMES); a flag given wins.

The job is sent to a stand-in backend (``--backend-url``) that keeps what it was asked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, Response, jsonify, request
from services import ServedApp

from samvid.cli import main


@pytest.fixture
def backend() -> Iterator[tuple[str, list[dict]]]:
    """A samvid backend stand-in: records each job it is given and reports it done."""
    asked: list[dict] = []
    app = Flask("recording-backend")

    @app.post("/propagate")
    def record() -> Response:
        asked.append(request.get_json())
        return jsonify({"id": "job-1", "state": "done", "frames_done": 0, "frames_total": 0,
                        "fps": 0.0, "frames_written": 0})

    with ServedApp(app) as served:
        yield served.url, asked


def propagate(url: str, *flags: str) -> int:
    return main(["propagate", "--project", "3", "--clip", "walk", "--from-frame", "4",
                 "--backend-url", url, *flags])


def test_propagate_flags_default_to_the_propagation_settings_and_a_given_flag_wins(backend, monkeypatch):
    url, asked = backend
    monkeypatch.setenv("SAMVID_PROPAGATE_DIRECTION", "both")
    monkeypatch.setenv("SAMVID_PROPAGATE_FRAMES", "5")
    assert propagate(url) == 0
    assert propagate(url, "--direction", "forward", "--frames", "0") == 0
    assert propagate(url, "--frames", "2") == 0
    assert [(job["direction"], job["frames"]) for job in asked] == [("both", 5), ("forward", 0), ("both", 2)]


def test_propagate_object_picks_the_objects_a_job_tracks_and_none_means_every_one(backend):
    """A frame with more objects than a job takes is propagated in groups (the job's error says so)."""
    url, asked = backend
    assert propagate(url, "--object", "3", "--object", "car-7") == 0
    assert propagate(url) == 0
    assert [job.get("objects", []) for job in asked] == [["3", "car-7"], []]


@pytest.mark.parametrize("given", [" ", "", "0", "00"])
def test_propagate_object_that_names_no_object_is_refused_naming_the_flag_before_any_job(given, backend, capsys):
    url, asked = backend
    with pytest.raises(SystemExit) as exit_:
        propagate(url, "--object", "3", "--object", given)
    assert exit_.value.code == 2
    assert f"argument --object: {given!r} names no object" in capsys.readouterr().err
    assert asked == []


def test_propagate_object_is_sent_stripped_and_any_other_region_id_as_it_is(backend):
    # An ID read from a file ("3\r") named no object, and the job tracked the others without a word.
    url, asked = backend
    assert propagate(url, "--object", " 3\r", "--object=-1", "--object", "1.5", "--object", "aB3x_9") == 0
    assert asked[0]["objects"] == ["3", "-1", "1.5", "aB3x_9"]


def test_propagate_with_more_objects_than_a_job_takes_is_refused_with_the_count_before_any_job(backend, capsys):
    url, asked = backend
    flags = [flag for i in range(1, 102) for flag in ("--object", str(i))]
    assert propagate(url, *flags) == 2
    assert "at most 100 objects a job, got 101: split them into groups" in capsys.readouterr().err
    assert asked == []
