"""Box tracking in a ``<Video>`` whose first frames do not decode (the first keyframe's bytes
lost): the box drawn on a frame that decodes is tracked, not refused for frame 0."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from clips import box_tracking_client, disk_clip
from damaged_video import with_packet_zeroed

from samvid.studio.configs import load_config

N, FPS, GROUP = 30, 25, 10


def write_with_damaged_first_keyframe(folder: Path, frames: list[np.ndarray]) -> Path:
    """H.264 in MKV, a keyframe every GROUP frames, the first keyframe's bytes zeroed."""
    h, w = frames[0].shape[:2]
    whole, damaged = folder / "whole.mkv", folder / "damaged.mkv"
    with av.open(str(whole), "w") as out:
        stream = out.add_stream("libx264", rate=FPS,
                                options={"crf": "10", "g": str(GROUP), "bf": "0", "sc_threshold": "0"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame)))
        out.mux(stream.encode())
    with_packet_zeroed(whole, damaged, 0)
    return damaged


def box_on(images: Path, frame: int, box: tuple[float, float, float, float]):
    """/predict's reply to a box on Label Studio frame ``frame`` of the damaged clip, and its masks."""
    client = box_tracking_client(images)
    frames, masks = disk_clip(N, step=4)
    path = write_with_damaged_first_keyframe(images, frames)
    x, y, width, height = box
    item = {"id": "b", "type": "videorectangle", "from_name": "box", "to_name": "video",
            "value": {"labels": ["Object"], "sequence": [
                {"frame": frame, "enabled": True, "x": x, "y": y, "width": width, "height": height}]}}
    body = {"tasks": [{"id": 1, "data": {"video": str(path), "fps": FPS}}],
            "label_config": load_config("video_boxes").render(["Object"]), "params": {"context": {"result": [item]}}}
    return client.post("/predict", json=body)


def test_a_box_on_a_video_whose_first_frame_does_not_decode_is_tracked_on_the_frames_that_do(
        images: Path) -> None:
    # Before the fix the reply was 422 "frame 0 does not decode": the size was read from frame 0.
    drawn = 21  # Label Studio's frame 21 at 25 frames/s: file frame 20, past the damaged group
    _, masks = disk_clip(N, step=4)
    ys, xs = np.nonzero(masks[drawn - 1])
    h, w = masks[0].shape
    x, y = xs.min() / w * 100, ys.min() / h * 100
    resp = box_on(images, drawn, (x, y, (xs.max() + 1 - xs.min()) / w * 100, (ys.max() + 1 - ys.min()) / h * 100))
    assert resp.status_code == 200, resp.get_json()
    (region,) = resp.get_json()["results"][0]["result"]
    sequence = region["value"]["sequence"]
    assert sequence[0]["frame"] == drawn
    assert sequence[0]["x"] == pytest.approx(x, abs=2)


def test_a_box_drawn_on_a_frame_that_does_not_decode_is_refused_naming_label_studios_frame(
        images: Path) -> None:
    resp = box_on(images, 4, (10, 10, 20, 20))
    # Was 422 "frame 3 does not decode": the file's index, one less than Label Studio's.
    assert resp.status_code == 400, resp.get_json()
    message = str(resp.get_json())
    assert "keyframe 4, where the box is drawn, does not decode" in message
    assert "another frame" in message


def test_a_video_whose_timestamps_cannot_be_trusted_keeps_its_remux_advice(
        images: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Found past the frames checked on opening (late B-frames in an AVI): no other frame
    # would do, so the reply is the reader's own advice, not "draw on another frame".
    from samvid.tracker import frames as decoding

    read = decoding.VideoReader.__getitem__

    def untrusted_from_frame_20(reader: decoding.VideoReader, index: int) -> np.ndarray:
        if index >= 20:
            raise decoding.UntrustedTimestamps("clip.mkv: its timestamps cannot be trusted; remux it to MP4 first")
        return read(reader, index)

    monkeypatch.setattr(decoding.VideoReader, "__getitem__", untrusted_from_frame_20)
    resp = box_on(images, 25, (10, 10, 20, 20))
    assert resp.status_code == 422, resp.get_json()
    assert "remux it to MP4 first" in str(resp.get_json())
    assert "another frame" not in str(resp.get_json())
