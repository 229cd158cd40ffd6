"""Frame decoding: exact frame index -> upright RGB image, for import and the trackers.

One interface, two sources::

    with open_frames("clip.mp4") as reader:          # or a folder of 00000.jpg ...
        n = len(reader)
        image = reader[42]                           # RGB uint8 (H, W, 3), upright
        for index, time, image in reader.iter_frames(10, 20):
            ...

Frame ``i`` of a video is the ``i``-th frame in presentation order, and its time is
its presentation timestamp (pts) in seconds, counted from the first frame. Both come
from an index of packet timestamps built when the file is opened (demuxing only, ~50 ms
for a 300-frame 720p clip), so variable-frame-rate videos keep exact indices and times,
and random access seeks to the keyframe before the target and decodes forward until
the target's pts appears: no drift, unlike seeking by frame number or time. (MPEG-PS,
whose parser can mislabel frames after a seek, has its packets checked against the index;
one whose parser gives two pictures the same timestamp is refused. In other containers
two pictures stored under one timestamp are one frame, the first, as a browser's player
shows them: Label Studio's frames are times.)

PyAV is the decoder (see ``bench/bench_frames.py`` and ``docs/import.md`` for the
measurements against OpenCV). Display-matrix rotation (phone videos) and mirroring are
applied (``rotation``, ``mirrored``), so frames are always upright, as players show them, and
``width``/``height`` describe the upright image. A stream
whose resolution changes (WebRTC recordings) gives every frame at its first frame's size.

Readers are not thread-safe: use one per thread.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import re
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, NoReturn

import av
import cv2
import numpy as np

from samvid.core.errors import VideoError

if TYPE_CHECKING:
    from typing_extensions import Self

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
    ".wmv", ".flv", ".3gp", ".ogv", ".gif",
})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
# Containers whose seeks can mislabel frames: when a seek lands inside an MPEG-PS packet, the
# parser gives the next picture the timestamp of a later frame (frame 3's pixels as frame 6),
# and timestamps alone cannot tell. After a seek into these, each packet is checked against
# the one the index saw under its timestamp (see VideoReader._verified).
UNTRUSTED_SEEK_FORMATS = frozenset({"mpeg"})
# Containers that store no presentation times: libavformat numbers the packets in decode
# order and calls that the pts. With B-frames (H.264 in AVI) the decoder then hands frames
# out in presentation order under shuffled decode-order numbers, so pts cannot say which
# frame is which (see VideoReader._in_order).
DECODE_ORDER_PTS_FORMATS = frozenset({"avi"})
# Frames decoded when such a file opens to find out whether its decoder reorders them.
ORDER_PROBE_FRAMES = 64
# Frames such a file's decoder output is held back by, so that a frame is handed out only
# once this many later ones came out after it in order: H.264 reorders at most 16 frames.
ORDER_LOOKAHEAD = 17
# AV_DISPOSITION_ATTACHED_PIC: a stream that is a file's cover picture (PyAV >= 13 names it
# av.stream.Disposition.attached_pic; the number works with every version).
ATTACHED_PIC = 0x0400
# Decoded pictures kept from the frames decoded on the way to a frame not next in line, so
# that a walk backwards (reverse tracking) decodes each stretch of a group of pictures once,
# not once per frame: ~46 frames of 720p (at least one, at most MAX_KEPT_FRAMES).
KEPT_BYTES = 64 * 2**20
MAX_KEPT_FRAMES = 64
# Frames of an image folder carry no timestamps; this rate gives them times.
DEFAULT_FOLDER_FPS = 30.0


@dataclass(frozen=True)
class FrameInfo:
    """Where a frame sits in its source: index, time in seconds, raw pts (None for folders)."""

    index: int
    time: float
    pts: int | None = None
    keyframe: bool = True
    path: Path | None = None  # the image file, for folder sources


class Frame(NamedTuple):
    """One decoded frame; unpacks as ``index, time, image``."""

    index: int  # type: ignore[assignment]  # shadows tuple.index: unpacking order is the API
    time: float
    image: np.ndarray


def natural_key(name: str) -> tuple[list[object], str]:
    """Sort key so that ``frame2.jpg`` comes before ``frame10.jpg``; names that read as one
    number (``1.jpg``, ``01.jpg``) in name order, not in the file system's listing order."""
    # isdecimal, not isdigit: a superscript between numbers (``1²2``) is a digit to isdigit
    # but no number to int.
    return [int(part) if part.isdecimal() else part.lower() for part in re.split(r"(\d+)", name)], name


def same_frame_twice(files: list[Path]) -> tuple[Path, Path] | None:
    """The first two of ``files`` that share a name but for the suffix (one frame twice)."""
    stems: dict[str, Path] = {}
    for path in files:
        if (seen := stems.setdefault(path.stem, path)) is not path:
            return seen, path
    return None


def is_video_file(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: Path) -> list[Path]:
    """The image files directly inside ``folder``, naturally sorted. Hidden files are no
    frames: macOS leaves a ``._0001.jpg`` of metadata beside each file it copies to a
    foreign disk, which would double the frames with undecodable ones."""
    files = [p for p in folder.iterdir() if p.is_file() and is_image_file(p) and not p.name.startswith(".")]
    return sorted(files, key=lambda p: natural_key(p.name))


