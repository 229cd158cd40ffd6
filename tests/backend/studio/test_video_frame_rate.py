"""Box tracking in a ``<Video>`` counts frames as Label Studio does: frame k of a task is
the picture on screen at (k - 1) / frameRate, the config's rate (the task's ``$fps``, 24
when absent), which need not be the file's own."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from clips import box_tracking_client, disk_clip, write_video

from samvid.studio.configs import load_config
from samvid.studio.video import (
    BoxPrompt,
    VideoTarget,
    box_prompts,
    parse_video_config,
    sequence_result,
    studio_frame_rate,
)

N, FILE_FPS = 24, 50  # a 0.48 s clip at 50 frames/s


def _box_percent(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return (xs.min() / w * 100, ys.min() / h * 100, (xs.max() + 1 - xs.min()) / w * 100,
            (ys.max() + 1 - ys.min()) / h * 100)


@pytest.mark.parametrize("task_fps", [25, None])  # None: no fps in the task, Label Studio counts 24
def test_a_box_on_a_task_whose_rate_is_not_the_files_is_tracked_on_the_pictures_label_studio_shows(
        images, task_fps: int | None) -> None:
    client = box_tracking_client(images)
    frames, masks = disk_clip(N, step=4)
    path = write_video(images / "disk.mp4", frames, fps=FILE_FPS)
    rate = task_fps or 24
    drawn = 6  # Label Studio's frame 6 shows the video at 5 / rate s: file frame 10
    x, y, w, h = _box_percent(masks[int((drawn - 1) / rate * FILE_FPS)])
    item = {"id": "b", "type": "videorectangle", "from_name": "box", "to_name": "video",
            "value": {"labels": ["Object"], "sequence": [
                {"frame": drawn, "enabled": True, "x": x, "y": y, "width": w, "height": h}]}}
    data = {"video": str(path), **({"fps": task_fps} if task_fps else {})}
    body = {"tasks": [{"id": 1, "data": data}], "label_config": load_config("video_boxes").render(["Object"]),
            "params": {"context": {"result": [item]}}}
    resp = client.post("/predict", json=body)
    assert resp.status_code == 200, resp.get_json()
    (region,) = resp.get_json()["results"][0]["result"]
    assert region["value"]["framesCount"] == round(N / FILE_FPS * rate)  # 12 of Label Studio's frames
    sequence = region["value"]["sequence"]
    assert [key["frame"] for key in sequence] == list(range(drawn, 13))
    for key in sequence:
        assert key["time"] == pytest.approx((key["frame"] - 1) / rate)
        shown = masks[int((key["frame"] - 1) / rate * FILE_FPS + 1e-9)]
        assert abs(key["x"] - _box_percent(shown)[0]) < 2, key["frame"]


def test_label_studio_frame_rate_comes_from_the_config_or_the_task_and_is_24_otherwise() -> None:
    assert studio_frame_rate("$fps", {"fps": 30}) == 30
    assert studio_frame_rate("$fps", {"fps": "29.97"}) == pytest.approx(29.97)
    assert studio_frame_rate("$fps", {}) == 24
    assert studio_frame_rate("$fps", {"fps": "fast"}) == 24
    assert studio_frame_rate("$fps", {"fps": 0.04}) == pytest.approx(25)  # seconds per frame
    assert studio_frame_rate("25", {}) == 25
    config = "<View><Video name='v' value='$video' frameRate='12'/><VideoRectangle name='b' toName='v'/></View>"
    assert parse_video_config(config).frame_rate == "12"
    assert parse_video_config(config.replace(" frameRate='12'", "")).frame_rate == "24"


@pytest.mark.parametrize("times", [[i / 30 for i in range(30)], [round(i / 30, 3) for i in range(30)]],
                         ids=["exact", "millisecond timestamps"])
def test_at_the_files_own_rate_each_video_frame_is_its_label_studio_frame(times: list[float]) -> None:
    boxes = [(i, (10.0, 10.0, 20.0, 20.0)) for i in range(30)]
    region = sequence_result(VideoTarget("video", "video", "box"), BoxPrompt("b", 0, (1, 1, 1, 1), [], False),
                             boxes, 100, 100, 30.0, times, 30)
    assert [key["frame"] for key in region["value"]["sequence"]] == list(range(1, 31))


def test_the_first_picture_of_a_late_video_keeps_its_box_from_label_studios_first_frame() -> None:
    # 60 fps pictures from 0.05 s, shown at Label Studio's 24 a second: the first picture is on
    # screen until 0.067 s, Label Studio's frames 1 and 2, but no frame of its own starts on
    # it (the second picture is shown by frame 3): its box was left out, the drawn one too.
    times = [0.05 + i / 60 for i in range(30)]
    boxes = [(i, (1.0, 1.0, 5.0, 5.0)) for i in range(30)]
    region = sequence_result(VideoTarget("video", "video", "box"), BoxPrompt("b", 0, (1, 1, 1, 1), [], False),
                             boxes, 100, 100, 24.0, times, 13)
    frames = [k["frame"] for k in region["value"]["sequence"]]
    assert frames[0] == 1 and frames == sorted(set(frames))


def test_a_box_on_label_studios_last_frame_is_on_the_video(images) -> None:
    # Label Studio counts ceil(duration x frameRate) frames: 1.3 s at 24 is 32 (round gave 31).
    client = box_tracking_client(images)
    frames, masks = disk_clip(13, step=4)
    path = write_video(images / "last.mp4", frames, fps=10)
    x, y, w, h = _box_percent(masks[12])
    item = {"id": "b", "type": "videorectangle", "from_name": "box", "to_name": "video", "value": {
        "labels": ["Object"], "reverse": True,
        "sequence": [{"frame": 32, "enabled": True, "x": x, "y": y, "width": w, "height": h}]}}
    body = {"tasks": [{"id": 1, "data": {"video": str(path)}}],
            "label_config": load_config("video_boxes").render(["Object"]), "params": {"context": {"result": [item]}}}
    resp = client.post("/predict", json=body)
    assert resp.status_code == 200, resp.get_json()
    (region,) = resp.get_json()["results"][0]["result"]
    assert region["value"]["framesCount"] == 32


def write_video_with_sound(path: Path, frames: list[np.ndarray], fps: int, seconds: float,
                           delay: float = 0.0) -> Path:
    """H.264 pictures at ``fps`` from ``delay`` s, and AAC silence from 0 lasting ``seconds``."""
    from fractions import Fraction

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        sound = out.add_stream("aac", rate=44100)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image)
            frame.pts, frame.time_base = round((delay + i / fps) * 1000), Fraction(1, 1000)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        for i in range(int(seconds * 44100 / 1024)):
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            samples.sample_rate, samples.pts = 44100, i * 1024
            out.mux(sound.encode(samples))
        out.mux(sound.encode())
    return path


def test_a_box_on_a_frame_after_the_last_picture_while_the_sound_plays_on_is_tracked_from_that_picture(
        images) -> None:
    """A browser plays the file as long as its longest stream, and Label Studio counts its
    frames in that: those after the last picture show it."""
    client = box_tracking_client(images)
    frames, masks = disk_clip(10, step=4)
    path = write_video_with_sound(images / "talk.mp4", frames, 10, 1.5)  # 1 s of pictures
    x, y, w, h = _box_percent(masks[9])
    item = {"id": "b", "type": "videorectangle", "from_name": "box", "to_name": "video", "value": {
        "labels": ["Object"], "reverse": True,
        "sequence": [{"frame": 13, "enabled": True, "x": x, "y": y, "width": w, "height": h}]}}
    body = {"tasks": [{"id": 1, "data": {"video": str(path), "fps": 10}}],
            "label_config": load_config("video_boxes").render(["Object"]), "params": {"context": {"result": [item]}}}
    resp = client.post("/predict", json=body)
    assert resp.status_code == 200, resp.get_json()
    (region,) = resp.get_json()["results"][0]["result"]
    assert region["value"]["framesCount"] == 15  # ceil(1.486 s x 10)
    sequence = region["value"]["sequence"]
    assert [key["frame"] for key in sequence] == list(range(1, 11))
    assert abs(sequence[-1]["x"] - x) < 2


def test_a_box_on_a_video_whose_pictures_start_after_its_sound_is_tracked_on_the_pictures_the_browser_shows(
        images) -> None:
    """A browser's time is the file's own, from the sound's start: with pictures from 0.5 s,
    Label Studio's frame k (at 10 frames/s) shows picture k - 6, and picture 0 before that."""
    client = box_tracking_client(images)
    frames, masks = disk_clip(10, step=4)
    frames, masks = frames[::-1], masks[::-1]  # the disk goes left, from far off the left edge
    path = write_video_with_sound(images / "late.mp4", frames, 10, 1.5, delay=0.5)
    x, y, w, h = _box_percent(masks[2])
    item = {"id": "b", "type": "videorectangle", "from_name": "box", "to_name": "video", "value": {
        "labels": ["Object"], "reverse": True,
        "sequence": [{"frame": 9, "enabled": True, "x": x, "y": y, "width": w, "height": h}]}}
    body = {"tasks": [{"id": 1, "data": {"video": str(path), "fps": 10}}],
            "label_config": load_config("video_boxes").render(["Object"]), "params": {"context": {"result": [item]}}}
    resp = client.post("/predict", json=body)
    assert resp.status_code == 200, resp.get_json()
    (region,) = resp.get_json()["results"][0]["result"]
    assert region["value"]["framesCount"] == 15  # 1.5 s x 10, the browser's duration
    sequence = region["value"]["sequence"]
    assert [key["frame"] for key in sequence] == [1, 6, 7, 8, 9]  # pictures 0 (from the start), 0, 1, 2
    for key in sequence:
        shown = masks[max(0, key["frame"] - 6)]
        assert abs(key["x"] - _box_percent(shown)[0]) < 2, key["frame"]


