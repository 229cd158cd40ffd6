"""``samvid up`` refuses what its backend or its import would refuse before it starts anything:
Label Studio's start (a minute or more) and shutdown must not stand between a user and the error."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from samvid.cli import main


@pytest.fixture
def no_children(monkeypatch) -> None:
    """Any child process (Label Studio, the backend) started fails the test."""
    from samvid import launcher

    def no_child(*args: object, **kwargs: object) -> None:
        raise AssertionError("a child process was started")

    monkeypatch.setattr(launcher.Child, "start", no_child)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _up(tmp_path: Path, *flags: str) -> int:
    return main(["up", "--data-dir", str(tmp_path / "data"), "--port", str(_free_port()), *flags])


@pytest.mark.parametrize("flags, env, said", [
    (["--model", "facebook/sam2.1-hiera-tiny", "--device", "cpu"], {"SAMVID_PRECISION": "fp16"},
     "SAMVID_PRECISION=fp16 on cpu: fp16 runs on CUDA"),
    (["--model", "classic", "--device", "cpu"], {"SAMVID_PRECISION": "fp16"}, "fp16 runs on CUDA"),
    (["--model", "classic", "--device", "cuda:7"], {}, "--device cuda:7: this machine has"),
    (["--model", "classic"], {"SAMVID_TRACKER": "flwo"}, "SAMVID_TRACKER=flwo: unknown engine"),
    (["--model", "classic"], {"SAMVID_TRACKER_MODEL": "classic"}, "SAMVID_TRACKER_MODEL='classic' has no video memory"),
], ids=["fp16-with-sam-fallen-back-to-classic", "fp16-with-classic", "a-gpu-not-here-with-classic",
        "unknown-tracker", "tracker-model-without-memory"])
def test_up_refuses_before_starting_anything_what_its_classic_backend_would_refuse(
        tmp_path: Path, flags: list[str], env: dict[str, str], said: str, capsys, monkeypatch,
        no_children) -> None:
    import torch
    from huggingface_hub import constants

    if "cuda:7" in flags and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))  # no SAM weights here
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _up(tmp_path, *flags) == 2
    assert said in capsys.readouterr().err


def test_up_with_the_weight_free_model_and_a_precision_the_cpu_runs_goes_on_to_start(
        tmp_path: Path, monkeypatch, no_children) -> None:
    monkeypatch.setenv("SAMVID_PRECISION", "fp32")
    with pytest.raises(AssertionError, match="a child process was started"):
        _up(tmp_path, "--model", "classic", "--device", "cpu", "--backend-port", str(_free_port()))


def test_up_with_a_config_dir_without_the_brush_config_names_the_variable_before_starting(
        tmp_path: Path, capsys, monkeypatch, no_children) -> None:
    from samvid.studio import configs

    empty = tmp_path / "configs"
    empty.mkdir()
    (empty / "polygons.xml").write_text("<View/>")
    monkeypatch.setenv("SAMVID_CONFIG_DIR", str(empty))
    monkeypatch.setattr(configs, "CONFIG_DIR", empty)  # as read when samvid starts
    assert _up(tmp_path, "--model", "classic", "--backend-port", str(_free_port())) == 2
    err = capsys.readouterr().err
    # A data dir whose Label Studio never ran holds no project: up would have to make one.
    assert "project 'samvid demo' is new" in err and "cannot be made" in err, err
    assert f"SAMVID_CONFIG_DIR={empty} has no brush.xml" in err and "`brush` config" in err, err
    assert "put a brush.xml there" in err and "unset SAMVID_CONFIG_DIR" in err, err
    # Another --project is refused the same way there; a Label Studio that has the project is not.
    assert "--project" not in err and "--no-studio --label-studio-url URL --api-key KEY" in err, err
    assert not (tmp_path / "data").exists()  # no credentials made for a Label Studio never started


def test_up_with_a_config_dir_that_does_not_exist_says_so_not_that_it_lacks_the_brush_config(
        tmp_path: Path, capsys, monkeypatch, no_children) -> None:
    from samvid.studio import configs

    mistyped = tmp_path / "cofnigs"
    monkeypatch.setenv("SAMVID_CONFIG_DIR", str(mistyped))
    monkeypatch.setattr(configs, "CONFIG_DIR", mistyped)  # as read when samvid starts
    assert _up(tmp_path, "--model", "classic", "--backend-port", str(_free_port())) == 2
    err = capsys.readouterr().err
    assert f"SAMVID_CONFIG_DIR={mistyped}: no such folder" in err and "fix the path" in err, err
    assert "has no brush.xml" not in err and "put a brush.xml there" not in err, err
    assert not (tmp_path / "data").exists()


def test_up_with_a_brush_config_that_does_not_load_refuses_it_before_starting_anything(
        tmp_path: Path, capsys, monkeypatch, no_children) -> None:
    from samvid.studio import configs

    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "brush.xml").write_text("<View><Image")
    monkeypatch.setenv("SAMVID_CONFIG_DIR", str(folder))
    monkeypatch.setattr(configs, "CONFIG_DIR", folder)
    # Refused whatever the project: a brush.xml there is meant to be used, and is broken.
    assert _up(tmp_path, "--model", "classic", "--backend-port", str(_free_port()),
               "--project", "an existing project") == 2
    err = capsys.readouterr().err
    assert f"SAMVID_CONFIG_DIR={folder}: {folder / 'brush.xml'}: not valid XML" in err, err
    assert "fix it, or unset SAMVID_CONFIG_DIR" in err, err
    assert not (tmp_path / "data").exists()


def test_up_with_a_backend_port_another_program_holds_says_so_before_starting_label_studio(
        tmp_path: Path, capsys, no_children) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert _up(tmp_path, "--model", "classic", "--backend-port", str(port)) == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is already in use" in err and "--backend-port" in err, err


def test_up_with_no_backend_leaves_the_backend_port_to_the_backend_it_registers(
        tmp_path: Path, capsys, no_children) -> None:
    # --no-backend: the backend is another's (compose); its port is its business, not up's.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(AssertionError, match="a child process was started"):
            _up(tmp_path, "--model", "classic", "--no-backend", "--backend-url", f"http://127.0.0.1:{port}",
                "--backend-port", str(port))


def test_a_backend_left_running_by_a_killed_up_is_named_whatever_backend_port_is_asked(
        tmp_path: Path, capsys, no_children, backend_left_by_a_killed_up) -> None:
    left = backend_left_by_a_killed_up()
    assert _up(tmp_path, "--model", "classic", "--backend-port", str(_free_port())) == 2
    err = capsys.readouterr().err
    assert f"pid {left.pid}, port {left.port}" in err and f"kill {left.pid}" in err, err


def test_up_names_samvid_model_when_the_model_it_refuses_came_from_there(
        tmp_path: Path, capsys, monkeypatch, no_children) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SAMVID_MODEL", "sam2-tiny")
    assert _up(tmp_path) == 2
    err = capsys.readouterr().err
    assert "SAMVID_MODEL=sam2-tiny: unknown model" in err and "--model" not in err, err


def test_up_with_a_blank_samvid_model_names_the_variable_not_a_flag_never_given(
        tmp_path: Path, capsys, monkeypatch, no_children) -> None:
    monkeypatch.setenv("SAMVID_MODEL", "  ")
    assert _up(tmp_path) == 2
    err = capsys.readouterr().err
    assert "SAMVID_MODEL='  ' is blank" in err and "--model" not in err, err


# -- SAMVID_CONFIG_DIR without brush.xml: only a project up must make needs it ------------------


@pytest.fixture
def config_dir_without_brush(tmp_path: Path, monkeypatch) -> Path:
    from samvid.studio import configs

    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "mine.xml").write_text('<View><Image name="image" value="$image"/></View>')
    monkeypatch.setenv("SAMVID_CONFIG_DIR", str(folder))
    monkeypatch.setattr(configs, "CONFIG_DIR", folder)  # as read when samvid starts
    return folder


# What the import takes: a frame in ``image`` and a mask control.
FRAME_CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
                '<Label value="Object"/></BrushLabels></View>')
VIDEO_CONFIG = '<View><Video name="video" value="$video"/></View>'


@dataclass
class _Started:
    """What the stand-ins below saw: the backend's start, the children stopped, the import's options."""

    backend: bool = False
    stopped: list[str] = field(default_factory=list)
    imported: list[object] = field(default_factory=list)


def _stack_with_a_studio_holding(monkeypatch, titles: list[str], started: _Started,
                                 config: str = FRAME_CONFIG) -> type:
    """A Stack whose Label Studio (its own, or the one attached to) holds projects titled ``titles``
    (ids from 3), each with the labeling config ``config``; its Label Studio and backend start as
    stand-ins, and its import only records its options. Projects are found by the client's own
    lookup."""
    from samvid import launcher
    from samvid.studio import client, importer
    from samvid.studio.client import Project
    from samvid.studio.importer import ClipSummary, ImportSummary

    class Studio:
        find_project = client.Studio.find_project
        the_project_titled = client.Studio.the_project_titled

        def __init__(self, url: str, key: str) -> None:
            pass

        def check(self) -> str:
            return "admin@samvid.local"

        def projects_titled(self, title: str) -> list[Project]:
            return [Project(i, t, config) for i, t in enumerate(titles, start=3) if t == title]

    class StartedStudio:
        name = "Label Studio"

        def stop(self, timeout: float = 15.0) -> None:
            started.stopped.append(self.name)

    class StandIns(launcher.Stack):
        def _start_studio(self, creds: object) -> str:
            self.children.append(StartedStudio())  # type: ignore[arg-type]
            return "http://127.0.0.1:1"

        def _start_backend(self, *args: object) -> str:
            started.backend = True
            self._health_url = "http://127.0.0.1:2/health"
            return "http://127.0.0.1:2"

    def import_videos(studio: object, paths: object, options: object) -> ImportSummary:
        started.imported.append(options)
        return ImportSummary(3, "Street", False, None, None, [ClipSummary("c", "c.mp4", 1, 1, task_ids=[5])])

    class Health:
        def json(self) -> dict[str, str]:
            return {"model_version": "classic"}

    monkeypatch.setattr(client, "Studio", Studio)
    monkeypatch.setattr(importer, "import_videos", import_videos)
    monkeypatch.setattr(launcher.requests, "get", lambda *args, **kwargs: Health())
    return StandIns


def _options(tmp_path: Path, label_studio: str, labels: list[str] | None = None):
    """up's options on its own Label Studio, run before (its database and credentials are
    there), or attached to one (--no-studio) with a fresh data dir; ``labels`` as --labels gives
    them (none: not given)."""
    from samvid.launcher import Credentials, Layout, UpOptions

    data = tmp_path / "data"
    common = dict(data_dir=data, model="classic", project="Street", port=_free_port(),
                  backend_port=_free_port(), videos=[tmp_path / "clip.mp4"], labels=labels or [])
    if label_studio == "attached":
        return UpOptions(**common, no_studio=True, studio_url="http://127.0.0.1:1", api_key="k")
    Credentials.load_or_create(data)
    layout = Layout(data.resolve())
    layout.studio_data.mkdir()
    layout.studio_database.write_bytes(b"SQLite format 3\0")
    return UpOptions(**common)


@pytest.mark.parametrize("label_studio", ["own", "attached"])
def test_up_into_a_project_label_studio_has_needs_no_brush_config_in_samvid_config_dir(
        tmp_path: Path, label_studio: str, monkeypatch, config_dir_without_brush: Path) -> None:
    # It was refused at the start: the project keeps its own labeling config and needs none.
    started = _Started()
    stack = _stack_with_a_studio_holding(monkeypatch, ["Street"], started)
    with stack(_options(tmp_path, label_studio)) as up:
        ready = up.start()
    assert ready.project_id == 3 and started.backend
    [options] = started.imported
    assert options.label_config == ""  # type: ignore[attr-defined]  # nothing to make a project with
    assert f"SAMVID_CONFIG_DIR={config_dir_without_brush} has no brush.xml" in \
        options.missing_config  # type: ignore[attr-defined]  # the import refuses a project gone since


@pytest.mark.parametrize("label_studio", ["own", "attached"])
def test_up_into_a_project_label_studio_lacks_is_refused_before_the_backend_starts_and_leaves_nothing_running(
        tmp_path: Path, label_studio: str, monkeypatch, config_dir_without_brush: Path) -> None:
    from samvid.errors import ConfigError

    started = _Started()
    stack = _stack_with_a_studio_holding(monkeypatch, ["Avenue"], started)
    with pytest.raises(ConfigError) as refused, stack(_options(tmp_path, label_studio)) as up:
        up.start()
    said = str(refused.value)
    assert "project 'Street' is not in the Label Studio at http://127.0.0.1:1 and cannot be made" in said, said
    assert f"SAMVID_CONFIG_DIR={config_dir_without_brush} has no brush.xml" in said, said
    assert "give --project the title of a project that Label Studio has" in said, said  # it has some
    assert not started.backend and not started.imported  # no project made, no model loaded
    # The Label Studio this run started is stopped; an attached one is not this run's.
    assert started.stopped == (["Label Studio"] if label_studio == "own" else [])
    assert not (tmp_path / "data" / "ready.json").exists()


@pytest.fixture(params=["without brush.xml", "with brush.xml"])
def config_dir(request, tmp_path: Path, monkeypatch) -> None:
    """SAMVID_CONFIG_DIR without brush.xml, or samvid's own configs: an existing project is
    checked before the backend's start either way."""
    if request.param == "without brush.xml":
        request.getfixturevalue("config_dir_without_brush")
    else:
        monkeypatch.delenv("SAMVID_CONFIG_DIR", raising=False)


