"""``samvid prelabel`` as a terminal sees it: what it says when its job ends otherwise than
done (the job itself: ``tests/backend/test_prelabel.py``)."""

from __future__ import annotations

import io
import sys
import threading
import time

import pytest

from samvid.cli import main
from samvid.commands import prelabel as command
from samvid.errors import SamvidError, StudioError
from samvid.prelabel import JOB_KIND, PrelabelRequest
from samvid.redis_jobs import RedisJobs
from samvid.settings import Settings


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_an_error_mid_run_is_said_on_its_own_line_after_the_progress_bar(monkeypatch) -> None:
    def half_done(payload, ctx, settings):
        ctx.progress(3, 10, 1.0)
        raise StudioError("cannot reach Label Studio")

    monkeypatch.setattr(command.Studio, "project_id", lambda self, project: 7)
    monkeypatch.setattr(command, "run_job", half_done)
    monkeypatch.delenv("REDIS_URL", raising=False)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["prelabel", "--project", "Street", "--url", "http://127.0.0.1:9", "--api-key", "k"]) == 2
    lines = terminal.getvalue().split("\n")
    error = next(line for line in lines if "error:" in line)
    assert error.startswith("samvid prelabel: error: cannot reach Label Studio")
    assert "3/10" in lines[lines.index(error) - 1]


@pytest.mark.redis
def test_a_followed_job_superseded_by_the_same_command_says_the_work_goes_on_there(redis_server) -> None:
    settings = Settings.from_env({"REDIS_URL": redis_server.url})
    req = PrelabelRequest.from_payload({"project": 1, "mode": "auto"})
    outcome: dict[str, str] = {}

    def follow() -> None:
        try:
            command._on_redis(settings, req, None)
        except SamvidError as exc:
            outcome["error"] = exc.message

    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(1.0)  # queued: no worker runs it
    RedisJobs(redis_server.url).submit(JOB_KIND, req.key, req.to_payload(), order=req.order)  # run again
    follower.join(30)
    assert "the same pre-labelling was started again" in outcome["error"]
    assert "no reason given" not in outcome["error"]


@pytest.mark.parametrize("left", [{"tasks_written": 2, "not_labelled": [14]},
                                  {"frames_written": 9, "propagations": 1, "not_propagated": ["walk:40"]}])
def test_a_run_that_left_frames_undone_exits_1_so_a_script_can_tell(left, monkeypatch, capsys) -> None:
    monkeypatch.setattr(command.Studio, "project_id", lambda self, project: 7)
    monkeypatch.setattr(command, "run_job", lambda payload, ctx, settings: left)
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["prelabel", "--project", "Street", "--url", "http://127.0.0.1:9", "--api-key", "k"]) == 1
    assert "not " in capsys.readouterr().out  # the summary names what was left
    monkeypatch.setattr(command, "run_job", lambda payload, ctx, settings: {**left, next(
        k for k in left if k.startswith("not_")): []})
    assert main(["prelabel", "--project", "Street", "--url", "http://127.0.0.1:9", "--api-key", "k"]) == 0


def test_an_empty_clip_is_refused_not_read_as_every_clip_of_the_project(monkeypatch, capsys) -> None:
    ran = []
    monkeypatch.setattr(command.Studio, "project_id", lambda self, project: 7)
    monkeypatch.setattr(command, "run_job", lambda payload, ctx, settings: ran.append(payload) or {})
    monkeypatch.delenv("REDIS_URL", raising=False)
    # `--clip "$CLIP"` with CLIP unset, and --force: every clip's predictions redone.
    with pytest.raises(SystemExit) as exited:
        main(["prelabel", "--project", "7", "--clip", "", "--force", "--url", "http://127.0.0.1:9", "--api-key", "k"])
    assert exited.value.code == 2
    assert ran == []
    assert "empty clip id" in capsys.readouterr().err


def test_an_empty_frame_range_is_refused_not_read_as_every_frame_of_the_project(monkeypatch, capsys) -> None:
    ran = []
    monkeypatch.setattr(command.Studio, "project_id", lambda self, project: 7)
    monkeypatch.setattr(command, "run_job", lambda payload, ctx, settings: ran.append(payload) or {})
    monkeypatch.delenv("REDIS_URL", raising=False)
    # `--frames "$RANGE"` with RANGE unset, and --force: every frame's predictions redone.
    with pytest.raises(SystemExit) as exited:
        main(["prelabel", "--project", "7", "--frames", " ", "--force", "--url", "http://127.0.0.1:9",
              "--api-key", "k"])
    assert exited.value.code == 2
    assert ran == []
    assert "empty frame range" in capsys.readouterr().err


