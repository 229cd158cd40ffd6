"""Memory over a long video: propagate through a generated 10-minute 1080p H.264 file,
streamed from the shared decoder (``samvid.tracker.frames.VideoReader``), and print
resident memory at checkpoints. It must not grow with the length of the video.

    python bench/bench_long_video.py                      # 10 min, 30 fps, 1080p
    python bench/bench_long_video.py --minutes 1 --engine flow

The video is written once (``--video``, reused when it exists): a textured background
seen by a slowly panning camera and one textured object wandering over it, cheap to
render (a crop of a larger texture and one pasted sprite), so writing 18,000 frames
takes minutes, not the hour ``SyntheticVideo`` would. Its exact object mask is known on
every frame, so the table also shows the IoU at each checkpoint: the track is still on
the object at the end.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from machine import describe
from synthetic import shape_alpha, texture

from samvid.tracker.engines import ENGINES, make_engine
from samvid.tracker.frames import VideoReader
from samvid.tracker.metrics import region_iou


def memory_mib() -> tuple[float, float]:
    """(current, peak) resident set size of this process."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


@dataclass
class WanderingObject:
    """Frame i -> (RGB uint8, exact bool mask); deterministic in i, nothing cached per frame."""

    size: tuple[int, int]
    n_frames: int
    seed: int = 5

    def __post_init__(self) -> None:
        h, w = self.size
        self.margin = h // 4
        self.background = texture(self.seed, h + 2 * self.margin, w + 2 * self.margin)
        side = h // 5
        self.sprite = texture(self.seed + 1, side, side).astype(np.float32)
        self.alpha = shape_alpha("blob", side, side, self.seed)[..., None]

    def pose(self, i: int) -> tuple[int, int, int, int]:
        """Camera offset (x, y) into the background and the object's top-left corner."""
        h, w = self.size
        t = i / 30.0  # seconds
        m = self.margin
        cx, cy = m + round(m * 0.9 * math.sin(t / 7)), m + round(m * 0.9 * math.sin(t / 11))
        side = self.sprite.shape[0]
        ox = round((w - side) * (0.5 + 0.45 * math.sin(t / 3.1)))
        oy = round((h - side) * (0.5 + 0.45 * math.sin(t / 4.3)))
        return cx, cy, ox, oy

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.size
        cx, cy, ox, oy = self.pose(i)
        img = self.background[cy : cy + h, cx : cx + w].copy()
        side = self.sprite.shape[0]
        region = img[oy : oy + side, ox : ox + side].astype(np.float32)
        img[oy : oy + side, ox : ox + side] = (self.alpha * self.sprite + (1 - self.alpha) * region).astype(
            np.uint8
        )
        mask = np.zeros((h, w), bool)
        mask[oy : oy + side, ox : ox + side] = self.alpha[..., 0] >= 0.5
        return img, mask


def write_video(path: Path, scene: WanderingObject, fps: int) -> None:
    partial = path.with_suffix(".partial.mp4")
    t0 = time.perf_counter()
    with av.open(str(partial), mode="w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.height, stream.width = scene.size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "26", "g": str(2 * fps)}
        for i in range(scene.n_frames):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(scene[i][0], format="rgb24")))
            if i % 1800 == 0:
                logging.info("writing %s: frame %d / %d", path.name, i, scene.n_frames)
        out.mux(stream.encode())
    partial.rename(path)
    logging.info("wrote %s in %.0f s", path, time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument(
        "--video", type=Path, default=None, help="default: /tmp/samvid-long-<minutes>min-<fps>fps-1080p.mp4"
    )
    ap.add_argument("--engine", default="flow-preview", choices=list(ENGINES))
    args = ap.parse_args()
    n = round(args.minutes * 60 * args.fps)
    if n < 2:
        ap.error(f"--minutes {args.minutes:g} at --fps {args.fps} is {n} frames; the bench needs at least 2")
    print(describe(), flush=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    scene = WanderingObject((1080, 1920), n)
    # The rate is in the name: a video written at another --fps has other frames.
    video = args.video or Path(f"/tmp/samvid-long-{args.minutes:g}min-{args.fps}fps-1080p.mp4")
    if not video.exists():
        write_video(video, scene, args.fps)
    frames = VideoReader(video)
    if len(frames) != n:
        ap.error(f"{video} has {len(frames)} frames, not the {n} of --minutes {args.minutes:g} at --fps "
                 f"{args.fps}: delete it to have it written again, or give another --video")
    engine = make_engine(args.engine)
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 1, scene[0][1])
    checkpoints = sorted({n // 16, n // 8, n // 4, n // 2, n - 1})
    print(f"{video.name}: {n} frames ({args.minutes:g} min at {args.fps} fps, 1080p), engine {args.engine}")
    print("| frames done | RSS (MiB) | peak RSS (MiB) | IoU on this frame | frames/s so far |")
    print("|---:|---:|---:|---:|---:|")
    t0 = time.perf_counter()
    for fm in engine.propagate(state, 0):
        if fm.frame in checkpoints:
            rss, peak = memory_mib()
            iou = region_iou(fm.masks[0], scene[fm.frame][1])
            fps = (fm.frame + 1) / (time.perf_counter() - t0)
            print(f"| {fm.frame + 1} | {rss:.0f} | {peak:.0f} | {iou:.3f} | {fps:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
