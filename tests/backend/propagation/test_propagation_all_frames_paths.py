"""A job with ``all_frames`` reads the clip's source video from the path in its tasks'
data ('video'): a path no file can have, or one outside the local roots, fails the job
with a message saying what to fix, never with a traceback. In memory: no Label Studio."""

from __future__ import annotations

from pathlib import Path

import pytest
from memory_clip import Context, box_region, memory_clip

from samvid.errors import ForbiddenSource, ImageError
from samvid.images import ImageSource
from samvid.propagation import PropagationRequest, Propagator


def _from_video(video: str, root: Path) -> Propagator:
    """A propagator over a clip of three frame tasks whose source video is ``video``, which
    may be read under ``root``."""
    propagator, _ = memory_clip({0: [box_region()]}, 3)
    rows = propagator.clip_tasks(1, "c")
    propagator.clip_tasks = lambda project, clip, waited_for=False: [
        {**t, "data": {**t["data"], "video": video}} for t in rows]
    del propagator._span  # the real one: it opens the source video
    propagator.images = ImageSource("http://127.0.0.1:9", local_roots=(root,))
    return propagator


@pytest.mark.parametrize(("video", "said"), [
    ("~nosuchuser-samvid/v.mp4", "cannot read ~nosuchuser-samvid/v.mp4"),
    ("{root}/v\0.mp4", "the video path .* contains a NUL byte; fix it in the task"),
    ("{root}/loop/v.mp4", "cannot read .*loop/v.mp4"),
])
def test_a_source_video_path_no_file_can_have_fails_the_job_saying_so(tmp_path, video, said):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    propagator = _from_video(video.format(root=tmp_path), tmp_path)
    with pytest.raises(ImageError, match=said):
        propagator.run(PropagationRequest(1, "c", 0, all_frames=True), Context())


def test_a_source_video_outside_the_local_roots_asks_for_its_folder_in_them(tmp_path):
    propagator = _from_video("/etc/v.mp4", tmp_path)
    with pytest.raises(ForbiddenSource, match="add its folder to SAMVID_LOCAL_ROOTS to propagate through all"):
        propagator.run(PropagationRequest(1, "c", 0, all_frames=True), Context())
