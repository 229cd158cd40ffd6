"""``samvid up`` refuses what its backend or its import would refuse before it starts anything:
Label Studio's start (a minute or more) and shutdown must not stand between a user and the error."""

from __future__ import annotations

import socket
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
    assert f"SAMVID_CONFIG_DIR={empty}" in err and "`brush` config" in err, err


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
