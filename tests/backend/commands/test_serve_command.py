"""``samvid serve`` names a refused device or precision as the user gave it."""

from __future__ import annotations

import socket

import pytest

from samvid.cli import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("flags, env, said, unsaid", [
    (["--device", "cuda:7"], {}, "--device cuda:7: this machine has", "SAMVID_DEVICE"),
    ([], {"SAMVID_DEVICE": "cuda:7"}, "SAMVID_DEVICE=cuda:7: this machine has", "--device"),
    (["--device", "cpu", "--precision", "fp16"], {}, "--precision fp16 on cpu", "SAMVID_PRECISION"),
    (["--device", "gpu"], {}, "--device 'gpu' is not a device", "SAMVID_DEVICE"),
], ids=["device-flag", "device-variable", "precision-flag", "no-device-flag"])
def test_serve_names_a_refused_device_or_precision_as_the_user_gave_it(
        flags: list[str], env: dict[str, str], said: str, unsaid: str, capsys, monkeypatch) -> None:
    import torch

    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    for name in ("SAMVID_DEVICE", "SAMVID_PRECISION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["serve", "--port", str(_free_port()), "--model", "classic", *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert said in err and unsaid not in err


@pytest.mark.parametrize("flags, said", [
    (["--workers", "3"], "--workers and --dev contradict each other"),
    (["--threads", "2"], "--threads and --dev contradict each other"),
    (["--workers", "2", "--threads", "8"], "--workers and --threads and --dev contradict each other"),
])
def test_serve_dev_refuses_workers_or_threads_it_would_ignore(flags: list[str], said: str, capsys, monkeypatch) -> None:
    # Flask's server ignored them, yet the start warned of workers without REDIS_URL and set up
    # metrics shared between processes. The port is held: should the start go on, it stops there.
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        code = main(["serve", "--dev", "--port", str(held.getsockname()[1]), "--model", "classic", *flags])
    assert code == 2
    assert said in capsys.readouterr().err
