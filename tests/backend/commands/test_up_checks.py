"""``samvid up`` (the demo command) says what is wrong with its videos before it starts
Label Studio and the backend: a minute of start-up and shutdown must not stand between a
user and "that file is not a video"."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from PIL import Image

from samvid.cli import main
from samvid.commands import up
from samvid.models.registry import DEFAULT_MODEL


class _NoStack:
    """Stands in for the launcher: entering it means Label Studio would have been started."""

    entered = False

    def __init__(self, options: object) -> None:
        pass

    def __enter__(self) -> _NoStack:
        type(self).entered = True
        raise AssertionError("Label Studio and the backend were started for an unreadable video")

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.parametrize("content", [b"hello, not a video\n", b"\x00" * 64], ids=["text", "zeros"])
def test_up_on_a_file_that_is_not_a_video_says_so_before_starting_anything(
        tmp_path: Path, content: bytes, monkeypatch, capsys) -> None:
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(content)
    monkeypatch.setattr(up, "Stack", _NoStack)
    _NoStack.entered = False
    assert main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", str(fake)]) == 2
    err = capsys.readouterr().err
    assert f"samvid up: error: {fake}: not a video" in err, err
    assert not _NoStack.entered
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("var, value", [("SAMVID_DEVICE", "gpu"), ("SAMVID_PRECISION", "fp64"),
                                        ("SAMVID_MAX_IMAGE_BYTES", "0")])
def test_up_with_a_setting_the_backend_refuses_says_so_before_starting_anything(
        tmp_path: Path, var: str, value: str, monkeypatch, capsys) -> None:
    clip = tmp_path / "clip"
    clip.mkdir()
    (clip / "00000.jpg").write_bytes(b"")  # a frame folder: find_sources accepts it unread
    monkeypatch.setattr(up, "Stack", _NoStack)
    monkeypatch.setenv(var, value)
    _NoStack.entered = False
    assert main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", str(clip)]) == 2
    err = capsys.readouterr().err
    assert f"samvid up: error: {var}" in err, err
    assert not _NoStack.entered


def test_up_reads_an_empty_samvid_model_as_unset_like_the_backend(monkeypatch) -> None:
    monkeypatch.setenv("SAMVID_MODEL", "")
    parser = argparse.ArgumentParser()
    up.add_arguments(parser)
    assert parser.parse_args([]).model == DEFAULT_MODEL


def test_up_reads_an_empty_samvid_device_as_unset_like_the_backend(tmp_path: Path, monkeypatch) -> None:
    # docker compose writes ${SAMVID_DEVICE:-} as "": `samvid up` refused it as "not a device".
    clip = tmp_path / "clip"
    clip.mkdir()
    Image.new("RGB", (16, 16)).save(clip / "00000.jpg")
    monkeypatch.setattr(up, "Stack", _NoStack)
    monkeypatch.setenv("SAMVID_DEVICE", "")
    _NoStack.entered = False
    with pytest.raises(AssertionError, match="were started"):  # _NoStack: it went on to start them
        main(["up", "--data-dir", str(tmp_path / "data"), "--model", "classic", str(clip)])
    assert _NoStack.entered