def test_a_box_comes_back_under_the_rectangle_control_it_was_drawn_with() -> None:
    # Before the fix every box came back under the config's first <VideoRectangle>.
    config = ("<View><Video name='video' value='$video'/><VideoRectangle name='cars' toName='video'/>"
              "<VideoRectangle name='people' toName='video'/></View>")
    item = {"id": "b", "type": "videorectangle", "from_name": "people", "to_name": "video",
            "value": {"sequence": [{"frame": 1, "enabled": True, "x": 1, "y": 1, "width": 5, "height": 5}]}}
    (prompt,) = box_prompts({"result": [item]})
    region = sequence_result(parse_video_config(config), prompt, [(0, (1.0, 1.0, 5.0, 5.0))], 100, 100,
                             24.0, [0.0], 1)
    assert region["from_name"] == "people"


def _box_on_frame_1(region_id: str, control: str, video: str, mask: np.ndarray) -> dict:
    """A videorectangle around ``mask``, drawn with ``control`` on ``video``'s first frame."""
    x, y, w, h = _box_percent(mask)
    return {"id": region_id, "type": "videorectangle", "from_name": control, "to_name": video, "value": {
        "labels": [], "sequence": [{"frame": 1, "enabled": True, "x": x, "y": y, "width": w, "height": h}]}}