class FrameReader:
    """Common interface of :class:`VideoReader` and :class:`FolderReader`."""

    path: Path
    infos: list[FrameInfo]
    width: int
    height: int
    fps: float  # average rate; times are exact per frame, this is only a summary
    # Indices that failed to decode during reads so far (corrupt or truncated data).
    undecodable: set[int]
    # Frames the source declares beyond the last indexed one (a truncated file's tail).
    missing_tail: int = 0
    # Seconds on a player's clock at which frame 0 is shown (its ``time`` counts from it): a
    # browser's currentTime is the file's own time, so a video whose pictures start after its
    # sound, or that an edit list starts later, shows its first picture at its pts, not at 0.
    start_time: float = 0.0

    def __len__(self) -> int:
        return len(self.infos)

    @property
    def times(self) -> list[float]:
        return [info.time for info in self.infos]

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the end of the last one."""
        if not self.infos:
            return 0.0
        return self.infos[-1].time + 1.0 / self.fps if self.fps > 0 else self.infos[-1].time

    @property
    def played_duration(self) -> float:
        """Seconds a player plays the source for, from the first frame: a browser's
        ``duration`` (less ``start_time``), which Label Studio counts a video's frames in."""
        return self.duration

    def __getitem__(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[Frame]:
        """Frames ``start <= index < stop`` in order; undecodable ones are skipped and
        recorded in ``undecodable``."""
        return self.read(range(*self._range(start, stop)))

    def read(self, indices: Iterable[int]) -> Iterator[Frame]:
        """The frames at ``indices`` (ascending for full decoder speed: a video decodes the
        frames in between without converting them); undecodable ones are skipped and
        recorded in ``undecodable``."""
        for index in indices:
            try:
                image = self[index]
            except UntrustedTimestamps:
                raise  # the whole file, not this frame: skipping on would mislabel the rest
            except VideoError as exc:
                log.debug("%s", exc.message)
                continue
            yield Frame(index, self.infos[index].time, image)

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self.iter_frames():
            yield frame.image

    def _check_index(self, index: int) -> int:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"frame {index} out of range 0..{len(self) - 1} of {self.path.name}")
        return index

    def _range(self, start: int, stop: int | None) -> tuple[int, int]:
        stop = len(self) if stop is None else min(stop, len(self))
        return max(0, start), stop

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_frames(path: str | Path, *, folder_fps: float = DEFAULT_FOLDER_FPS) -> FrameReader:
    """A reader for a video file or a folder of extracted frames."""
    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path}: no such file or folder")
    if path.is_dir():
        return FolderReader(path, fps=folder_fps)
    return VideoReader(path)


