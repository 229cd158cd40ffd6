"""A task's frame index past any video samvid reads (``propagation.MAX_FRAME``, what the
webhook accepts) is a ``bad_task``: its file name, all its digits, could pass the 255
bytes a file system allows a name, and stop the whole export."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from export_studio import CONFIG, rect, region

from samvid.export import FORMATS, export
from samvid.export.frames import Problems
from samvid.export.reader import ProjectReader
from samvid.propagation import MAX_FRAME
from samvid.studio.client import Project


class StoredFrames:
    """Label Studio answering tasks of clip "c" with frame values ``frames``, one car each."""

    url = "http://127.0.0.1:9"
    api_key = "token"

    def __init__(self, frames: list) -> None:
        self.frames = frames

    def project(self, value):
        return Project(1, "frame bound", CONFIG)

    def task_rows(self, project_id, query=None):
        return [{"id": i + 1, "data": {"clip": "c", "frame": frame, "image": f"/data/{i}.png"},
                 "total_annotations": 1, "total_predictions": 0} for i, frame in enumerate(self.frames)]

    def list_annotations(self, task_id):
        return [SimpleNamespace(id=task_id, result=region(rect(0, 0, 5, 5), "car", 1), was_cancelled=False,
                                updated_at="2026-01-01", created_at="2026-01-01")]

    def list_predictions(self, task_id):
        return []


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_frame_past_the_last_frame_samvid_reads_is_a_bad_task_and_the_rest_is_exported(fmt, tmp_path):
    problems = Problems()
    reader = ProjectReader(StoredFrames([0, 1e300, "9" * 252, MAX_FRAME + 1, MAX_FRAME]), 1,
                           problems=problems)
    export(reader, FORMATS[fmt][0](tmp_path, reader.categories, problems))
    assert [f.frame for f in FORMATS[fmt][1](tmp_path)] == [0, MAX_FRAME]
    assert [(p.kind, p.task_id) for p in problems.items] == [("bad_task", 2), ("bad_task", 3), ("bad_task", 4)]
    assert all(f"past {MAX_FRAME}" in p.message and len(p.message) < 200 for p in problems.items)
