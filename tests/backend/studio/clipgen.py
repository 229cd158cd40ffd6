"""Small H.264 clips written with PyAV for the import tests (a helper module, not a
conftest, so that its name cannot clash with the other conftest modules)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def level(i: int) -> int:
    return 20 + (8 * i) % 200


def write_clip(path: Path, times: list[float], size: tuple[int, int] = (64, 48), *,
               rotation: int | None = None, faststart: bool = False) -> Path:
    """H.264 clip; frame i is flat grey ``level(i)`` shown at ``times[i]``."""
    width, height = size
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), level(i), np.uint8))
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path

