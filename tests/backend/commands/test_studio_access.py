"""Every command that talks to Label Studio reads LABEL_STUDIO_URL as the backend's settings
do: a bad value is refused with the one message ``Settings.from_env`` gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from samvid.cli import main
from samvid.errors import ConfigError
from samvid.settings import Settings


@pytest.mark.parametrize("command", [
    ["export", "{tmp}/out", "--project", "1", "--format", "coco"],
    ["prelabel", "--project", "1"],
    ["import", "{tmp}/clip.mp4", "--project", "some clips", "--no-backend"],
], ids=lambda argv: argv[0])
def test_every_command_refuses_a_bad_label_studio_url_with_the_settings_message(
        command: list[str], tmp_path: Path, monkeypatch, capsys) -> None:
    for var, value in {"LABEL_STUDIO_URL": "label-studio:8080", "LABEL_STUDIO_API_KEY": "token",
                       "REDIS_URL": ""}.items():
        monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as expected:
        Settings.from_env()
    assert main([arg.format(tmp=tmp_path) for arg in command]) == 2
    assert f"samvid {command[0]}: error: {expected.value}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
