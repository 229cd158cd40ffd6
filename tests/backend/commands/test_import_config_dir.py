"""``samvid import`` with a SAMVID_CONFIG_DIR that lacks the default labeling config
(``brush.xml``): the config is only for a new project, so an import into an existing
project goes on (it keeps its own config), and a new one is refused naming the variable
and what to do. Label Studio is a stand-in: only the project lookup matters here."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from samvid.cli import main
from samvid.commands import importer
from samvid.errors import SamvidError
from samvid.studio import configs
from samvid.studio.client import Project, Studio

FRAME_CONFIG = ('<View><Image name="image" value="$image"/>'
                '<BrushLabels name="tag" toName="image"><Label value="car"/></BrushLabels></View>')


class PastTheProject(SamvidError):
    """Raised by the stand-in once the import asks for anything after finding its project."""


class OneProjectStudio:
    """A Label Studio holding one project, titled ``Street``; creating one is a failure."""

    url = "http://127.0.0.1:1"

    def __init__(self, *args: object) -> None:
        self.street = Project(7, "Street", FRAME_CONFIG)

    def check(self) -> str:
        return "me@example.com"

    def the_project_titled(self, title: str) -> Project | None:
        return Studio.the_project_titled(self, title)  # type: ignore[arg-type]  # the client's own rule

    def projects_titled(self, title: str) -> list[Project]:
        return [self.street] if title == self.street.title else []

    def get_or_create_project(self, title: str, label_config: str) -> tuple[Project, bool]:
        if title == self.street.title:
            return self.street, False
        raise AssertionError(f"a project was created with {label_config!r}")

    def __getattr__(self, name: str) -> object:
        raise PastTheProject(f"importing into the project: {name}")


@pytest.fixture
def config_dir_without_brush(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "mine.xml").write_text(FRAME_CONFIG)
    monkeypatch.setenv("SAMVID_CONFIG_DIR", str(folder))
    # As samvid reads it when it starts: the module's folder and its functions' default.
    monkeypatch.setattr(configs, "CONFIG_DIR", folder)
    for function in (configs.load_config, configs.config_names, configs.list_configs):
        monkeypatch.setattr(function, "__defaults__", (*function.__defaults__[:-1], folder))
    monkeypatch.setattr(importer, "Studio", OneProjectStudio)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "x")
    return folder


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"{i:05d}.png"), np.full((24, 32, 3), 40 * i, np.uint8))
    return folder


def test_an_import_into_an_existing_project_needs_no_config_in_samvid_config_dir(
        config_dir_without_brush: Path, frames: Path, capsys: pytest.CaptureFixture) -> None:
    # It was refused before Label Studio was asked: "unknown labeling config 'brush' (known: mine)".
    assert main(["import", str(frames), "--project", "Street", "--upload", "--no-backend"]) == 2
    err = capsys.readouterr().err
    assert "importing into the project" in err and "labeling config" not in err, err


def test_an_import_into_a_new_project_without_the_default_config_names_the_variable_and_the_remedy(
        config_dir_without_brush: Path, frames: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["import", str(frames), "--project", "Avenue", "--upload", "--no-backend"]) == 2
    err = capsys.readouterr().err
    assert "project 'Avenue' does not exist and cannot be created" in err, err
    assert f"SAMVID_CONFIG_DIR={config_dir_without_brush} has no brush.xml" in err, err
    assert "put a brush.xml there, or pass --config NAME of one it has (mine)" in err, err


def test_an_existing_project_that_shows_no_frame_is_refused_before_any_video_is_read(
        config_dir_without_brush: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OneProjectStudio, "__init__", lambda self, *args: setattr(
        self, "street", Project(7, "Street", '<View><Video name="v" value="$video"/></View>')))
    not_a_video = tmp_path / "bad.mp4"
    not_a_video.write_bytes(b"no video here")
    assert main(["import", str(not_a_video), "--project", "Street", "--upload", "--no-backend"]) == 2
    err = capsys.readouterr().err
    assert "has no <Image value=\"$image\"> in its labeling config" in err, err


def test_an_import_into_a_title_two_projects_share_says_what_import_can_do(
        config_dir_without_brush: Path, frames: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The client's lookup said "give the project's id", and samvid import takes titles only.
    monkeypatch.setattr(OneProjectStudio, "projects_titled", lambda self, title: [
        Project(7, "Street", FRAME_CONFIG), Project(9, "Street", FRAME_CONFIG)])
    assert main(["import", str(frames), "--project", "Street", "--upload", "--no-backend"]) == 2
    err = capsys.readouterr().err
    assert "2 projects are titled 'Street' (ids 7, 9)" in err, err
    assert "rename or delete all but one of them in Label Studio, or give --project another title" in err, err
    assert "give the project's id" not in err, err