def test_a_box_on_the_second_video_of_a_config_is_tracked_on_that_video(images) -> None:
    # Every box was tracked on the config's first <Video>, whatever video it was drawn on.
    client = box_tracking_client(images)
    frames, masks = disk_clip(13, step=4)
    second = write_video(images / "second.mp4", frames, fps=24)
    config = ("<View><Video name='front' value='$front'/><VideoRectangle name='cars' toName='front'/>"
              "<Video name='back' value='$back'/><VideoRectangle name='people' toName='back'/></View>")
    body = {"tasks": [{"id": 1, "data": {"front": str(images / "missing.mp4"), "back": str(second)}}],
            "label_config": config, "params": {"context": {"result": [_box_on_frame_1("p", "people", "back", masks[0])]}}}
    resp = client.post("/predict", json=body)
    assert resp.status_code == 200, resp.get_json()  # was the first video's: a missing file
    (region,) = resp.get_json()["results"][0]["result"]
    assert (region["from_name"], region["to_name"]) == ("people", "back")
    assert region["value"]["framesCount"] == 13


def test_boxes_of_two_rectangle_controls_on_one_video_come_back_each_under_its_own(images, monkeypatch) -> None:
    import samvid.studio.video as video

    client = box_tracking_client(images)
    frames, masks = disk_clip(13, step=4)
    path = write_video(images / "one.mp4", frames, fps=24)
    config = ("<View><Video name='video' value='$video'/><VideoRectangle name='cars' toName='video'/>"
              "<VideoRectangle name='people' toName='video'/></View>")
    items = [_box_on_frame_1(name, name, "video", masks[0]) for name in ("cars", "people")]
    answered = []
    answer = video.answer
    monkeypatch.setattr(video, "answer", lambda *args: answered.append(args) or answer(*args))
    resp = client.post("/predict", json={"tasks": [{"id": 1, "data": {"video": str(path)}}], "label_config": config,
                                         "params": {"context": {"result": items}}})
    assert resp.status_code == 200, resp.get_json()
    assert sorted((r["id"], r["from_name"]) for r in resp.get_json()["results"][0]["result"]) == [
        ("cars", "cars"), ("people", "people")]
    assert len(answered) == 1  # one video, read once
