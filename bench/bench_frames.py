"""Decoder choice for samvid.tracker.frames: PyAV against OpenCV on the shared clips.

Measures, per clip and decoder:
- sequential decode to RGB uint8 (frames/s, whole clip, median of ``--repeat``);
- random access by frame index (mean ms over ``--samples`` random indices), and whether
  the frame returned equals the one sequential decoding gives at that index (drift);
- reverse read (samvid only): every frame last to first by index on a fresh reader, as
  reverse tracking reads them (frames/s, median of ``--repeat``), and how many differ
  from the sequential frames.

    python bench/bench_frames.py ../shared/media/*.mp4 [--samples 20] [--repeat 2] [--vfr]

``--vfr`` adds a generated variable-frame-rate 720p clip (gaps of 1/60 s and 1/15 s),
where seeking by frame number through a nominal rate (OpenCV) lands on other frames.

Figures from a run are recorded in docs/import.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from machine import describe

from samvid.tracker.frames import VideoReader


def pyav_sequential(path: Path, threads: bool) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        return [f.to_ndarray(format="rgb24") for f in container.decode(stream)]


def opencv_sequential(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def samvid_sequential(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        return [frame.image for frame in reader.iter_frames()]


def samvid_reverse(path: Path) -> list[np.ndarray]:
    """Every frame, read last to first by index, returned first to last."""
    with VideoReader(path) as reader:
        return [reader[i] for i in range(len(reader) - 1, -1, -1)][::-1]


def opencv_random(path: Path) -> Callable[[int], np.ndarray]:
    cap = cv2.VideoCapture(str(path))

    def get(index: int) -> np.ndarray:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, bgr = cap.read()
        if not ok:
            raise RuntimeError(f"OpenCV could not read frame {index}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    return get


def timed(fn: Callable[[], list[np.ndarray]], repeat: int) -> tuple[float, list[np.ndarray]]:
    """Frames/s (median of ``repeat`` runs: the machine may be shared) and the frames."""
    seconds, frames = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        frames = fn()
        seconds.append(time.perf_counter() - start)
    return len(frames) / statistics.median(seconds), frames


def bench_clip(path: Path, samples: int, repeat: int, seed: int) -> list[str]:
    rows = []
    sequential = {
        "pyav (threads=AUTO)": lambda: pyav_sequential(path, True),
        "pyav (1 thread)": lambda: pyav_sequential(path, False),
        "opencv": lambda: opencv_sequential(path),
        "samvid VideoReader": lambda: samvid_sequential(path),
    }
    own: dict[str, list[np.ndarray]] = {}
    results: dict[str, tuple[float, ...]] = {}
    for name, fn in sequential.items():
        fps, frames = timed(fn, repeat)
        results[name] = (fps, len(frames))
        own[name] = frames
    count = len(own["samvid VideoReader"])
    indices = random.Random(seed).sample(range(count), min(samples, count))
    reader = VideoReader(path)
    # Each decoder's random access is checked against its own sequential frames, so a
    # colour-conversion difference between decoders is not counted as drift.
    randoms = {"samvid VideoReader": reader.__getitem__, "opencv": opencv_random(path)}
    for name, get in randoms.items():
        seconds, wrong = 0.0, 0
        for i in indices:
            start = time.perf_counter()
            frame = get(i)
            seconds += time.perf_counter() - start
            # Outside the timed region: the figure is the access alone, not the check.
            wrong += not np.array_equal(frame, own[name][i])
        ms = seconds / len(indices) * 1000
        results[name] = (*results[name], ms, wrong)
    reader.close()
    reverse_fps, backwards = timed(lambda: samvid_reverse(path), repeat)
    wrong = sum(not np.array_equal(a, b) for a, b in zip(backwards, own["samvid VideoReader"]))
    wrong += abs(len(backwards) - count)
    reverse = {"samvid VideoReader": f"{reverse_fps:.0f}, {wrong}/{count} wrong"}
    for name, values in results.items():
        access = f"{values[2]:.0f} ms, {values[3]}/{len(indices)} wrong" if len(values) > 2 else "-"
        rows.append(f"| {path.name} | {name} | {values[1]:.0f} | {values[0]:.0f} | {access} | "
                    f"{reverse.get(name, '-')} |")
    return rows


def write_vfr_clip(path: Path, count: int = 120) -> Path:
    """A 1280x720 H.264 clip whose frame gaps alternate 1/60 s and 1/15 s, GOP 12."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (720, 1280, 3), np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.codec_context.gop_size = 12  # keyframes to seek to, as in long videos
        stream.time_base = stream.codec_context.time_base = Fraction(1, 60)
        pts = 0
        for i in range(count):
            image = np.roll(base, 8 * i, axis=1)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 60)
            pts += 1 if i % 2 == 0 else 4
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--samples", type=int, default=20, help="random indices per clip")
    parser.add_argument("--repeat", type=int, default=2, help="sequential runs, best kept")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vfr", action="store_true", help="add a generated VFR clip")
    args = parser.parse_args(argv)
    if not args.videos and not args.vfr:
        parser.error("nothing to measure: give videos (e.g. ../shared/media/*.mp4), --vfr, or both")
    missing = [str(path) for path in args.videos if not path.is_file()]
    if missing:
        # A shell pattern that matched nothing arrives as written: ../shared/media/*.mp4.
        parser.error(f"no such video: {', '.join(missing)} (the shared clips are in ../shared/media beside "
                     "the checkout)")
    if args.samples < 1 or args.repeat < 1:
        parser.error("--samples and --repeat must be at least 1")
    print(describe(), flush=True)
    tmp = tempfile.TemporaryDirectory()
    if args.vfr:
        args.videos.append(write_vfr_clip(Path(tmp.name) / "generated_vfr.mp4"))
    print(f"PyAV {av.__version__}, OpenCV {cv2.__version__}, {cv2.getNumberOfCPUs()} CPUs")
    print(f"| clip | decoder | frames | sequential fps (RGB, median of {args.repeat}) | "
          f"random access (mean, drift) | reverse fps (RGB, median of {args.repeat}), drift |")
    print("|---|---|---|---|---|---|")
    for path in args.videos:
        for row in bench_clip(path, args.samples, args.repeat, args.seed):
            print(row, flush=True)
    tmp.cleanup()


if __name__ == "__main__":
    main()
