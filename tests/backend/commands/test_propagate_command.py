"""``samvid propagate``'s exit status and errors: the same whether the job runs here or on a
backend (``--backend-url``), and a bad value said before Label Studio is asked."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from flask import Flask, Response, jsonify
from services import ServedApp

from samvid.cli import main
from samvid.commands import propagate as command
from samvid.errors import StudioError


@contextmanager
def ended_backend(state: str, error: str | None) -> Iterator[str]:
    """A samvid backend stand-in whose job has ended in ``state`` when it answers."""
    app = Flask(f"{state}-backend")

    @app.post("/propagate")
    def ended() -> Response:
        return jsonify({"id": "job-1", "state": state, "error": error,
                        "frames_done": 0, "frames_total": 0, "fps": 0.0})

    with ServedApp(app) as served:
        yield served.url


@pytest.fixture
def failing_backend() -> Iterator[str]:
    """Its job ends as a local run would raise: failed."""
    with ended_backend("failed", "frame 4 has no annotation") as url:
        yield url


def test_a_job_cancelled_on_the_backend_says_what_most_often_cancels_one(capsys) -> None:
    with ended_backend("cancelled", None) as url:
        assert main(["propagate", "--project", "3", "--clip", "walk", "--from-frame", "4",
                     "--backend-url", url]) == 2
    assert "job job-1 was cancelled: a later job on the clip" in capsys.readouterr().err


def test_a_job_that_fails_on_the_backend_is_an_error_as_it_is_here(failing_backend, capsys) -> None:
    assert main(["propagate", "--project", "3", "--clip", "walk", "--from-frame", "4",
                 "--backend-url", failing_backend]) == 2
    err = capsys.readouterr().err
    assert "samvid propagate: error: job job-1 failed: frame 4 has no annotation" in err


def test_a_project_number_python_cannot_read_is_no_traceback(failing_backend, monkeypatch, capsys) -> None:
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    assert main(["propagate", "--project", "²", "--clip", "walk", "--from-frame", "4",
                 "--backend-url", failing_backend]) == 2  # a title to look up: no key here
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("backend", [[], ["--backend-url", "http://127.0.0.1:9"]])
def test_a_negative_frame_is_said_before_label_studio_is_asked(backend, monkeypatch, capsys) -> None:
    # Nothing listens on port 9: asking Label Studio first would say it cannot be reached.
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "k")
    monkeypatch.delenv("SAMVID_TRACKER", raising=False)
    assert main(["propagate", "--project", "Street", "--clip", "walk", "--from-frame", "-1", *backend]) == 2
    err = capsys.readouterr().err
    assert "frame must be a frame index" in err and "cannot reach" not in err


@pytest.mark.parametrize("project", ["3", "Street"])
def test_a_backend_url_without_its_scheme_is_refused_before_anything_is_asked(project, monkeypatch, capsys) -> None:
    # Was "cannot reach the samvid backend at localhost:9090: InvalidSchema" (or Label Studio's
    # outage, for a title), where `samvid import` says what to give.
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "k")
    assert main(["propagate", "--project", project, "--clip", "walk", "--from-frame", "4",
                 "--backend-url", "localhost:9090"]) == 2
    err = capsys.readouterr().err
    assert "--backend-url 'localhost:9090'" in err and "give an http:// or https:// URL such as http://localhost:9090" in err
    assert "cannot reach" not in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_an_error_mid_run_is_said_on_its_own_line_after_the_progress_bar(monkeypatch) -> None:
    class HalfDone:
        def run(self, req, ctx):
            ctx.progress(3, 10, 1.0)
            raise StudioError("cannot reach Label Studio")

    monkeypatch.setattr(command.Studio, "project_id", lambda self, project: 7)
    monkeypatch.setattr(command, "propagator_for", lambda studio, settings: HalfDone())
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "k")
    monkeypatch.delenv("SAMVID_TRACKER", raising=False)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["propagate", "--project", "Street", "--clip", "walk", "--from-frame", "4"]) == 2
    lines = terminal.getvalue().split("\n")
    error = next(line for line in lines if "error:" in line)
    assert error.startswith("samvid propagate: error: cannot reach Label Studio")
    assert "3/10" in lines[lines.index(error) - 1]


def test_ctrl_c_while_following_a_backend_job_says_the_job_goes_on_there(monkeypatch, capsys) -> None:
    app = Flask("running-backend")
    job = {"id": "job-7", "state": "running", "error": None, "frames_done": 3, "frames_total": 90, "fps": 2.0}
    app.add_url_rule("/propagate", "submit", lambda: jsonify(job), methods=["POST"])
    app.add_url_rule("/jobs/<job_id>", "poll", lambda job_id: jsonify(job))

    def ctrl_c(seconds: float) -> None:
        raise KeyboardInterrupt

    # Ctrl-C at the first wait between two polls (this module's sleep only, not the stand-in's).
    monkeypatch.setattr(command, "time", SimpleNamespace(sleep=ctrl_c))
    with ServedApp(app) as served:
        assert main(["propagate", "--project", "3", "--clip", "walk", "--from-frame", "4",
                     "--backend-url", served.url]) == 130
    err = capsys.readouterr().err
    assert "stopped following job job-7; it goes on on the backend" in err
    assert f"DELETE {served.url}/jobs/job-7 cancels it" in err


def test_a_backend_url_that_answers_a_page_is_not_said_to_be_unreachable(capsys) -> None:
    # A proxy's login page (or another server) at --backend-url answers 200 with HTML.
    app = Flask("page-backend")

    @app.post("/propagate")
    def page() -> Response:
        return Response("<html>Sign in</html>", mimetype="text/html")

    with ServedApp(app) as served:
        assert main(["propagate", "--project", "3", "--clip", "walk", "--from-frame", "4",
                     "--backend-url", served.url]) == 2
    err = capsys.readouterr().err
    assert "cannot reach" not in err
    assert "no samvid job" in err and "Sign in" in err


def _following_backend(answers: list[tuple[dict, int]]) -> Flask:
    """A backend whose job runs: each poll gets the next of ``answers``, then the job is done."""
    app = Flask("following-backend")
    job = {"id": "job-5", "state": "running", "error": None, "frames_done": 1, "frames_total": 4, "fps": 1.0}
    app.add_url_rule("/propagate", "submit", lambda: jsonify(job), methods=["POST"])

    def poll(job_id: str) -> tuple[Response, int]:
        if answers:
            body, status = answers.pop(0)
            return jsonify(body), status
        return jsonify({**job, "state": "done", "frames_done": 4, "result": {"frames_written": 4}}), 200

    app.add_url_rule("/jobs/<job_id>", "poll", poll)
    return app


def test_a_backend_briefly_away_while_its_job_is_followed_is_waited_for(monkeypatch, capsys) -> None:
    # Its Redis restarting (503), then a proxy without its backend (502): the job runs on.
    monkeypatch.setattr(command, "POLL_RETRY_SECONDS", 5.0, raising=False)
    away = [({"error": "cannot reach the Redis job queue"}, 503), ({"error": "bad gateway"}, 502)]
    with ServedApp(_following_backend(away)) as served:
        assert main(["propagate", "--project", "3", "--clip", "walk", "--from-frame", "4",
                     "--backend-url", served.url]) == 0
    assert "done: 4 frames of clip 'walk'" in capsys.readouterr().out


def test_a_backend_lost_for_good_while_its_job_is_followed_names_the_job_that_goes_on(monkeypatch, capsys) -> None:
    import requests

    monkeypatch.setattr(command, "POLL_RETRY_SECONDS", 1.0, raising=False)
    with ServedApp(_following_backend([])) as served:
        def refused(*args, **kwargs):
            raise requests.ConnectionError("connection refused")

        monkeypatch.setattr(command.requests, "get", refused)  # the submit got through; every poll fails
        assert main(["propagate", "--project", "3", "--clip", "walk", "--from-frame", "4",
                     "--backend-url", served.url]) == 2
    err = capsys.readouterr().err
    assert "job job-5" in err and "goes on" in err and f"{served.url}/jobs/job-5" in err


def test_a_backend_that_takes_connections_and_never_answers_is_followed_no_longer_than_the_retry_time(
        monkeypatch, capsys) -> None:
    # Each poll waited its whole 30 s timeout: 390 s in all where 60 s was meant.
    import time

    import requests

    monkeypatch.setattr(command, "POLL_RETRY_SECONDS", 2.0, raising=False)
    asked: list[float] = []
    with ServedApp(_following_backend([])) as served:
        def silent(*args, timeout, **kwargs):
            asked.append(timeout)
            time.sleep(timeout)
            raise requests.ReadTimeout("no answer")

        monkeypatch.setattr(command.requests, "get", silent)
        started = time.monotonic()
        assert main(["propagate", "--project", "3", "--clip", "walk", "--from-frame", "4",
                     "--backend-url", served.url]) == 2
    assert time.monotonic() - started < 6 and max(asked) <= 2.0
    assert "job job-5" in capsys.readouterr().err


def test_a_backend_answering_503_is_followed_for_the_whole_retry_time(monkeypatch, capsys) -> None:
    # The last wait ran past the deadline and was not taken: 55 s of the 60 meant.
    import time

    monkeypatch.setattr(command, "POLL_RETRY_SECONDS", 3.0, raising=False)
    tried: list[float] = []
    with ServedApp(_following_backend([])) as served:
        class Busy:
            status_code = 503
            text = "Redis restarting"

            def json(self):
                return {"error": "Redis restarting"}

        def busy(*args, **kwargs):
            tried.append(time.monotonic())
            return Busy()

        monkeypatch.setattr(command.requests, "get", busy)
        assert main(["propagate", "--project", "3", "--clip", "walk", "--from-frame", "4",
                     "--backend-url", served.url]) == 2
    assert tried[-1] - tried[0] >= 2.8
    assert "job job-5" in capsys.readouterr().err


@pytest.mark.parametrize("backend", [[], ["--backend-url", "http://127.0.0.1:9"]])
def test_a_blank_clip_is_refused_before_label_studio_is_asked_as_prelabel_refuses_it(
        backend, monkeypatch, capsys) -> None:
    # `--clip "$CLIP"` with CLIP of spaces: was sent on to Label Studio (here: said unreachable).
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "k")
    monkeypatch.delenv("SAMVID_TRACKER", raising=False)
    assert main(["propagate", "--project", "1", "--clip", " ", "--from-frame", "0", *backend]) == 2
    err = capsys.readouterr().err
    assert "clip must be a clip id" in err and "cannot reach" not in err


def test_objects_asked_for_that_the_frame_lacks_are_said_and_exit_1_on_a_backend(capsys) -> None:
    # Tracked without a word beside the others: one typo in a group left an object untracked under "done".
    app = Flask("missing-backend")
    job = {"id": "job-2", "state": "done", "error": None, "frames_done": 3, "frames_total": 3, "fps": 1.0,
           "result": {"frames_written": 3, "frames_empty": 0, "objects_missing": ["9", 12]}}
    app.add_url_rule("/propagate", "submit", lambda: jsonify(job), methods=["POST"])
    with ServedApp(app) as served:
        assert main(["propagate", "--project", "3", "--clip", "walk", "--from-frame", "4", "--object", "3",
                     "--object", "9", "--object", "12", "--backend-url", served.url]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("done: 3 frames of clip 'walk'")
    assert "no object of frame 4 of clip 'walk' is named '9', 12 (--object): those were not tracked; " in err


def test_objects_asked_for_that_the_frame_lacks_are_said_and_exit_1_here_too(monkeypatch, capsys) -> None:
    class SomeMissing:
        def run(self, req, ctx):
            return {"frames_written": 2, "frames_empty": 0, "objects_missing": ["car-9"]}

    monkeypatch.setattr(command.Studio, "project_id", lambda self, project: 7)
    monkeypatch.setattr(command, "propagator_for", lambda studio, settings: SomeMissing())
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "k")
    monkeypatch.delenv("SAMVID_TRACKER", raising=False)
    assert main(["propagate", "--project", "Street", "--clip", "walk", "--from-frame", "4",
                 "--object", "car-1", "--object", "car-9"]) == 1
    assert "is named 'car-9' (--object)" in capsys.readouterr().err
