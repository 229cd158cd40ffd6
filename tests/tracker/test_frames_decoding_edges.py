"""samvid.tracker.frames at the edges of decoding, and what an engine's walk makes of them:
a resolution that changes mid-stream, timestamps found untrustworthy after the opening
check, a damaged keyframe in the middle of a video. Clips are written here with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from damaged_video import with_packet_zeroed

from samvid.errors import VideoError
from samvid.tracker.engine import read_frame
from samvid.tracker.flow_engine import FlowEngine
from samvid.tracker.frames import VideoReader


def level(i: int) -> int:
    """Grey level of generated frame i: distinct after lossy coding (steps of 8)."""
    return 20 + (8 * i) % 200


def grey(image: np.ndarray) -> float:
    return float(image.mean())


def encode(path: Path, codec: str, size: tuple[int, int], levels: list[int],
           options: dict[str, str] | None = None) -> Path:
    """25 fps, frame i flat grey ``levels[i]``."""
    width, height = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i, value in enumerate(levels):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), value, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def joined(path: Path, parts: list[Path]) -> Path:
    """The packets of ``parts`` one after the other in one file, timestamps made continuous
    (the stream's settings are the first part's)."""
    with av.open(str(parts[0])) as first, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(first.streams.video[0])
        last = -1
        for part in parts:
            with av.open(str(part)) as source:
                shift = None
                for packet in source.demux(source.streams.video[0]):
                    if not packet.size:
                        continue
                    shift = last + 1 - packet.pts if shift is None else shift
                    packet.pts += shift
                    packet.dts += shift
                    last = packet.pts
                    packet.stream = stream
                    out.mux(packet)
    return path


def test_a_video_whose_resolution_changes_mid_stream_gives_every_frame_at_the_size_it_declares(
        tmp_path: Path) -> None:
    """Browser and WebRTC recordings (VP8 in WebM) change their resolution with the bandwidth.
    Each frame comes at the reader's width x height (the first frame's, as ffmpeg scales
    them): a frame of another size would be skipped by every engine and dodge the pixel
    limit checked on the reader's size."""
    small = encode(tmp_path / "a.webm", "libvpx", (64, 48), [level(i) for i in range(5)])
    large = encode(tmp_path / "b.webm", "libvpx", (128, 96), [level(i) for i in range(5, 10)])
    path = joined(tmp_path / "adaptive.webm", [small, large])
    with VideoReader(path) as reader:
        assert (reader.width, reader.height, len(reader)) == (64, 48, 10)
        frames = list(reader.iter_frames())
        assert [f.index for f in frames] == list(range(10))
        assert all(f.image.shape == (48, 64, 3) for f in frames)
        assert [grey(f.image) for f in frames] == pytest.approx([level(i) for i in range(10)], abs=4)
        assert reader[7].shape == (48, 64, 3)  # random access too
        assert read_frame(reader, 8, (reader.height, reader.width)) is not None