@pytest.mark.parametrize("grid", ["-3", "0", "65"])
def test_a_grid_out_of_range_is_told_the_range_it_must_be_in(grid, monkeypatch, capsys) -> None:
    monkeypatch.setattr(command.Studio, "project_id", lambda self, project: 7)
    monkeypatch.setattr(command, "run_job", lambda payload, ctx, settings: {})
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["prelabel", "--project", "7", "--grid", grid, "--url", "http://127.0.0.1:9", "--api-key", "k"]) == 2
    err = capsys.readouterr().err
    # Not "a whole number from 0 to 2147483648" for -3 while 0 is told 1-64.
    assert f"grid must be 1-64 clicks per side, not {grid}" in err


def test_a_frames_range_past_the_last_frame_index_is_said_of_the_frames_option(monkeypatch, capsys) -> None:
    monkeypatch.setattr(command.Studio, "project_id", lambda self, project: 7)
    monkeypatch.setattr(command, "run_job", lambda payload, ctx, settings: {})
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["prelabel", "--project", "7", "--frames", "0:99999999999",
                 "--url", "http://127.0.0.1:9", "--api-key", "k"]) == 2
    err = capsys.readouterr().err
    assert "--frames '0:99999999999'" in err  # the option the user wrote, not the request field "end"


@pytest.mark.parametrize("rows", [
    [{"id": i, "data": {"image": f"/data/{i}.png", "clip": "walk", "frame": i}, "total_annotations": 1,
      "total_predictions": 0} for i in range(3)],  # every frame annotated by a human
    [],  # a --frames range or --clip that selects no task
], ids=["all-annotated", "empty-selection"])
def test_auto_prelabel_with_nothing_to_do_says_so_without_loading_a_model(rows, monkeypatch, capsys, caplog) -> None:
    from samvid.predictor import Predictor

    loads: list[Settings] = []
    monkeypatch.setattr(Predictor, "from_settings", classmethod(lambda cls, settings: loads.append(settings)))
    monkeypatch.setattr(command.Studio, "project_id", lambda self, project: 7)
    monkeypatch.setattr(command.Studio, "task_rows", lambda self, project, query=None: rows)
    monkeypatch.setattr(command.Studio, "request", lambda self, method, path, what, **kwargs: {
        "label_config": '<View><Image name="image" value="$image"/><BrushLabels name="tag" '
                        'toName="image"><Label value="Car"/></BrushLabels></View>'})
    monkeypatch.delenv("REDIS_URL", raising=False)
    caplog.set_level("INFO", logger="samvid.prelabel")
    assert main(["prelabel", "--project", "7", "--mode", "auto", "--frames", "0:3",
                 "--url", "http://127.0.0.1:9", "--api-key", "k"]) == 0
    # Loading a model takes long (or fails where it has no weights) for no work at all.
    assert loads == []
    assert "nothing to do" in caplog.text
    assert "tasks written: 0" in capsys.readouterr().out


@pytest.mark.parametrize("project", ["", "  "])
def test_an_empty_project_is_refused_not_matched_to_an_untitled_project(project, monkeypatch, capsys) -> None:
    from types import SimpleNamespace

    class Projects:  # Label Studio's API makes a project without a title ""
        def list(self, title=None):
            return [SimpleNamespace(id=3, title="", label_config="<View/>"),
                    SimpleNamespace(id=4, title="Street", label_config="<View/>")]

    made = command.Studio.__init__

    def with_projects(self, *args, **kwargs) -> None:
        made(self, *args, **kwargs)
        self.sdk = SimpleNamespace(projects=Projects())

    ran = []
    monkeypatch.setattr(command.Studio, "__init__", with_projects)
    monkeypatch.setattr(command, "run_job", lambda payload, ctx, settings: ran.append(payload) or {})
    monkeypatch.delenv("REDIS_URL", raising=False)
    # `--project "$PROJECT"` with PROJECT unset, and --force: project 3's predictions redone.
    with pytest.raises(SystemExit) as exited:
        main(["prelabel", "--project", project, "--force", "--url", "http://127.0.0.1:9", "--api-key", "k"])
    assert exited.value.code == 2
    assert ran == []
    assert "empty project: give the project's id or exact title" in capsys.readouterr().err


