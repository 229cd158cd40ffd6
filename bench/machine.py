"""The machine a bench ran on: one line at the top of its output, so that a recorded
figure carries the machine that made it.

Timings depend on the CPU, and so do some masks. OpenCV chooses its SIMD kernels when
it starts: its CPU features line marks with * the instruction sets it uses and with ?
those it has kernels for that this CPU lacks. Kernels of different widths round
differently, and a tracker carries each frame's rounding into the next. On davis16's
drift-turn, `flow` gives J&F 0.753 with OpenCV's AVX2 kernels and 0.768 with
`OPENCV_CPU_DISABLE=AVX2,FP16,AVX` on the same machine (docs/lab/tracker.md, "Speed"). So
compare figures from two machines with that margin in mind, and timings only as
ratios measured in one run.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata

import cv2


def cpu_model() -> str:
    """The CPU's model name, as the kernel reports it where it does."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cores() -> int:
    """Cores this process may run on (a container's share, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def describe() -> str:
    """One line: CPU, cores, and the versions that decide the figures."""
    parts = [f"Python {platform.python_version()}", f"numpy {_version('numpy')}",
             f"OpenCV {cv2.__version__} ({cv2.getCPUFeaturesLine()})"]
    torch = _version("torch")
    if torch is not None:
        parts.append(f"torch {torch}")  # read from its metadata: importing it costs seconds
    return f"machine: {cpu_model()}, {cores()} cores; " + ", ".join(parts)
