"""Which task a frame exports when a clip has two tasks for one frame (a clip imported
twice), against a real Label Studio."""

from __future__ import annotations

import pytest
from export_studio import rect, region

from samvid.export.frames import Problems
from samvid.export.images import ImageFetcher
from samvid.export.reader import ProjectReader

pytestmark = pytest.mark.studio


def test_duplicate_frame_tasks_keep_the_annotated_one(studio_project):
    p = studio_project
    project = p.new_project("export duplicate tasks")
    car = rect(5, 5, 20, 20)
    ids = {}
    for seed, (name, frame) in enumerate([("empty", 0), ("predicted", 0), ("annotated", 0),
                                          ("empty", 1), ("predicted", 1),
                                          ("annotated", 2), ("annotated again", 2)]):
        ids[name, frame] = p.task(project, "c", frame, p.image(f"duplicates/{seed}.png", 500 + seed))
    for key, task in ids.items():
        if key[0] == "predicted":
            p.client.predictions.create(task=task, result=region(car, "car", 1), model_version="samvid-1")
        elif key[0].startswith("annotated"):
            p.client.annotations.create(id=task, result=region(car, "car", 1))
    problems = Problems()
    reader = ProjectReader(p.studio, project, fetcher=ImageFetcher(p.url, p.token), fill=True,
                           problems=problems)
    (clip,) = reader.clips()
    # Annotated beats predicted beats empty; between equals, the first imported.
    kept = [ids["annotated", 0], ids["predicted", 1], ids["annotated", 2]]
    assert [t.task_id for t in clip.tasks] == kept
    dropped = sorted(set(ids.values()) - set(kept))
    assert sorted(item.task_id for item in problems.items if item.kind == "bad_task") == dropped
    frames = list(reader.frames(clip))
    assert [(f.frame, f.task_id, f.source) for f in frames] == [
        (0, kept[0], "annotation"), (1, kept[1], "prediction"), (2, kept[2], "annotation")]
