"""The video of a box-tracking task is read whatever its name, and an error about it names
the task's video, not the temporary copy samvid decodes it from."""

from __future__ import annotations

import pytest
from clips import disk_clip, write_video

from samvid.errors import VideoError
from samvid.studio.configs import load_config
from samvid.studio.video import named_as
from samvid.tracker.frames import UntrustedTimestamps

BOX = {"id": "b", "type": "videorectangle", "from_name": "box", "to_name": "video",
       "value": {"labels": ["Object"], "sequence": [{"frame": 1, "x": 10, "y": 10, "width": 30, "height": 30}]}}


def track(client, ref: str):
    body = {"tasks": [{"id": 1, "data": {"video": ref}}],
            "label_config": load_config("video_boxes").render(["Object"]),
            "params": {"context": {"result": [BOX]}}}
    return client.post("/predict", json=body)


def test_a_video_whose_name_ends_in_a_long_dotted_word_is_tracked(client, images):
    # What follows the last dot made the temporary copy's name too long to create: a 500.
    frames, _ = disk_clip(6, step=3)
    path = write_video(images / "disk.mp4", frames).rename(images / ("v." + "x" * 250))  # 252: a valid name
    resp = track(client, str(path))
    assert resp.status_code == 200, resp.get_json()
    (region,) = resp.get_json()["results"][0]["result"]
    assert len(region["value"]["sequence"]) == 6


def test_a_data_uri_video_with_a_long_dotted_word_is_refused_as_no_video_not_a_500(client):
    resp = track(client, "data:video/mp4,abc." + "x" * 300)
    assert resp.status_code == 422
    assert resp.get_json()["error"].startswith("the task's data: URI: not a video")


@pytest.mark.parametrize(("content", "said"), [
    (b"", "empty file (0 bytes)"),
    (b"\x00" * 1000, "not a video, or truncated/corrupt beyond reading"),
], ids=["empty", "junk"])
def test_a_video_that_cannot_be_read_is_named_as_the_task_names_it(client, images, content, said):
    path = images / "clip.mp4"
    path.write_bytes(content)
    resp = track(client, str(path))
    assert resp.status_code == 422
    assert resp.get_json()["error"].startswith(f"{path}: {said}")


def test_the_video_of_an_error_is_renamed_keeping_its_kind_and_the_rest_of_its_message():
    with pytest.raises(UntrustedTimestamps) as raised, named_as("https://cdn.example/v.mkv?sig=s3cret", "/tmp/tmpab.mkv"):
        raise UntrustedTimestamps("/tmp/tmpab.mkv: stream has no timestamps; remux it to MP4 or MKV first")
    assert raised.value.message == "https://cdn.example/v.mkv: stream has no timestamps; remux it to MP4 or MKV first"
    with pytest.raises(VideoError, match="^/videos/a.mp4: empty file"), named_as("/videos/a.mp4", "/tmp/tmpcd.mp4"):
        raise VideoError("/tmp/tmpcd.mp4: empty file (0 bytes)")