def test_a_backward_walk_over_a_stream_whose_resolution_grows_keeps_within_its_budget(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The frames kept for a backward walk were counted from the first frame's size: a
    recording that starts small and ramps up (WebRTC) held 181 MiB of 1080p pictures
    against a 64 MiB budget. Scaled down here: 64x48, then 256x192, a 200 kB budget."""
    import samvid.tracker.frames as frames

    monkeypatch.setattr(frames, "KEPT_BYTES", 200_000)
    small = encode(tmp_path / "a.webm", "libvpx", (64, 48), [level(i) for i in range(5)])
    large = encode(tmp_path / "b.webm", "libvpx", (256, 192), [level(i) for i in range(5, 45)], {"g": "300"})
    path = joined(tmp_path / "ramp.webm", [small, large])
    walked, held = [], []
    with VideoReader(path) as reader:
        for i in reversed(range(len(reader))):
            walked.append(grey(reader[i]))
            held.append(sum(plane.buffer_size for frame in reader._kept.values() for plane in frame.planes))
    assert max(held) <= frames.KEPT_BYTES
    assert walked[::-1] == pytest.approx([level(i) for i in range(45)], abs=4)


def write_late_b_frames(path: Path, count: int = 160, in_order: int = 100) -> Path:
    """H.264 in AVI whose first ``in_order`` frames are forced P-frames (in order, so the
    opening check passes) and B-frames may follow; frame i shows a white bar i % 60 + 1 px
    wide."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"bf": "2"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(count):
            image = np.zeros((48, 64, 3), np.uint8)
            image[:, : i % 60 + 1] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if 0 < i < in_order:
                frame.pict_type = av.video.frame.PictureType.P
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    with av.open(str(path)) as container:
        shown = [f.pts for f in container.decode(video=0)]
    assert shown != sorted(shown), "this x264 no longer puts B-frames after the forced P-frames"
    return path


def test_a_walk_over_an_avi_whose_b_frames_start_late_stops_with_the_remux_advice(
        tmp_path: Path) -> None:
    """The reordering is found mid-walk: the whole file's frame numbers cannot be trusted,
    so the walk ends with the error that says to remux, instead of calling every later
    frame unreadable and handing back empty masks with the reason only in the log."""
    path = write_late_b_frames(tmp_path / "late.avi")
    engine = FlowEngine()
    with VideoReader(path) as reader:
        state = engine.init_state(reader)
        mask = np.zeros((reader.height, reader.width), bool)
        mask[10:30, :20] = True
        engine.add_mask(state, 0, obj_id=1, mask=mask)
        with pytest.raises(VideoError, match=r"remux to MP4/MKV first"):
            for _ in engine.propagate(state):
                pass
        assert state.progress.skipped == []


def test_once_a_videos_timestamps_are_found_untrustworthy_every_later_read_says_so(
        tmp_path: Path) -> None:
    """Not "frame N does not decode (corrupt or truncated data)": that would send the user
    looking for damage instead of remuxing."""
    path = write_late_b_frames(tmp_path / "late.avi")
    with VideoReader(path) as reader:
        with pytest.raises(VideoError, match="remux"):  # noqa: PT012  # reads until refused
            for i in range(len(reader)):
                reader[i]
        for later in (i + 1, len(reader) - 1, i):
            with pytest.raises(VideoError, match="remux"):
                reader[later]


def test_the_frames_of_a_damaged_keyframes_group_mid_stream_are_skipped_and_the_rest_keep_their_indices(
        tmp_path: Path, seeks: list[int]) -> None:
    """Keyframes at 0, 30 and 60, the one at 30 lost: the decoder drops the frames that
    need it (and conceals the rest of its group). Each dropped frame is reported once, found
    so by one pass (not a seek back per frame), and random access agrees."""
    clip = encode(tmp_path / "whole.mkv", "libx264", (64, 48), [level(i) for i in range(90)],
                  {"g": "30", "bf": "0", "sc_threshold": "0"})
    damaged = tmp_path / "damaged.mkv"
    assert with_packet_zeroed(clip, damaged, 30) == [0, 30, 60]
    with VideoReader(damaged) as reader:
        frames = list(reader.iter_frames())
        read = [f.index for f in frames]
        assert 30 in reader.undecodable and reader.undecodable == set(range(30, max(reader.undecodable) + 1))
        assert max(reader.undecodable) < 60
        assert read == [i for i in range(90) if i not in reader.undecodable]
        by_index = {f.index: grey(f.image) for f in frames}
        assert [by_index[i] for i in (*range(30), *range(60, 90))] == pytest.approx(
            [level(i) for i in (*range(30), *range(60, 90))], abs=3)
        assert len(seeks) < 10
        skipped = sorted(reader.undecodable)
    with VideoReader(damaged) as reader:
        assert grey(reader[70]) == pytest.approx(level(70), abs=3)
        for i in (skipped[-1], skipped[0]):  # back into the lost group, last one first
            with pytest.raises(VideoError, match=f"frame {i} does not decode"):
                reader[i]
        assert grey(reader[29]) == pytest.approx(level(29), abs=3)
        assert grey(reader[60]) == pytest.approx(level(60), abs=3)
        assert reader.undecodable == {skipped[0], skipped[-1]}


def bar_width(image: np.ndarray) -> int:
    """Which frame of write_late_b_frames this is: i % 60 + 1."""
    return int((image[24, :, 0] > 128).sum())


def test_the_frames_an_avi_hands_out_before_its_late_b_frames_are_refused_are_the_right_ones(
        tmp_path: Path) -> None:
    """Each frame is held back until later ones came out in order: what comes out before
    the refusal is labelled right."""
    path = write_late_b_frames(tmp_path / "late.avi")
    got = []
    with VideoReader(path) as reader, pytest.raises(VideoError, match="remux"):  # noqa: PT012
        for frame in reader.iter_frames():
            got.append(frame)
    assert len(got) >= 90
    assert [bar_width(f.image) for f in got] == [f.index % 60 + 1 for f in got]


def test_a_walk_backwards_decodes_a_group_of_pictures_once_per_stretch_not_once_per_frame(
        tmp_path: Path, seeks: list[int]) -> None:
    """Reverse tracking reads frames last to first. Seeking back to the keyframe and decoding
    up to each frame anew cost 231 s for a 10 s 720p clip (../shared/media/01_dog.mp4,
    forwards: 2 s); the frames decoded on the way are kept for the next reads."""
    path = encode(tmp_path / "one_group.mp4", "libx264", (64, 48), [level(i) for i in range(150)],
                  {"g": "300", "bf": "2", "sc_threshold": "0"})
    with VideoReader(path) as reader:
        forwards = [f.image for f in reader.iter_frames()]
        seeks.clear()
        backwards = [reader[i] for i in range(149, -1, -1)][::-1]
        assert all(np.array_equal(a, b) for a, b in zip(forwards, backwards))
        assert [grey(image) for image in backwards] == pytest.approx([level(i) for i in range(150)], abs=3)
        assert len(seeks) <= 10


def test_a_walk_backwards_from_a_fresh_reader_decodes_each_group_of_pictures_once(
        tmp_path: Path, seeks: list[int]) -> None:
    """A walk's first read is ahead of a fresh reader's decoder: the frames decoded on the way
    to it are kept too, or the walk's second read seeks back and decodes that group again."""
    path = encode(tmp_path / "three_groups.mp4", "libx264", (64, 48), [level(i) for i in range(150)],
                  {"g": "50", "bf": "2", "sc_threshold": "0"})
    with VideoReader(path) as reader:
        forwards = [f.image for f in reader.iter_frames()]
    with VideoReader(path) as reader:
        seeks.clear()
        backwards = [reader[i] for i in range(149, -1, -1)][::-1]
    assert all(np.array_equal(a, b) for a, b in zip(forwards, backwards))
    assert seeks == [100, 50, 0]  # one seek per group of pictures


def test_a_walk_forwards_from_the_middle_of_a_group_holds_no_frames_for_a_backward_one(
        tmp_path: Path) -> None:
    """The first read keeps the frames before it for a backward walk; the next read going
    forwards lets them go, so a forward walk holds no more memory than one frame."""
    path = encode(tmp_path / "one_group.mp4", "libx264", (64, 48), [level(i) for i in range(60)],
                  {"g": "300", "bf": "2", "sc_threshold": "0"})
    with VideoReader(path) as reader:
        held = []
        for _ in reader.iter_frames(30):
            held.append(len(reader._kept))
    assert held[1:] == [0] * 29


def test_a_forward_walk_with_gaps_holds_no_more_than_the_frames_it_skips(tmp_path: Path) -> None:
    """`samvid import --stride 5` reads forwards only: keeping every frame decoded on the way
    (up to 64 MiB) would hold memory no later read uses."""
    path = encode(tmp_path / "one_group.mp4", "libx264", (64, 48), [level(i) for i in range(200)],
                  {"g": "300", "bf": "2", "sc_threshold": "0"})
    with VideoReader(path) as reader:
        held = []
        for i in range(0, 200, 5):
            reader[i]
            held.append(len(reader._kept))
    assert max(held) <= 4


def without_keyframe_flags(path: Path, levels: list[int]) -> Path:
    """H.264 in MKV, every block muxed without its keyframe flag: Matroska then writes no
    index, and FFmpeg can seek nowhere in the file (a damaged one is left so too)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"g": "5", "bf": "0"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for value in [*levels, None]:
            image = None if value is None else np.full((48, 64, 3), value, np.uint8)
            for packet in stream.encode(None if image is None else av.VideoFrame.from_ndarray(image)):
                packet.is_keyframe = False
                out.mux(packet)
    return path


def test_a_video_no_seek_works_in_is_read_from_its_start_not_refused_with_an_ffmpeg_error(
        tmp_path: Path) -> None:
    levels = [level(i) for i in range(12)]
    with VideoReader(without_keyframe_flags(tmp_path / "no-index.mkv", levels)) as reader:
        assert [round(grey(f.image)) for f in reader.iter_frames()] == pytest.approx(levels, abs=3)
        assert [round(grey(reader[i])) for i in (7, 2, 11)] == pytest.approx(
            [levels[7], levels[2], levels[11]], abs=3)
        assert not reader.undecodable
