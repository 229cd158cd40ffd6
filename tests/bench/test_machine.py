"""The machine line every bench prints first (``bench/machine.py``): recorded figures
depend on the CPU, down to which SIMD kernels OpenCV runs, so the line names them."""

from __future__ import annotations

import cv2
from machine import cores, describe


def test_the_machine_line_is_one_line_naming_cores_and_opencvs_kernels() -> None:
    line = describe()
    assert "\n" not in line
    assert line.startswith("machine: ")
    assert f"{cores()} cores" in line
    assert f"OpenCV {cv2.__version__} ({cv2.getCPUFeaturesLine()})" in line


def test_cores_counts_at_least_one() -> None:
    assert cores() >= 1