@pytest.mark.parametrize("frames", [":", " : "])
def test_a_frame_range_with_neither_bound_is_refused_not_read_as_every_frame(frames, monkeypatch, capsys) -> None:
    ran = []
    monkeypatch.setattr(command.Studio, "project_id", lambda self, project: 7)
    monkeypatch.setattr(command, "run_job", lambda payload, ctx, settings: ran.append(payload) or {})
    monkeypatch.delenv("REDIS_URL", raising=False)
    # `--frames "$FIRST:$LAST"` with both unset, and --force: every frame's predictions redone.
    assert main(["prelabel", "--project", "7", "--frames", frames, "--force", "--url", "http://127.0.0.1:9",
                 "--api-key", "k"]) == 2
    assert ran == []
    assert "gives neither A nor B" in capsys.readouterr().err


@pytest.mark.parametrize("redis", [False, True])
def test_a_device_this_machine_lacks_is_said_before_label_studio_is_asked_unless_a_worker_runs_the_job(
        redis, monkeypatch, capsys) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("SAMVID_DEVICE", "cuda")
    ran = []
    monkeypatch.setattr(command, "run_job", lambda payload, ctx, settings: ran.append(payload) or {})
    if redis:  # queued: a worker's GPU runs it, and only the (closed) Label Studio is said
        monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")
    else:
        monkeypatch.delenv("REDIS_URL", raising=False)
    # Nothing listens on port 9: the device was said only once Label Studio answered, as
    # "cannot reach Label Studio" while it was down; `samvid propagate` names the device first.
    assert main(["prelabel", "--project", "1", "--url", "http://127.0.0.1:9", "--api-key", "k"]) == 2
    err = capsys.readouterr().err
    assert ("SAMVID_DEVICE=cuda: this machine has no CUDA GPU" in err) is not redis
    assert ("cannot reach Label Studio" in err) is redis
    assert ran == []


@pytest.mark.parametrize("flags, env", [
    (["--mode", "propagate"], {"SAMVID_TRACKER": "flow"}),
    ([], {"SAMVID_MODEL": "classic"}),
], ids=["flow-propagation", "classic-automatic-masks"])
def test_a_device_this_machine_lacks_is_no_reason_to_refuse_a_job_that_runs_no_model_on_it(
        flags, env, monkeypatch, capsys) -> None:
    # A laptop sharing a GPU server's settings (SAMVID_DEVICE=cuda) pre-labels with flow.
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("SAMVID_DEVICE", "cuda")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["prelabel", "--project", "1", "--url", "http://127.0.0.1:9", "--api-key", "k", *flags]) == 2
    err = capsys.readouterr().err
    assert "cannot reach Label Studio" in err and "CUDA" not in err, err


def test_a_job_run_here_propagates_on_the_device_and_precision_the_settings_name(monkeypatch) -> None:
    # Nothing configured the engines on this path: a GPU box set to SAMVID_DEVICE=cpu ran on the
    # GPU, at auto precision, and a laptop with a server's SAMVID_DEVICE=cuda was refused for it.
    from samvid.studio.client import Studio
    from samvid.tracker import engines

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("SAMVID_DEVICE", "cpu")
    monkeypatch.setenv("SAMVID_PRECISION", "fp32")
    monkeypatch.setenv("SAMVID_TRACKER", "flow")
    monkeypatch.setattr(engines, "_defaults", engines._defaults)  # restored after the test
    monkeypatch.setattr(engines, "_auto", engines._auto)
    monkeypatch.setattr(Studio, "project_id", lambda self, ref: 1)
    seen = []
    monkeypatch.setattr(command, "run_job", lambda payload, ctx, settings: seen.append(engines._defaults) or {})
    assert main(["prelabel", "--project", "1", "--mode", "propagate", "--url", "http://127.0.0.1:9",
                 "--api-key", "k", "--json"]) == 0
    assert seen == [engines.EngineOptions("cpu", "fp32", False)]


def test_the_frames_help_says_frames_count_from_0_with_no_index_from_the_end(capsys) -> None:
    # `--frames -5:` is argparse's bare "expected one argument": the help is where to look.
    with pytest.raises(SystemExit):
        main(["prelabel", "--help"])
    assert "no negative index from the end" in " ".join(capsys.readouterr().out.split())
