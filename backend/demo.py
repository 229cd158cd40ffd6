"""A small demo clip, generated on the spot so nothing large is committed.

A textured ball rolls across a textured background while the camera pans slowly: a
click on the ball gives a clean mask with any segmenter, and the flow tracker has
texture to follow, so propagation is visible on the next frames. The clip is
deterministic (fixed seed), so ``samvid up`` run twice imports the same clip once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samvid.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoClip:
    frames: int = 12
    width: int = 320
    height: int = 240
    fps: int = 6
    radius: int = 34
    step: int = 8  # pixels the ball moves per frame
    seed: int = 7

    def __post_init__(self) -> None:
        if self.frames < 1 or self.fps < 1:
            raise ValueError(f"a demo clip needs 1 or more frames and fps, not {self.frames} "
                             f"frames at {self.fps} fps")
        if self.radius < 1 or min(self.width, self.height) < 2 * self.radius + 1:
            raise ValueError(f"a ball of radius {self.radius} does not fit a "
                             f"{self.width}x{self.height} demo clip")

    def ball_centre(self, index: int) -> tuple[int, int]:
        """Where the ball is on frame ``index`` (x, y), in pixels.

        It rolls right and bounces off the frame's edges: rolling on, a clip longer than
        its path across (26 frames at the default size) drew it past the edge."""
        low, high = self.radius, self.width - 1 - self.radius  # the whole ball in view
        if high == low:
            return low, self.height // 2
        span = high - low
        along = (80 - low + self.step * index) % (2 * span)
        return low + (along if along <= span else 2 * span - along), self.height // 2


def render_frames(clip: DemoClip = DemoClip()) -> list[np.ndarray]:
    """RGB uint8 frames, H x W x 3."""
    rng = np.random.default_rng(clip.seed)
    h, w = clip.height, clip.width
    # Smooth-ish background: blocky noise upscaled, so it reads as a scene, not static.
    pan = 2 * clip.frames
    coarse = rng.integers(40, 150, (h // 8 + 1, (w + pan) // 8 + 1, 3), dtype=np.uint8)
    background = np.kron(coarse, np.ones((8, 8, 1), dtype=np.uint8))[:h, : w + pan]
    r = clip.radius
    stripes = (np.add.outer(np.arange(2 * r + 1), np.arange(2 * r + 1)) // 6) % 2
    ball = np.where(stripes[..., None] == 1, [250, 200, 40], [230, 60, 40]).astype(np.uint8)
    ys, xs = np.mgrid[-r : r + 1, -r : r + 1]
    inside = xs**2 + ys**2 <= r**2
    frames = []
    for i in range(clip.frames):
        frame = background[:, 2 * i : 2 * i + w].copy()  # the camera pans 2 px per frame
        cx, cy = clip.ball_centre(i)
        patch = frame[cy - r : cy + r + 1, cx - r : cx + r + 1]
        patch[inside] = ball[inside]
        frames.append(frame)
    return frames


def write_demo_clip(path: Path, clip: DemoClip = DemoClip()) -> Path:
    """Write the clip as H.264 MP4 (MPEG-4 part 2 when this PyAV lacks x264).

    Written to a temporary name and renamed, so an interrupted run leaves no half file
    that a later run would import. An existing file is kept: its content hash names the
    clip in Label Studio, and rewriting it could change that.
    """
    import av

    path = Path(path)
    if path.is_file() and path.stat().st_size > 0:
        return path
    # This run's own temp name: two `samvid up` on one --data-dir wrote one file, so one
    # renamed it while the other still wrote it, and the other's rename found it gone.
    partial = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.touch(exist_ok=False)  # O_EXCL: never another run's
        with av.open(str(partial), mode="w", format="mp4") as container:
            stream = container.add_stream(codec, rate=clip.fps)
            stream.width, stream.height, stream.pix_fmt = clip.width, clip.height, "yuv420p"
            if codec == "libx264":  # near-lossless and reproducible: one thread, fixed quality
                stream.options = {"crf": "12", "preset": "medium", "threads": "1"}
            for image in render_frames(clip):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            container.mux(stream.encode())
        os.replace(partial, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)  # no litter on a full disk or Ctrl-C
        if not isinstance(exc, OSError):
            raise
        # A demo/ folder left by another user (`sudo samvid up`) or a full disk: a traceback
        # from `samvid up`, after Label Studio and the backend had started.
        raise ConfigError(f"cannot write the demo clip {path}: {exc.strerror or exc}; give "
                          "--data-dir a folder you can write to, or videos to import") from exc
    log.info("wrote the demo clip %s (%d frames, %s)", path, clip.frames, codec)
    return path
