"""The precision bench (``bench/bench_precision.py``): which rows it measures, in which
order, and what it says when its DAVIS frames are not there. No model is built."""

from __future__ import annotations

import sys
from pathlib import Path

import bench_precision
import pytest


def run_main(monkeypatch: pytest.MonkeyPatch, *argv: str) -> None:
    monkeypatch.setattr(sys, "argv", ["bench_precision.py", *argv])
    bench_precision.main()


def test_fp32_is_measured_first_whatever_order_the_precisions_are_given_in() -> None:
    # The table's "speed vs fp32" ratios are taken against its first row: before the fix
    # `--precisions bf16 fp32` made bf16 that row and printed it as "(reference)".
    chosen, refused = bench_precision.variants(["bf16", "fp32", "bf16"], "cpu", [])
    assert [v.name for v in chosen] == ["fp32", "bf16"]
    assert refused == []


def test_a_precision_the_device_refuses_gets_a_row_saying_so() -> None:
    chosen, refused = bench_precision.variants(["fp32", "fp16"], "cpu", [])
    assert [v.name for v in chosen] == ["fp32"]
    assert [r.precision for r in refused] == ["fp16"] and "refused on cpu" in refused[0].note


def test_precisions_without_fp32_are_refused_before_anything_is_measured(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix every click was measured, then the comparison failed: KeyError 'fp32'.
    with pytest.raises(SystemExit) as exit_:
        run_main(monkeypatch, "--precisions", "bf16", "--davis", "/nonexistent/davis16")
    assert exit_.value.code == 2
    assert "--precisions must include fp32" in capsys.readouterr().err


def test_a_missing_davis_folder_is_named_before_the_models_are_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix both models were built (a minute) and OpenCV then failed on an empty
    # image: "(-215:Assertion failed) !_src.empty() in function 'cvtColor'".
    davis = tmp_path / "davis16"
    with pytest.raises(SystemExit) as exit_:
        run_main(monkeypatch, "--davis", str(davis), "--frames", "1", "--track", "1", "--track-seqs", "1")
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "needs the DAVIS 2016 frames" in err
    assert str(davis / "JPEGImages" / "dog-agility" / "00000.jpg") in err


def test_the_first_missing_file_is_named_when_the_folder_is_incomplete(tmp_path: Path) -> None:
    (tmp_path / "JPEGImages" / "dog-agility").mkdir(parents=True)
    (tmp_path / "Annotations" / "dog-agility").mkdir(parents=True)
    for name in ("JPEGImages/dog-agility/00000.jpg", "Annotations/dog-agility/00000.png",
                 "JPEGImages/dog-agility/00001.jpg"):
        (tmp_path / name).write_bytes(b"")
    assert bench_precision.missing_davis_file(tmp_path, 1, ["dog-agility"], 1) is None
    assert bench_precision.missing_davis_file(tmp_path, 1, ["dog-agility"], 2) == (
        tmp_path / "JPEGImages" / "dog-agility" / "00002.jpg")
