"""Truncated Matroska and MPEG-TS files whose frames are stored out of display order
(B-frames): the index numbers no frame with a lost frame's number, and the frames left out
are reported as missing."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from samvid.tracker.frames import VideoReader

FRAMES = 60


def write_reordered_clip(path: Path, times: list[float] | None = None, **options: str) -> Path:
    """A clip x264 codes with B-frames (smooth motion); frame i's blue level is 20 + 3 i.
    ``options``: the muxer's (``mpegts_start_pid``)."""
    times = times or [i / 30 for i in range(FRAMES)]
    yy, xx = np.mgrid[0:120, 0:160]
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times):
            image = np.zeros((120, 160, 3), np.uint8)
            image[..., 0] = (xx * 2 + i * 3) % 256
            image[..., 1] = (yy * 2) % 256
            image[..., 2] = 20 + 3 * i
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    with av.open(str(path)) as check:  # the case under test: stored out of display order
        pts = [p.pts for p in check.demux(check.streams.video[0]) if p.size]
    assert pts != sorted(pts)
    return path


def cuts(whole: Path, tmp_path: Path) -> list[Path]:
    """``whole`` cut at about 30% ... 90% of its bytes, part-way into an MPEG-TS packet (an
    interrupted download or copy; a recorder killed mid-write flushes its 32 KiB buffers)."""
    data = whole.read_bytes()
    paths = []
    for tenths in range(3, 10):
        cut = tmp_path / f"cut{tenths}{whole.suffix}"
        cut.write_bytes(data[: len(data) * tenths // 10 // 188 * 188 + 100])
        paths.append(cut)
    return paths


def whole_frames(whole: Path) -> list[np.ndarray]:
    with VideoReader(whole) as reader:
        assert len(reader) == FRAMES and reader.missing_tail == 0
        return [frame.image.astype(int) for frame in reader.iter_frames()]


def misnumbered(cut: Path, whole: list[np.ndarray]) -> list[int]:
    """Indices of ``cut`` whose pixels are not the whole file's frame of that index."""
    with VideoReader(cut) as reader:
        return [f.index for f in reader.iter_frames()
                if np.abs(whole[f.index] - f.image.astype(int)).mean() > 2]


def test_a_cut_mkv_with_b_frames_numbers_no_frame_wrongly_and_counts_the_missing_tail_from_its_duration(
        tmp_path: Path) -> None:
    whole = write_reordered_clip(tmp_path / "whole.mkv")
    frames = whole_frames(whole)
    for cut in cuts(whole, tmp_path):
        assert misnumbered(cut, frames) == [], cut.name
        with VideoReader(cut) as reader:
            assert 0 < len(reader) < FRAMES
            assert len(reader) + reader.missing_tail == FRAMES, cut.name


def test_a_cut_mpeg_ts_with_b_frames_numbers_no_frame_wrongly_and_reports_those_left_out(
        tmp_path: Path) -> None:
    whole = write_reordered_clip(tmp_path / "whole.ts")
    frames = whole_frames(whole)
    reported = []
    for cut in cuts(whole, tmp_path):
        assert misnumbered(cut, frames) == [], cut.name
        with VideoReader(cut) as reader:
            reported.append(reader.missing_tail)
    # MPEG-TS declares no length: only the frames left out are known to be missing.
    assert all(reported)


@pytest.mark.parametrize("suffix", [".mkv", ".ts", ".mp4", ".flv"])
def test_a_whole_video_with_b_frames_keeps_every_frame(tmp_path: Path, suffix: str) -> None:
    whole = write_reordered_clip(tmp_path / f"whole{suffix}")
    with VideoReader(whole) as reader:
        assert len(reader) == FRAMES and reader.missing_tail == 0


@pytest.mark.parametrize("suffix", [".mkv", ".ts", ".flv"])
def test_a_whole_variable_frame_rate_video_with_b_frames_and_pauses_keeps_every_frame(
        tmp_path: Path, suffix: str) -> None:
    # Steps of 17 and 90 ms and a 0.5 s pause mid-way: none is a hole where a frame is
    # missing.
    times, t = [], 0.0
    for i in range(FRAMES):
        times.append(t)
        t += 0.5 if i == FRAMES // 2 else 0.09 if i % 3 == 0 else 0.017
    whole = write_reordered_clip(tmp_path / f"whole{suffix}", times)
    with VideoReader(whole) as reader:
        assert len(reader) == FRAMES and reader.missing_tail == 0


@pytest.mark.parametrize("suffix", [".ts", ".flv", ".mkv"])
@pytest.mark.parametrize("late", ["dropped", "paused"])
def test_a_whole_video_with_a_frame_dropped_or_a_pause_among_its_last_frames_keeps_every_frame(
        tmp_path: Path, suffix: str, late: str) -> None:
    # A camera's dropped frame (a step of two) or a pause before the last frame reads like
    # frames lost with a cut; a file that shows no other sign of one is whole (the review of
    # a first version left 2-3 of its last frames out and called the file corrupt).
    times = [i / 30 for i in range(FRAMES)]
    if late == "dropped":
        times = [*times[:-2], times[-1]]
    else:
        times[-1] += 1.0
    whole = write_reordered_clip(tmp_path / f"whole{suffix}", times)
    with VideoReader(whole) as reader:
        assert len(reader) == len(times) and reader.missing_tail == 0


def test_a_whole_mpeg_ts_with_padding_after_it_or_dvb_packets_keeps_every_frame(tmp_path: Path) -> None:
    whole = write_reordered_clip(tmp_path / "whole.ts")
    data = whole.read_bytes()
    padded = tmp_path / "padded.ts"
    padded.write_bytes(data + bytes(100))
    dvb = tmp_path / "dvb.ts"  # 204-byte packets: 16 bytes of error correction after each
    dvb.write_bytes(b"".join(data[i:i + 188] + bytes(16) for i in range(0, len(data), 188)))
    for path in (padded, dvb):
        with VideoReader(path) as reader:
            assert len(reader) == FRAMES and reader.missing_tail == 0, path.name


def test_a_cut_mpeg_ts_that_starts_part_way_into_a_packet_is_still_found_cut(tmp_path: Path) -> None:
    # A recording of a stream begins where it joined it: the layout is read from the end.
    whole = write_reordered_clip(tmp_path / "whole.ts")
    frames = whole_frames(whole)
    data = whole.read_bytes()
    late = tmp_path / "late.ts"
    late.write_bytes(data[50: len(data) // 2 // 188 * 188 + 100])
    assert misnumbered(late, frames) == []
    with VideoReader(late) as reader:
        assert 0 < len(reader) < FRAMES and reader.missing_tail > 0


@pytest.mark.parametrize("pid", ["71", "327"])  # 0x47, 0x147: the PID's low byte is a sync byte
def test_a_whole_mpeg_ts_whose_video_pid_looks_like_a_sync_byte_keeps_every_frame(tmp_path: Path, pid: str) -> None:
    whole = write_reordered_clip(tmp_path / "whole.ts", mpegts_start_pid=pid)
    with VideoReader(whole) as reader:
        assert len(reader) == FRAMES and reader.missing_tail == 0
    late = tmp_path / "late.ts"  # the same stream joined part-way into a packet
    late.write_bytes(whole.read_bytes()[50:])
    with VideoReader(late) as reader:
        assert reader.missing_tail == 0