@pytest.mark.parametrize("label_studio", ["own", "attached"])
def test_up_into_an_existing_project_whose_config_shows_no_frame_is_refused_before_the_backend_starts(
        tmp_path: Path, label_studio: str, monkeypatch, config_dir: None, request) -> None:
    config_dir_kind = request.node.callspec.params["config_dir"]
    # The import refused it, after the backend had loaded its model (a minute or more with SAM).
    from samvid.errors import ConfigError

    started = _Started()
    stack = _stack_with_a_studio_holding(monkeypatch, ["Street"], started, config=VIDEO_CONFIG)
    with pytest.raises(ConfigError) as refused, stack(_options(tmp_path, label_studio)) as up:
        up.start()
    said = str(refused.value)
    assert "project 'Street' (id 3) has no <Image value=\"$image\">" in said, said
    # Its remedy, another --project, makes a new project: without brush.xml none can be.
    assert ("and no new project can be made: SAMVID_CONFIG_DIR=" in said) == (config_dir_kind == "without brush.xml"), said
    assert not started.backend and not started.imported
    assert started.stopped == (["Label Studio"] if label_studio == "own" else [])


def test_up_into_a_title_two_projects_share_says_what_up_can_do_before_the_backend_starts(
        tmp_path: Path, monkeypatch, config_dir: None, request) -> None:
    # The lookup said "give the project's id", and up refuses a --project of digits.
    from samvid.errors import BadRequest

    started = _Started()
    stack = _stack_with_a_studio_holding(monkeypatch, ["Street", "Street"], started)
    with pytest.raises(BadRequest) as refused, stack(_options(tmp_path, "own")) as up:
        up.start()
    said = str(refused.value)
    assert "2 projects are titled 'Street' (ids 3, 4)" in said, said
    assert "rename or delete all but one of them in Label Studio, or give --project another title" in said, said
    assert "give the project's id" not in said, said  # a remedy up cannot follow
    assert ("and no new project can be made" in said) == (request.node.callspec.params["config_dir"] == "without brush.xml")
    assert not started.backend and started.stopped == ["Label Studio"]


@pytest.mark.parametrize("labels, warned", [(["car", "person"], True), (None, False), (["Object"], False)],
                         ids=["labels-given", "labels-not-given", "its-own-labels-again"])
def test_up_into_an_existing_project_says_that_labels_given_are_not_used(
        tmp_path: Path, monkeypatch, caplog, config_dir: None, labels: list[str] | None,
        warned: bool) -> None:
    started = _Started()
    stack = _stack_with_a_studio_holding(monkeypatch, ["Street"], started)
    with caplog.at_level("WARNING", logger="samvid"), stack(_options(tmp_path, "own", labels)) as up:
        up.start()
    said = [r.getMessage() for r in caplog.records if "--labels" in r.getMessage()]
    assert said == (["--labels car,person ignored: project 'Street' (id 3) exists and keeps its labeling "
                     "config (its labels are edited in Label Studio: Settings > Labeling Interface)"]
                    if warned else []), said
