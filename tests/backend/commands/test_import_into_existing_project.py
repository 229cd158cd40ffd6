"""``samvid import`` into a project Label Studio has: the project keeps its own labeling
config, so ``--labels`` and ``--config`` (for a new project) are not used, and the import
says so once, as ``samvid up`` does, where they differ from the project's. Given again as
the project was made with, at each import, they are no news. Label Studio is a stand-in."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from samvid.cli import main
from samvid.commands import importer
from samvid.studio.client import Project, Studio
from samvid.studio.configs import load_config

# Made by `samvid import --project Street --labels car,person` (the default config, brush).
STREET_CONFIG = load_config("brush").render(["car", "person"])


class StreetStudio:
    """A Label Studio holding one project, ``Street`` (id 7); a new title makes project 8."""

    url = "http://127.0.0.1:1"
    made: list[str] = []  # the labeling configs of the projects it made

    def __init__(self, *args: object) -> None:
        self.street = Project(7, "Street", STREET_CONFIG)
        self.ids = iter(range(100, 10_000))

    def check(self) -> str:
        return "me@example.com"

    def the_project_titled(self, title: str) -> Project | None:
        return Studio.the_project_titled(self, title)  # type: ignore[arg-type]  # the client's own rule

    def projects_titled(self, title: str) -> list[Project]:
        return [self.street] if title == self.street.title else []

    def get_or_create_project(self, title: str, label_config: str) -> tuple[Project, bool]:
        if title == self.street.title:
            return self.street, False
        StreetStudio.made.append(label_config)
        return Project(8, title, label_config), True

    def task_rows(self, project_id: int, query: dict[str, Any] | None = None,
                  whole_if_refused: bool = True) -> list[dict[str, Any]]:
        return []

    def upload_file(self, project_id: int, path: Path) -> str:
        return f"/data/upload/{project_id}/{path.name}"

    def create_tasks(self, project_id: int, data: list[dict[str, Any]], batch: int = 50) -> list[int]:
        return [next(self.ids) for _ in data]


@pytest.fixture
def frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(importer, "Studio", StreetStudio)
    monkeypatch.setattr(StreetStudio, "made", [])
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "x")
    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"{i:05d}.png"), np.full((24, 32, 3), 40 * i, np.uint8))
    return folder


def _import(frames: Path, caplog: pytest.LogCaptureFixture, *flags: str, project: str = "Street") -> list[str]:
    """What the import warned of its labeling config; it must succeed."""
    with caplog.at_level(logging.WARNING, logger="samvid"):
        assert main(["import", str(frames), "--project", project, "--upload", "--no-backend", *flags]) == 0
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and "labeling config" in r.getMessage()]


@pytest.mark.parametrize("flags, said", [
    (["--labels", "car,truck"], "--labels car,truck ignored: project 'Street' (id 7) exists and keeps its "
                                "labeling config (its labels are edited in Label Studio: Settings > "
                                "Labeling Interface)"),
    (["--config", "polygon"], "--config polygon ignored: project 'Street' (id 7) exists and keeps its "
                              "labeling config (it is edited in Label Studio: Settings > Labeling Interface)"),
    (["--config", "polygon", "--labels", "car,truck"],
     "--config polygon --labels car,truck ignored: project 'Street' (id 7) exists and keeps its "
     "labeling config (it is edited in Label Studio: Settings > Labeling Interface)"),
], ids=["other-labels", "other-config", "both"])
def test_labels_or_a_config_other_than_the_existing_projects_are_said_to_be_ignored_once(
        frames: Path, caplog: pytest.LogCaptureFixture, flags: list[str], said: str) -> None:
    assert _import(frames, caplog, *flags) == [said]
    assert StreetStudio.made == []  # the project is not changed, nor another made


@pytest.mark.parametrize("flags", [
    [],
    ["--labels", "person,car"],  # as the project was made (in another order): given again at each import
    ["--config", "brush", "--labels", "car,person"],
    ["--config", "brush"],  # the project's own config: its labels are the project's to keep
], ids=["none-given", "its-own-labels", "its-own-config-and-labels", "its-own-config"])
def test_labels_and_config_the_existing_project_has_are_no_news(
        frames: Path, caplog: pytest.LogCaptureFixture, flags: list[str]) -> None:
    assert _import(frames, caplog, *flags) == []


def test_labels_and_config_for_a_new_project_make_it_without_a_warning(
        frames: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert _import(frames, caplog, "--config", "polygon", "--labels", "car,truck", project="Avenue") == []
    assert StreetStudio.made == [load_config("polygon").render(["car", "truck"])]


def test_labels_a_project_without_masks_was_made_with_are_no_news(
        frames: Path, caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Any config with <Image value="$image"> is imported; its labels are those of its *Labels controls.
    boxes = tmp_path / "boxes.xml"
    boxes.write_text('<View><Image name="image" value="$image"/>'
                     '<RectangleLabels name="box" toName="image"><Label value="Object"/></RectangleLabels></View>')
    monkeypatch.setattr(sys.modules[__name__], "STREET_CONFIG", load_config(str(boxes)).render(["car", "person"]))
    assert _import(frames, caplog, "--config", str(boxes), "--labels", "car,person") == []
    assert _import(frames, caplog, "--labels", "car,truck") == [
        "--labels car,truck ignored: project 'Street' (id 7) exists and keeps its labeling config (its "
        "labels are edited in Label Studio: Settings > Labeling Interface)"]