class FolderReader(FrameReader):
    """Already-extracted frames in a folder, naturally sorted; time = index / fps."""

    def __init__(self, folder: str | Path, *, fps: float = DEFAULT_FOLDER_FPS) -> None:
        self.path = Path(folder)
        files = list_images(self.path)
        if not files:
            raise VideoError(f"{self.path}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        # 0001.jpg beside 0001.png is one frame twice (frames extracted twice, or masks put
        # beside their frames): taken as two, every later frame's index would be wrong.
        if twice := same_frame_twice(files):
            raise VideoError(f"{self.path}: {twice[0].name} and {twice[1].name} are one frame twice; "
                             "keep one image per frame in the folder")
        self.fps = fps
        self.infos = [FrameInfo(i, i / fps, None, True, p) for i, p in enumerate(files)]
        self.undecodable = set()
        self.height, self.width = self._first_image().shape[:2]

    def _first_image(self) -> np.ndarray:
        """The first image that decodes, for the size: a damaged one (an interrupted
        extraction) is recorded in ``undecodable`` and skipped, as it is when read later."""
        for index in range(len(self.infos)):
            try:
                return self[index]
            except VideoError:
                continue
        raise VideoError(f"{self.path}: none of its {len(self.infos)} images decodes "
                         f"(damaged or not images); extract the frames again")

    def __getitem__(self, index: int) -> np.ndarray:
        info = self.infos[self._check_index(index)]
        assert info.path is not None
        # imdecode(fromfile) instead of imread: works for any file name on any OS, and
        # still applies EXIF orientation like imread does.
        data = np.fromfile(str(info.path), dtype=np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if image is None:
            self.undecodable.add(info.index)
            raise VideoError(f"{info.path}: not a readable image")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class VideoReader(FrameReader):
    """A video file decoded with PyAV; see the module docstring for the guarantees."""

    def __init__(self, path: str | Path, *, threads: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise VideoError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise VideoError(f"{self.path}: is a folder, not a video file")
        if self.path.stat().st_size == 0:
            raise VideoError(f"{self.path}: empty file (0 bytes)")
        try:
            self._container = av.open(str(self.path), metadata_errors="ignore")
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            raise VideoError(f"{self.path}: not a video, or truncated/corrupt beyond reading "
                             f"({_reason(exc)})") from exc
        try:
            self._open_stream(threads)
        except BaseException:
            self._container.close()
            raise

    def _open_stream(self, threads: bool) -> None:
        # A cover picture (the artwork of an audio file) is a video stream of one picture
        # with no timestamps: not the video.
        videos = [s for s in self._container.streams.video
                  if not int(getattr(s, "disposition", 0)) & ATTACHED_PIC]
        if not videos:
            cover = ", only a cover picture" if self._container.streams.video else ""
            raise VideoError(f"{self.path}: not a video (no video stream{cover})")
        self._stream = stream = videos[0]
        codec = stream.codec_context
        if codec is None or codec.name in ("", "none"):
            raise VideoError(f"{self.path}: unsupported codec (no decoder for this video stream)")
        if threads:
            # Frame + slice threads: up to ~1.3x on 2 cores for H.264 (bench/bench_frames.py).
            stream.thread_type = "AUTO"
        self._thread_type = stream.thread_type
        self.codec = codec.name
        self._verify_seeks = self._container.format.name in UNTRUSTED_SEEK_FORMATS
        self.undecodable = set()
        self._pts_in_decode_order = False  # set by _build_index
        self._build_index()
        self._live: Iterator[tuple[int, av.VideoFrame]] | None = None
        self._live_next = 0  # index the live decoder reaches next
        self._dead_from: int | None = None  # first index past the end of decodable data
        self._pending: tuple[int, av.VideoFrame] | None = None
        # The live decoder skipped from this index straight to _pending's: the frames between
        # do not decode (a damaged keyframe's group), and seeking back for each would decode
        # the whole group again per frame.
        self._skipped_from = 0
        self._last: tuple[int, av.VideoFrame] | None = None
        self._stored_size: tuple[int, int] | None = None  # the first frame's, set below
        # Once the timestamps are found untrustworthy, every later read says so: the decoder
        # that found it is gone, and reading on would call each frame corrupt instead.
        self._untrusted: UntrustedTimestamps | None = None
        self._kept: dict[int, av.VideoFrame] = {}  # see KEPT_BYTES
        self._kept_bytes = 0
        self._keep = 1  # set from the first frame's size
        if self._pts_in_decode_order:
            self._check_output_order()
        first = self._first_frame()
        self.rotation, self.mirrored = _orientation(first)
        if first.rotation % 90:
            log.warning("%s: rotation %s deg rounded to %s", self.path.name, first.rotation,
                        self.rotation)
        self._stored_size = (first.width, first.height)
        self._keep = max(1, min(MAX_KEPT_FRAMES, KEPT_BYTES // max(1, _picture_bytes(first))))
        self.height, self.width = self._to_rgb(first).shape[:2]

    def _build_index(self) -> None:
        """Frame index <- sorted packet pts. Demuxing reads no pixels, so it is fast."""
        keyframe_by_pts: dict[int, bool] = {}
        self._checksums: dict[int, int] = {}  # pts -> CRC-32 of its packet, to verify seeks
        discarded = 0
        last_dts: int | None = None
        last_pts, pts_go_back = -(2**63), False
        read: list[_Read] = []  # the indexed packets in decode order, to find a cut file's sure frames
        self._demux_failed = False
        for number, packet in enumerate(self._packets()):
            if not packet.size:
                continue
            if packet.dts is not None:
                # A decode time going back alone is a muxer's glitch the pts index ignores;
                # with a pts seen before, it is a second stream that would take its frames.
                if last_dts is not None and packet.dts < last_dts and packet.pts in keyframe_by_pts:
                    self._refuse_restart(number)
                last_dts = packet.dts
            if packet.is_discard:
                # Cut away by an edit list (e.g. `ffmpeg -ss T -c copy` keeps the GOP before T
                # to decode from, marked discard): the decoder drops these frames, so they are
                # not frames of the video.
                discarded += 1
                continue
            if packet.pts is None:
                raise VideoError(
                    f"{self.path}: stream has no timestamps ({self.codec} in "
                    f"{self._container.format.name}); remux it to MP4 or MKV first"
                )
            if self._verify_seeks and packet.pts in keyframe_by_pts:
                self._refuse_repeated_pts(packet.pts - min(keyframe_by_pts))
            pts_go_back = pts_go_back or packet.pts < last_pts
            last_pts = packet.pts
            keyframe_by_pts[packet.pts] = keyframe_by_pts.get(packet.pts, False) or bool(
                packet.is_keyframe
            )
            if self._verify_seeks:
                self._checksums[packet.pts] = zlib.crc32(packet)
            read.append(_Read(packet.pts, packet.dts, packet.duration or 0, bool(packet.is_corrupt)))
        if not keyframe_by_pts:
            raise VideoError(f"{self.path}: video stream holds no frames")
        # Packets in decode order whose pts never go back, from a codec that reorders frames:
        # the pts are decode-order numbers, which the decoder's output may contradict.
        self._pts_in_decode_order = (
            self._container.format.name in DECODE_ORDER_PTS_FORMATS
            and bool(self._stream.codec_context.has_b_frames) and not pts_go_back
        )
        declared = (self._stream.frames or 0) - discarded
        dropped = 0
        if self._container.format.name not in DECODE_ORDER_PTS_FORMATS and self._cut_short(read, declared):
            dropped = self._drop_unsure_frames(read, keyframe_by_pts)
        pts = sorted(keyframe_by_pts)
        # A truncated file whose header declares more frames than its data holds: the
        # missing tail has no timestamps, so it is counted here and reported, not indexed.
        # The header's count includes the discarded frames. AVI's counts the empty chunks
        # that stand for a repeat of the frame before (its muxer fills a variable frame rate's
        # gaps so, and the demuxer drops them): its pts number the chunks, so the data holds
        # the chunks up to the last pts and the last frame's own. On a clock finer than the
        # frames (1/1000 s) each frame lasts many chunks, the last one too: the chunks past
        # the data are counted in frames of the usual length (the median: one pause would
        # stretch an average), not one frame each. The last frame's chunks are counted too,
        # however long it is held: a complete file (as long as its RIFF header says) misses
        # nothing, whatever its last frame's length.
        if self._container.format.name in DECODE_ORDER_PTS_FORMATS:
            chunks = float(np.median(np.diff(pts))) if len(pts) > 1 else 1.0
            held = pts[-1] - (self._stream.start_time or 0) + chunks
            cut = _shorter_than_its_riff_header(self.path)
            self.missing_tail = max(0, round((declared - held) / chunks)) if cut else 0
        elif declared:
            self.missing_tail = max(0, declared - len(pts))
        else:
            last = max((r for r in read if r.pts in keyframe_by_pts), key=lambda r: r.pts)
            self.missing_tail = max(dropped, self._frames_past(last))
        if self.missing_tail:
            log.warning("%s: %d frames missing at the end (truncated file?)",
                        self.path.name, self.missing_tail)
        base, time_base = pts[0], self._stream.time_base
        assert time_base is not None
        self.infos = [
            FrameInfo(i, float((p - base) * time_base), p, keyframe_by_pts[p])
            for i, p in enumerate(pts)
        ]
        self._index_of = {p: i for i, p in enumerate(pts)}
        # Where decoding may start: the keyframes, and frame 0 even when it is not one (a
        # stream cut by an edit list), as seeking to its pts lands on the keyframe before it.
        self._keyframes = sorted({0, *(i for i, p in enumerate(pts) if keyframe_by_pts[p])})
        rate = self._stream.average_rate
        span = self.infos[-1].time
        self.fps = float(rate) if rate else ((len(pts) - 1) / span if span > 0 else 0.0)
        first = float(base * time_base)
        # Not MPEG-TS/PS's clock, which starts anywhere (a broadcast's) and which no browser
        # plays; nor a negative start, not measured in a browser: counted from frame 0 as before.
        plays = self._container.format.name not in ("mpegts", "mpeg")
        self.start_time = first if first > 0 and plays else 0.0
        # Where the file ends for a player, on this video's clock: its longest stream's end
        # (the sound of a phone clip or a screen capture often outlasts the pictures): the
        # longest of the container's duration and each stream's start + duration. Not start +
        # duration: Matroska's duration is its end. Chromium's own, for an MP4 whose pictures
        # start late with no sound before them, lies between its length and this end, by how
        # much it buffered (measured: 10.0 s and 11.97 s for clips ending at 10.5 s and 12.02 s):
        # the end, so that a box on any frame Label Studio shows is taken. Not MPEG-TS/PS's,
        # which FFmpeg estimates from the bit rate.
        self._played_end: float | None = None
        if plays and self._container.start_time is not None and self._container.duration:
            ends = [self._container.duration / av.time_base]
            for stream in (*self._container.streams.video, *self._container.streams.audio):
                if (stream.start_time is not None and stream.duration and stream.time_base is not None
                        and not int(getattr(stream, "disposition", 0)) & ATTACHED_PIC):
                    ends.append(float((stream.start_time + stream.duration) * stream.time_base))
            self._played_end = max(ends) - first
        self._seek(0)

    @property
    def played_duration(self) -> float:
        # The file's duration is in whole microseconds: one rounded up from the pictures' own
        # end is theirs (0.541667 s x 24 would count a 14th frame of 13).
        end = self._played_end
        return end if end is not None and end > self.duration + 1e-5 else self.duration

    def _cut_short(self, read: list[_Read], declared: int) -> bool:
        """Whether demuxing ended before the video did: a read error, a last packet cut short,
        fewer packets than the header declares, a Matroska file that says it lasts longer, or
        an MPEG-TS file that ends inside a packet. A file that declares no length and shows
        none of these is taken as whole: a hole among its last frames may be a frame its
        camera dropped or a pause as well as frames lost with a cut, so it is only said."""
        if self._demux_failed or read[-1].corrupt:
            return True
        if declared:
            return len(read) < declared
        if self._declared_end is not None:
            return self._frames_past(max(read, key=lambda r: r.pts)) > 0
        if self._container.format.name == "mpegts" and _ends_inside_a_ts_packet(self.path):
            return True
        if _hole_after(sorted({r.pts for r in read}), _sure_end(read)):
            log.warning("%s: a gap among its last frames; if the file was cut short, the frames "
                        "after the gap may be numbered too low (a whole file is read right)",
                        self.path.name)
        return False

    def _drop_unsure_frames(self, read: list[_Read], keyframe_by_pts: dict[int, bool]) -> int:
        """Remove from the index the frames of a cut file that lost packets could precede (the
        index numbers frames by pts order, so each would take a lost one's number) and the
        last packet read where it may be cut short (flagged, or MPEG-TS, whose packets end
        only where the next starts: a cut one decodes to garbage); how many were removed."""
        sure = _sure_end(read)
        last = read[-1]
        if last.corrupt or self._container.format.name == "mpegts":
            sure = min(_sure_end(read[:-1]) if len(read) > 1 else last.pts - 1, last.pts - 1)
        unsure = [p for p in keyframe_by_pts if p > sure]
        if len(unsure) == len(keyframe_by_pts):
            raise VideoError(f"{self.path}: truncated before its first whole frame")
        for p in unsure:
            del keyframe_by_pts[p]
            self._checksums.pop(p, None)
        log.warning("%s: cut short; its last %d frames read are left out, as frames lost with "
                    "the rest of the file may come before them", self.path.name, len(unsure))
        return len(unsure)

    @cached_property
    def _declared_end(self) -> float | None:
        """Seconds on the video's clock at which a Matroska file says the video ends: its
        DURATION tag (FFmpeg and mkvmerge write one per track), or the file's duration where
        the video is its only stream (a longer sound track would make it longer). Read once:
        indexing asks up to three times, and a reopened container is the same file."""
        if not self._container.format.name.startswith("matroska"):
            return None
        tag = self._stream.metadata.get("DURATION", "")
        if match := re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", tag.strip()):
            hours, minutes, seconds = match.groups()
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        if len(self._container.streams) == 1 and self._container.duration:
            return self._container.duration / av.time_base
        return None

    def _frames_past(self, last: _Read) -> int:
        """Frames a Matroska file declares past the frame ``last`` ends (0 if it declares no
        end), counted at the stream's average rate; ``last`` lasts its own duration where the
        file says it (a variable frame rate's last frame may be held long), else one frame."""
        end = self._declared_end
        rate = self._stream.average_rate
        time_base = self._stream.time_base
        if end is None or not rate or time_base is None:
            return 0
        last_end = float((last.pts + last.duration) * time_base) if last.duration else (
            float(last.pts * time_base) + 1 / float(rate))
        return max(0, round((end - last_end) * float(rate)))

    def _refuse_restart(self, number: int) -> NoReturn:
        # Decode times only grow within a stream; going back to a pts already seen means
        # a second stream follows the first (`cat a.ts b.ts`) or the clock was reset.
        # Frames of both parts would share timestamps, and one part would silently take
        # the other's indices.
        raise VideoError(
            f"{self.path}: timestamps restart at packet {number} (concatenated or "
            f"discontinuous stream); remux it first (ffmpeg -i in.ts -c copy out.mkv) "
            f"or import its parts as separate videos"
        )

    def _refuse_repeated_pts(self, pts: int) -> NoReturn:
        """``pts``: the repeated timestamp, counted from the first one."""
        # MPEG-PS stores a timestamp per pack, not per picture: FFmpeg's parser guesses the
        # rest and can give two pictures the same one. The index keeps one picture per
        # timestamp, so the other would vanish and every later index would show the picture
        # after its own (seen on files FFmpeg itself writes: small pictures, no B-frames).
        time_base = self._stream.time_base
        assert time_base is not None
        raise UntrustedTimestamps(
            f"{self.path}: two pictures carry the same timestamp (at {float(pts * time_base):.3f} s; "
            f"MPEG-PS stores few timestamps and FFmpeg guesses the rest), so frame numbers "
            f"cannot be trusted; re-encode it first "
            f"(ffmpeg -i in.mpg -c:v libx264 out.mp4)"
        )

    def _first_frame(self) -> av.VideoFrame:
        """Decode the first frame (proves the codec works, gives rotation and size) and keep
        the decoder open there, so reading from frame 0 costs no second seek."""
        live = self._decode_from(0)
        for index, frame in live:
            self._live, self._pending, self._live_next = live, (index, frame), index
            return frame
        raise VideoError(
            f"{self.path}: no frame decodes (corrupt data or unsupported {self.codec} stream)"
        )

    def _check_output_order(self) -> None:
        """Decode the first frames of a file whose pts are decode-order numbers: out of order
        means B-frames, which _in_order would refuse later, after handing out frames under
        wrong indices. Refused here instead, before any frame is read."""
        for _ in itertools.islice(self._decode_from(0), ORDER_PROBE_FRAMES):
            pass

    def _packets(self) -> Iterator[av.Packet]:
        """Demuxed packets of the video stream; a read error ends the stream (truncation)."""
        demux = self._container.demux(self._stream)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                return
            except av.error.FFmpegError as exc:
                log.warning("%s: demuxing stopped: %s", self.path.name, _reason(exc))
                self._demux_failed = True
                return
            if packet.size or packet.pts is None and packet.dts is None:
                yield packet  # the final empty packet flushes the decoder

    def _seek(self, index: int) -> None:
        pts = self.infos[index].pts
        try:
            self._container.seek(pts, stream=self._stream, backward=True, any_frame=False)  # type: ignore[arg-type]  # indexed frames carry a pts
        except av.error.FFmpegError as exc:
            # No seek works in a file without an index or keyframe flags left (a damaged
            # Matroska file, one whose muxer flagged no keyframes): its first packet, where
            # the file opens, is before every frame.
            log.debug("%s: seeking failed (%s); reading from the start", self.path.name, _reason(exc))
            self._reopen()

    def _reopen(self) -> None:
        """The file opened again, at its first packet."""
        index = self._stream.index
        self._container.close()
        try:
            self._container = av.open(str(self.path), metadata_errors="ignore")
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            raise VideoError(f"{self.path}: cannot be read again ({_reason(exc)})") from exc
        self._stream = self._container.streams[index]  # type: ignore[assignment]  # the same video stream
        self._stream.thread_type = self._thread_type

    def _rewind(self) -> None:
        """Back to the first packet of the file, when seeking to the first keyframe lands past
        it (MPEG-TS lands on the next keyframe) or MPEG-PS packets come out of step. Time 0
        is below every timestamp of MPEG-TS/PS, so their timestamp search stops at the first
        packet. A container that refuses the seek (FLV starting after 0) gets the first
        frame's seek instead."""
        try:
            self._container.seek(0, backward=True, any_frame=False)
        except av.error.FFmpegError:
            self._seek(0)

    def _decode_from(self, start: int) -> Iterator[tuple[int, av.VideoFrame]]:
        """Decoded frames with index >= start, in order, starting at a keyframe seek (its
        packets verified where seeks can mislabel frames) or, failing that, at the file's
        start."""
        k = bisect.bisect_right(self._keyframes, start) - 1
        while True:
            if k >= 0:
                self._seek(self._keyframes[k])
            else:
                self._rewind()
            packets = self._packets()
            if k >= 0 and self._verify_seeks:
                packets = self._verified(packets)
            frames = self._decode_packets(packets)
            if self._pts_in_decode_order:
                frames = self._in_order(frames)
            try:
                head = next(frames, None)
                if (head is None or head[0] > start) and k >= 0:
                    # The seek landed past the target or on nothing decodable (reordering
                    # across keyframes, a container that seeks by dts or to the next
                    # keyframe): retry from the keyframe before, and before the first one
                    # from the file's start.
                    k -= 1
                    continue
                if head is None:
                    return
                for item in itertools.chain([head], frames):
                    if item[0] >= start:
                        start = item[0] + 1
                        yield item
                return
            except _OutOfStep:
                k = -1  # read on from the file's start, where packets are as the index saw them

    def _verified(self, packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
        """``packets`` after a seek, from the first keyframe whose bytes are those the index
        saw under its timestamp; raises _OutOfStep at any later packet whose are not. A
        packet stamped with another frame's timestamp never reaches the decoder, so no frame
        comes out under another's index."""
        in_step = False
        for packet in packets:
            same = not packet.size or self._checksums.get(packet.pts) == zlib.crc32(packet)  # type: ignore[arg-type]  # a pts of None finds no checksum
            if not in_step:
                in_step = same and bool(packet.is_keyframe)
            elif not same:
                raise _OutOfStep
            if in_step:
                yield packet

    def _in_order(self, frames: Iterator[tuple[int, av.VideoFrame]]
                  ) -> Iterator[tuple[int, av.VideoFrame]]:
        """``frames``, refused once one comes out before an earlier index. A decoder hands
        frames out in presentation order, so in a file whose pts are decode-order numbers
        this means the numbers do not say which frame is which. The frames before it would
        be mislabelled too: each is held back until ORDER_LOOKAHEAD later ones came out in
        order, so the refusal comes before any of them is handed out."""
        held: deque[tuple[int, av.VideoFrame]] = deque()
        last = -1
        for index, frame in frames:
            if index < last:
                raise UntrustedTimestamps(
                    f"{self.path}: its frames are stored out of display order (B-frames) and "
                    f"{self._container.format.name.upper()} keeps no display times, so frame "
                    f"numbers cannot be trusted; remux to MP4/MKV first "
                    f"(ffmpeg -i in.avi -c copy out.mkv)"
                )
            last = index
            held.append((index, frame))
            if len(held) > ORDER_LOOKAHEAD:
                yield held.popleft()
        yield from held

    def _decode_packets(self, packets: Iterator[av.Packet]) -> Iterator[tuple[int, av.VideoFrame]]:
        for packet in packets:
            try:
                decoded = packet.decode()
            except av.error.FFmpegError as exc:
                log.debug("%s: packet pts=%s does not decode: %s", self.path.name, packet.pts,
                          _reason(exc))
                continue
            for frame in decoded:
                index = self._index_of.get(frame.pts)  # type: ignore[arg-type]  # a pts of None finds no index, as it should
                if index is not None:  # frames outside the index (edit lists) are not frames
                    yield index, frame

    def _to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        size = self._stored_size
        if size is not None and (frame.width, frame.height) != size:
            # The resolution changes mid-stream (WebRTC and MediaRecorder recordings adapt it
            # to the bandwidth): every frame is given at the first one's size, as ffmpeg does,
            # so that ``width``/``height`` hold for each and the pixel limit checked on them
            # is not dodged.
            log.debug("%s: a %dx%d frame scaled to %dx%d", self.path.name, frame.width,
                      frame.height, *size)
            image = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
        else:
            image = frame.to_ndarray(format="rgb24")
        if self.rotation or self.mirrored:
            # Display-matrix rotation is counter-clockwise, as np.rot90's; the mirror after it.
            upright = np.rot90(image, self.rotation // 90)
            return np.ascontiguousarray(upright[:, ::-1] if self.mirrored else upright)
        return image

    def __getitem__(self, index: int) -> np.ndarray:
        index = self._check_index(index)
        if self._last is not None and self._last[0] == index:
            frame = self._last[1]  # asked again: convert again, never hand out a shared array
        else:
            if self._untrusted is not None:
                raise self._untrusted
            try:
                frame = self._decode(index)
            except UntrustedTimestamps as exc:
                self._untrusted = exc
                raise
            self._last = (index, frame)
        return self._to_rgb(frame)

    def _decode(self, index: int) -> av.VideoFrame:
        if self._dead_from is not None and index >= self._dead_from:
            self._fail(index)
        if self._pending is not None and self._skipped_from <= index < self._pending[0]:
            self._fail(index)
        if index in self._kept:
            return self._kept[index]
        behind = self._live is None or index < self._live_next
        # A keyframe between the decoder and the target: seeking there is cheaper.
        keyframe = self._keyframes[bisect.bisect_right(self._keyframes, index) - 1]
        far = keyframe > self._live_next
        # The frames before the target in its group are decoded anyway: the ones just before
        # are kept, in place of the earlier ones, for the next read of a backward walk. Also
        # when the target is ahead of the decoder: a walk's first read usually is, and keeping
        # nothing then decoded its group a second time on the walk's second read. A forward
        # walk keeps at most the frames it skips (none when it reads every one).
        keep_from = max(keyframe, index - self._keep + 1)
        self._kept, self._kept_bytes = {}, 0
        if behind or far:
            self._live, self._pending = self._decode_from(keep_from), None
            self._dead_from = None
        assert self._live is not None
        while True:
            item: tuple[int, av.VideoFrame] | None
            if self._pending is not None:
                item, self._pending = self._pending, None
            else:
                item = next(self._live, None)
            if item is None:  # the decodable data ends before this frame
                self._live, self._dead_from = None, index
                self._fail(index)
            found, frame = item
            self._live_next = found + 1
            if found == index:
                return frame
            if keep_from <= found < index:
                self._keep_picture(found, frame)
            if found > index:  # the target was skipped by the decoder: corrupt data
                self._pending, self._live_next, self._skipped_from = item, found, index
                self._fail(index)

    def _fail(self, index: int) -> NoReturn:
        self.undecodable.add(index)
        raise VideoError(f"{self.path}: frame {index} does not decode (corrupt or truncated data)")

    def close(self) -> None:
        self._live = self._pending = None
        self._kept, self._kept_bytes = {}, 0
        self._container.close()

    def _keep_picture(self, index: int, frame: av.VideoFrame) -> None:
        """Keep ``frame`` for a backward walk, within KEPT_BYTES: the count of frames kept
        was chosen from the first frame's size, and a stream whose resolution grows (a
        WebRTC recording) would hold many times it. The earliest go first: a backward walk
        reads the latest next."""
        self._kept[index] = frame
        self._kept_bytes += _picture_bytes(frame)
        while (self._kept_bytes > KEPT_BYTES or len(self._kept) > self._keep) and len(self._kept) > 1:
            self._kept_bytes -= _picture_bytes(self._kept.pop(next(iter(self._kept))))


def _orientation(frame: av.VideoFrame) -> tuple[int, bool]:
    """Counter-clockwise degrees (a multiple of 90) and then whether to mirror left-right,
    that show ``frame`` upright as its display matrix says, as FFmpeg and browsers show it.
    A mirroring matrix (front cameras, a video flipped in an editor) has an angle that alone
    says nothing true: a left-right mirror reads as 180 deg (the picture would come out
    upside down), an upside-down one as 0 deg."""
    try:
        matrix = frame.side_data.get("DISPLAYMATRIX")
    except (KeyError, ValueError, TypeError):
        matrix = None
    if matrix is None:
        return round(frame.rotation / 90) * 90 % 360, False
    # Maps a source pixel (x, y) to the shown (a x + c y, b x + d y); nearest axis-aligned.
    a, b, _, c, d = np.frombuffer(bytes(matrix), np.int32)[:5].astype(float)  # type: ignore[call-overload]  # side data is a buffer
    swap = abs(b) + abs(c) > abs(a) + abs(d)
    flip_rows, flip_cols = (b < 0, c < 0) if swap else (d < 0, a < 0)
    rotation = (90 if flip_rows else 270) if swap else (180 if flip_rows else 0)
    # A pure rotation flips the columns exactly when 90 or 180 deg (np.rot90's transposes
    # and flips); any other combination is a rotation and a mirror.
    mirrored = bool(flip_cols != (flip_rows != swap))
    return rotation, mirrored


def _shorter_than_its_riff_header(path: Path) -> bool:
    """Whether an AVI file holds less than its RIFF chunks declare (a copy cut short). One
    over 1 GB (OpenDML) is a chain of them, cut in any. Unknown (unreadable, not RIFF)
    counts as cut: the header's frame count then decides."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            offset = 0
            while offset + 8 <= size:
                f.seek(offset)
                head = f.read(8)
                if head[:4] != b"RIFF":
                    return offset == 0
                length = int.from_bytes(head[4:8], "little")
                offset += 8 + length + (length & 1)  # chunks are padded to even lengths
                if offset > size + (length & 1):  # a muxer may leave the last pad byte out
                    return True
            if offset and 0 < size - offset < 8:  # cut inside a later chunk's header?
                f.seek(offset)
                return b"RIFF".startswith(f.read(4)[:4])
    except OSError:
        return True
    return size < 8


# MPEG-TS packet layouts: (size, offset of the sync byte 0x47 in a packet). 192: Blu-ray's
# M2TS (a 4-byte time code first); 204: DVB's, with 16 bytes of error correction after.
TS_PACKETS = ((188, 0), (192, 4), (204, 0))


def _ends_inside_a_ts_packet(path: Path) -> bool:
    """Whether an MPEG-TS file ends part-way through a packet. Its layout is the one whose sync
    bytes (0x47) the first packets show; a file that starts part-way into a packet (a stream
    recorded from where it was joined) is read from its end instead. Padding after the last
    packet (zeros) holds no packet start: that file is whole."""
    with path.open("rb") as f:
        head = f.read(5 * 204)
        size = f.seek(0, 2)
        f.seek(max(0, size - 16 * 204))
        tail = f.read()
    offset = size - len(tail)  # the tail's place in the file
    for packet, sync in TS_PACKETS:
        if len(head) >= 5 * packet and all(head[k * packet + sync] == 0x47 for k in range(5)):
            phases = [sync]  # the file starts on a packet: where each sync byte is, in the file
        else:
            phases = _sync_phases(tail, offset, packet)
        for phase in phases:
            starts = range((phase - offset) % packet, len(tail), packet)
            run = next((n for n, i in enumerate(starts) if tail[i] != 0x47), len(starts))
            if run >= min(8, len(starts)) and run:
                # The packet whose sync byte is the last of the unbroken run: whole or cut.
                return len(tail) - (starts[run - 1] - sync) < packet
    return False


def _sync_phases(tail: bytes, offset: int, packet: int) -> list[int]:
    """Where in a packet of ``packet`` bytes a file's sync bytes fall (file offset modulo the
    packet), as its last bytes show them: the phases with 0x47 at eight packet starts in a row.
    A packet ID whose low byte is 0x47 repeats 2 bytes after the sync byte (and its high bits
    can make byte 1 0x47 too): of phases 1 or 2 apart, the first is the sync."""
    found = {p for p in range(packet)
             if len(tail) >= 8 * packet
             and all(tail[(p - offset) % packet + k * packet] == 0x47 for k in range(8))}
    return [p for p in sorted(found) if (p - 1) % packet not in found and (p - 2) % packet not in found]


class _Read(NamedTuple):
    """A packet as the index read it: pts, dts, duration (0: unknown), flagged corrupt."""

    pts: int
    dts: int | None
    duration: int
    corrupt: bool


# Packets at the end of a file looked at for its reordering (a group of pictures' pattern),
# and how far back in decode order a frame shown before them may come (H.264 reorders up to 16).
REORDER_WINDOW = 256
REORDER_REACH = 32


def _sure_end(read: list[_Read]) -> int:
    """The highest pts that no frame lost after ``read`` (packets in decode order) can come
    before. A frame is decoded before it is shown, so a lost one, decoded after the last
    dts, is shown after it; and a decoder holds back at most as many frames as the stream
    reorders (those decoded before a frame and shown after it: the most seen in the file's
    last packets), so a lost frame comes after that many frames plus one of those read. The
    lower of the two: the dts of Matroska and others is FFmpeg's guess."""
    tail = [r.pts for r in read[-REORDER_WINDOW:]]
    depth = max((sum(p > q for p in tail[max(0, i - REORDER_REACH):i]) for i, q in enumerate(tail)),
                default=0)
    sure = sorted(tail)[-min(depth + 1, len(tail))]
    last_dts = next((r.dts for r in reversed(read) if r.dts is not None), None)
    return sure if last_dts is None else min(sure, last_dts)


def _hole_after(pts: list[int], sure: int) -> bool:
    """Whether sorted ``pts`` leave a hole past ``sure``, where a frame is missing: a step
    over 1.5 times the longest among the sure frames (at the end of the file), so that a
    variable frame rate's pauses are no holes; a constant rate's hole is twice its step."""
    split = bisect.bisect_right(pts, sure)
    steps = np.diff(pts[max(0, split - REORDER_WINDOW):split])
    if not len(steps):
        return False  # nothing to measure a step by
    longest = float(steps.max())
    return any(b - a > 1.5 * longest for a, b in itertools.pairwise(pts[split - 1:]))


def _picture_bytes(frame: av.VideoFrame) -> int:
    return sum(plane.buffer_size for plane in frame.planes)


class UntrustedTimestamps(VideoError):
    """The file's timestamps cannot say which frame is which: no frame of it is trustworthy."""


class _OutOfStep(Exception):
    """After a seek, a packet differs from the one the index saw under its timestamp."""


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
