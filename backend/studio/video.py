"""Whole-video box tracking for ``<Video>`` + ``<VideoRectangle>`` projects.

A box drawn on one frame of a video task comes back as the object's box on every
following (or preceding) frame: a keyframe per frame in Label Studio's
``videorectangle`` sequence, coordinates in percent, frames counted from 1.

Label Studio counts frames at the ``<Video>``'s ``frameRate`` (24 unless the config sets it,
often from the task: ``$fps``), not the file's: its frame k shows the video at time
(k - 1) / frameRate, the browser's currentTime: the file's own clock, not counted from its
first picture (which may start after the sound, and is shown until then). Frames are matched
through that time, so a task whose rate is not the file's still gets the box of the picture
it shows on each frame.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

from samvid.errors import BadRequest, ConfigError, PromptError, VideoError
from samvid.redact import url_for_messages
from samvid.studio.protocol import label_interface
from samvid.studio.selection import tick_slack

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels

STUDIO_FRAME_RATE = "24"  # Label Studio's frameRate when the <Video> sets none


@dataclass(frozen=True)
class VideoTarget:
    video_name: str
    video_key: str
    box_control: str
    frame_rate: str = STUDIO_FRAME_RATE  # the <Video>'s frameRate attribute: "30" or "$fps"
    # Every <VideoRectangle> of the video: a box comes back under the one it was drawn with.
    box_controls: tuple[str, ...] = ()


def parse_video_config(label_config: Any, control: str = "") -> VideoTarget:
    """The video that the ``<VideoRectangle>`` named ``control`` draws on (the config's first
    rectangle when no such control): a config may hold several videos."""
    if not isinstance(label_config, str):  # before the cache: JSON objects are not hashable
        raise ConfigError("the label config must be a string of XML")
    return _parse_video_config(label_config, control)


@lru_cache(maxsize=32)
def _parse_video_config(label_config: str, control: str) -> VideoTarget:
    interface = label_interface(label_config)
    videos = [o for o in interface.objects if o.tag.lower() == "video"]
    boxes = [c for c in interface.controls if c.tag.lower() == "videorectangle"]
    if not videos or not boxes:
        raise ConfigError("box tracking needs a <Video> and a <VideoRectangle> in the config")
    drawn = next((c for c in boxes if c.name == control), boxes[0])
    video = next((v for v in videos if v.name in drawn.to_name), videos[0])
    # Label Studio reads attribute names in any case: frameRate, framerate.
    rate = next((str(v) for k, v in video.attr.items() if k.lower() == "framerate"), STUDIO_FRAME_RATE)
    controls = tuple(c.name for c in boxes if video.name in c.to_name)
    first = next((c for c in boxes if c.name in controls), boxes[0])
    return VideoTarget(video.name, (video.attr.get("value") or "").lstrip("$"), first.name, rate, controls)


def studio_frame_rate(frame_rate: str, data: Any) -> float:
    """The frames per second Label Studio counts a task's video in, as its ``Video`` tag
    does: ``$key`` from the task data, anything that is no positive number 24, and a
    rate under 1 taken as seconds per frame."""
    value: Any = frame_rate
    if frame_rate.startswith("$"):
        value = data.get(frame_rate[1:]) if isinstance(data, dict) else None
    try:
        rate = float(value)
    except (TypeError, ValueError, OverflowError):
        rate = 0.0
    if not 0 < rate < math.inf:
        rate = float(STUDIO_FRAME_RATE)
    return 1 / rate if rate < 1 else rate


def shown_index(times: Sequence[float], frame: int, rate: float) -> int:
    """The index of the video frame on screen on Label Studio's ``frame`` (from 0, ``rate``
    a second): the last one that started."""
    slack = tick_slack(1 / rate)  # a frame time just before one of Label Studio's frames is on it
    return max(0, bisect.bisect_right(times, frame / rate + slack) - 1)


@dataclass(frozen=True)
class BoxPrompt:
    region_id: str
    frame: int  # 0-based index of the drawn keyframe
    box_percent: tuple[float, float, float, float]  # x, y, width, height in percent
    labels: list[str]
    reverse: bool
    from_name: str = ""  # the <VideoRectangle> it was drawn with


def box_prompts(context: Any) -> list[BoxPrompt]:
    """The drawn videorectangles of ``params.context`` (last keyframe of each)."""
    items = (context or {}).get("result") or [] if isinstance(context, dict) else []
    if not isinstance(items, list):
        raise BadRequest("params.context.result must be a list")
    prompts: list[BoxPrompt] = []
    for item in items:
        if not isinstance(item, dict) or item.get("type") != "videorectangle":
            continue
        value = item.get("value") or {}
        if not isinstance(value, dict):
            raise BadRequest("a videorectangle's value must be an object")
        keyframes = value.get("sequence") or []
        sequence = [k for k in keyframes if isinstance(k, dict)] if isinstance(keyframes, list) else []
        if not sequence:
            raise BadRequest("a videorectangle without keyframes")
        key = sequence[-1]
        try:
            frame = int(key["frame"]) - 1
            x, y, width, height = (float(key[k]) for k in ("x", "y", "width", "height"))
            box = (x, y, width, height)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise BadRequest("a videorectangle keyframe needs frame, x, y, width, height") from exc
        if not all(abs(v) < float("inf") for v in box):  # also NaN
            raise BadRequest("a videorectangle keyframe needs finite x, y, width, height")
        if box[2] <= 0 or box[3] <= 0:
            raise PromptError("the box has zero area: drag a rectangle around the object")
        labels = value.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise BadRequest("a videorectangle's labels must be a list of strings")
        # Each region its own id: two boxes under one id would be one region in Label Studio.
        region_id = str(item.get("id") or f"box{len(prompts) + 1}")
        prompts.append(BoxPrompt(region_id, frame, box, labels,
                                 bool(item.get("reverse") or value.get("reverse")), str(item.get("from_name") or "")))
    return prompts


def to_pixels(box_percent: tuple[float, float, float, float], width: int, height: int) -> Box:
    x, y, w, h = box_percent
    return (x / 100 * width, y / 100 * height, (x + w) / 100 * width, (y + h) / 100 * height)


def sequence_result(target: VideoTarget, prompt: BoxPrompt, boxes: list[tuple[int, Box | None]],
                    width: int, height: int, rate: float, times: Sequence[float],
                    frames_count: int) -> dict[str, Any]:
    """A ``videorectangle`` region with a keyframe on the first Label Studio frame (``rate``
    a second, ``frames_count`` of them) that shows each tracked video frame (``times``:
    the video frames' times on the browser's clock); Label Studio interpolates between them.

    A frame where the object is lost gets a disabled keyframe, so Label Studio does
    not interpolate the box through the gap.
    """
    sequence: list[dict[str, Any]] = []
    for index, box in sorted(boxes, key=lambda item: item[0]):
        # Label Studio's frame (from 0) that first shows it
        frame = max(0, math.ceil((times[index] - tick_slack(1 / rate)) * rate))
        # Else between two of Label Studio's frames: never on its screen.
        own = frame < frames_count and shown_index(times, frame, rate) == index
        # The first picture is on screen from the video's start, also before its own time (a
        # video whose pictures start after its sound): its box from Label Studio's frame 1,
        # even where the next picture comes by the first frame at or after its own time.
        first = index == 0 and frame > 0 and box is not None
        if not own and not first:
            continue
        if box is None:
            if sequence and sequence[-1]["enabled"]:
                sequence[-1]["enabled"] = False
            continue
        x0, y0, x1, y1 = box
        for shown in [0] * first + [frame] * own:
            sequence.append({
                "frame": shown + 1, "enabled": True, "rotation": 0,
                "x": x0 / width * 100, "y": y0 / height * 100,
                "width": (x1 - x0) / width * 100, "height": (y1 - y0) / height * 100,
                "time": shown / rate,
            })
    # Under the control it was drawn with: under another, Label Studio files it elsewhere.
    control = prompt.from_name if prompt.from_name in target.box_controls else target.box_control
    return {
        "id": prompt.region_id, "from_name": control, "to_name": target.video_name,
        "type": "videorectangle", "origin": "prediction",
        "value": {"sequence": sequence, "framesCount": frames_count, "labels": prompt.labels,
                  "duration": frames_count / rate},
    }


def copy_suffix(ref: str) -> str:
    """The extension of the temporary copy of the video at ``ref``: its own where it looks
    like one (the decoder's hint of the container), else ``.mp4``. Whatever follows the
    last dot of a URL or file name is no extension: 250 characters of it were a file name
    too long to create (a 500).

    >>> copy_suffix("/videos/a.mkv?token=x"), copy_suffix("data:video/mp4,abc." + "x" * 300)
    ('.mkv', '.mp4')
    """
    suffix = PurePosixPath(ref.split("?")[0]).suffix
    return suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix) else ".mp4"


def video_for_messages(ref: str) -> str:
    """The task's video as a message names it: the annotator's URL or path (a URL without
    its query or credentials), a ``data:`` URI not spelled out."""
    if ref[:5].lower() == "data:":
        return "the task's data: URI"
    return (url_for_messages(ref) if "://" in ref[:16] else ref)[:200]


@contextmanager
def named_as(ref: str, copy: str) -> Iterator[None]:
    """Video errors that name ``copy``, the temporary file the video at ``ref`` is read
    from, name the task's video instead: the annotator never saw the copy's name."""
    try:
        yield
    except VideoError as exc:
        if copy not in exc.message:
            raise
        raise type(exc)(exc.message.replace(copy, video_for_messages(ref))) from exc


def answer(predictor, settings, task: dict[str, Any], prompts: list[BoxPrompt],
           target: VideoTarget) -> dict[str, Any]:
    """Track every drawn box of one video task with the configured engine
    (``SAMVID_TRACKER``); the /predict reply entry names it: ``samvid-track:<engine>``."""
    import dataclasses
    import tempfile

    from samvid.boxtrack import track_box
    from samvid.propagation import MODEL_PREFIX
    from samvid.tracker.engines import make_engine
    from samvid.tracker.frames import UntrustedTimestamps, open_frames

    data = task.get("data") if isinstance(task, dict) else None
    ref = data.get(target.video_key) if isinstance(data, dict) else None
    if not isinstance(ref, str) or not ref:
        raise BadRequest(f"task data has no video URL under {target.video_key!r}")
    source = dataclasses.replace(predictor.source, max_bytes=settings.max_video_bytes)
    payload = source.fetch(ref, task.get("id"))
    results = []
    with tempfile.NamedTemporaryFile(suffix=copy_suffix(ref)) as tmp, named_as(ref, tmp.name):
        tmp.write(payload)
        tmp.flush()
        with open_frames(tmp.name) as reader:
            # The upright size of every frame, from the first that decodes: frame 0 itself may
            # not (a damaged first keyframe), and the box may be drawn on any frame.
            h, w = reader.height, reader.width
            # Label Studio's frame k is the browser's time (k - 1) / rate on the file's own
            # clock, where the pictures may start after 0 (after the sound, or by an edit list).
            rate, offset = studio_frame_rate(target.frame_rate, data), reader.start_time
            times = [offset + time for time in reader.times]
            # As Label Studio counts them (ceil of duration x frameRate): a box on its last
            # frame is on the video. The slack keeps 0.48 s x 25 = 12.000000000000002 at 12.
            # The browser's duration, the file's: where the sound outlasts the pictures, the
            # frames past the last picture show it, and a box drawn there is on it.
            frames_count = max(1, math.ceil((offset + reader.played_duration) * rate - 1e-6))
            for prompt in prompts:
                if not 0 <= prompt.frame < frames_count:
                    raise PromptError(f"keyframe {prompt.frame + 1} is outside the video's {frames_count} "
                                      f"frames (at {rate:g} frames/s)")
                start = shown_index(times, prompt.frame, rate)
                try:
                    boxes = track_box(reader, start, to_pixels(prompt.box_percent, w, h),
                                      make_engine(settings.tracker), predictor.segmenter,
                                      max_frames=settings.propagate_frames or None, reverse=prompt.reverse)
                except UntrustedTimestamps:
                    raise  # its own advice (remux), which no other frame would escape
                except VideoError as exc:
                    if start not in getattr(reader, "undecodable", ()):
                        raise
                    # Said as Label Studio counts frames, not as the file's index the reader names.
                    raise PromptError(f"keyframe {prompt.frame + 1}, where the box is drawn, does not decode "
                                      "(corrupt or truncated video data): draw the box on another "
                                      "frame, or re-encode the video") from exc
                results.append(sequence_result(target, prompt, boxes, w, h, rate, times, frames_count))
    return {"result": results, "score": 1.0, "model_version": f"{MODEL_PREFIX}:{settings.tracker}"}
