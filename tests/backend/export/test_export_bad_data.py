"""Bad data in a real project: a clear message per item, and the rest is exported."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from export_studio import H, W, disk, rect, region
from services import free_port

from samvid.cli import main
from samvid.export import davis, export
from samvid.export.frames import Problems
from samvid.export.images import ImageFetcher
from samvid.export.reader import ProjectReader
from samvid.studio.results import brush_result

pytestmark = pytest.mark.studio


@pytest.fixture(scope="module")
def bad_project(studio_project):
    """Clip "bad": frame 0 good; each later frame holds one kind of bad data and a good car."""
    p = studio_project
    project = p.new_project("export bad data")
    good = {f: disk(12 + f, 20, 6) for f in range(6)}

    def task(frame, image=None):
        url = image if image is not None else p.image(f"bad/{frame:05d}.png", 300 + frame)
        return p.task(project, "bad", frame, url)

    def annotate(task_id, frame, extra):
        p.client.annotations.create(id=task_id, result=region(good[frame], "car", 1) + extra)

    annotate(task(0), 0, [])
    # 1: the image is gone (404 from Label Studio)
    annotate(task(1, image="/data/local-files/?d=" + f"{p.folder.name}/bad/missing.png"), 1, [])
    # 2: a label that is not in the config
    annotate(task(2), 2, region(rect(40, 30, 60, 44), "dog", 2))
    # 3: an RLE of 32x48 pixels that claims 64x48, and a whole mask of another size
    wrong = brush_result(np.ones((H, W // 2), bool), from_name="mask", to_name="image",
                         labels=["car"])
    wrong["original_width"] = W
    small = brush_result(np.ones((H // 2, W // 2), bool), from_name="mask", to_name="image",
                         labels=["person"])
    annotate(task(3), 3, [wrong, small])
    # 4: two regions claim object id 1 (the good car is the first)
    annotate(task(4), 4, region(rect(40, 30, 60, 44), "person", 1))
    # 5: a task without a frame index
    p.client.tasks.create(project=project, data={"image": "x", "clip": "bad"})
    return project, good


def read_all(studio_project, project, **kwargs):
    problems = Problems()
    reader = ProjectReader(
        studio_project.studio, project,
        fetcher=ImageFetcher(studio_project.url, studio_project.token), problems=problems,
        **kwargs,
    )
    frames = {f.frame: f for clip in reader.clips() for f in reader.frames(clip)}
    return frames, problems


def test_each_bad_item_is_reported_and_skipped(studio_project, bad_project, caplog):
    project, good = bad_project
    with caplog.at_level(logging.WARNING, logger="samvid.export"):
        frames, problems = read_all(studio_project, project)
    assert problems.counts() == {
        "missing_image": 1, "unknown_label": 1, "size_mismatch": 2,
        "duplicate_object_id": 1, "bad_task": 1,
    }
    # Everything else arrives: every frame but the one without its image, good car intact.
    assert sorted(frames) == [0, 2, 3, 4]
    for f, frame in frames.items():
        assert frame.object_ids == (1,)
        assert frame.labels == ("car",)
        assert np.array_equal(frame.masks.mask_of(1), good[f])
    text = caplog.text
    assert "answered HTTP 404" in text
    assert "label 'dog', not one of ['car', 'person']" in text
    assert "brush RLE holds 1536 pixels, but the image is 64x48" in text
    assert "is 32x24, the image is 64x48" in text
    assert "both claim object id 1" in text
    assert "lacks 'clip' (or 'video') or an integer 'frame'" in text


def test_the_command_goes_on_past_bad_data(studio_project, bad_project, tmp_path, caplog):
    argv = ["export", "--project", "export bad data", "--format", "davis", str(tmp_path),
            "--url", studio_project.url, "--api-key", studio_project.token]
    assert main(argv) == 0
    assert [f.frame for f in davis.load(tmp_path)] == [0, 2, 3, 4]
    assert "1 x duplicate_object_id" in caplog.text


def test_no_images_still_needs_an_image_url(studio_project, bad_project):
    project, _ = bad_project
    problems = Problems()
    reader = ProjectReader(studio_project.studio, project, problems=problems)
    frames = {f.frame for c in reader.clips() for f in reader.frames(c)}
    assert frames == {0, 1, 2, 3, 4}  # not fetched, so the missing file goes unnoticed
    assert "missing_image" not in problems.counts()


def test_unknown_project_missing_token_and_used_folder_are_one_line_errors(studio_project, tmp_path, capsys):
    base = ["export", "--format", "coco", str(tmp_path), "--url", studio_project.url]
    assert main([*base, "--project", "no such project", "--api-key", studio_project.token]) == 2
    assert "no project titled 'no such project'" in capsys.readouterr().err
    assert main([*base, "--project", "1", "--api-key", ""]) == 2
    assert "LABEL_STUDIO_API_KEY" in capsys.readouterr().err
    assert main([*base, "--project", "1", "--api-key", "0" * 40]) == 2
    assert "refused the API key (401)" in capsys.readouterr().err
    closed = ["--url", f"http://127.0.0.1:{free_port()}"]
    assert main([*base, *closed, "--project", "1", "--api-key", studio_project.token]) == 2
    assert "cannot reach Label Studio" in capsys.readouterr().err
    (tmp_path / "old.json").write_text("{}")
    assert main([*base, "--project", "1", "--api-key", studio_project.token]) == 2
    assert "is not empty: choose a new folder or pass --overwrite" in capsys.readouterr().err


def test_summary_counts(studio_project, bad_project, tmp_path):
    project, _ = bad_project
    problems = Problems()
    reader = ProjectReader(studio_project.studio, project, problems=problems)
    summary = export(reader, davis.DavisWriter(tmp_path, reader.categories, problems))
    assert (summary.clips, summary.frames, summary.objects) == (1, 5, 1)
    assert summary.problems["bad_task"] == 1


def test_without_images_a_region_claiming_a_huge_image_is_reported_not_allocated():
    # `export --no-images` sizes a frame by its regions' claim: the bound is the image
    # limit then, not the claim itself (100000^2 px tried to allocate 9.3 GiB).
    from samvid.export.identity import ClipRegions, Region
    from samvid.export.reader import ClipInfo, ProjectReader, TaskRef

    side = 100_000
    result = {"type": "polygonlabels", "original_width": side, "original_height": side,
              "value": {"points": [[0, 0], [100, 0], [100, 100], [0, 100]], "polygonlabels": ["car"]}}
    drawn = Region("r1", "car", result, 1, 1.0, side, side)
    reader = ProjectReader.__new__(ProjectReader)
    reader.problems = Problems()
    frame = reader._decode(ClipInfo("c", "v"), TaskRef(1, 0, 0.0, "http://ls/x.jpg"), [drawn],
                           "annotation", ClipRegions([[drawn]]), None)
    # Nothing vouches for the frame's size but that claim: the frame goes, with its region.
    assert frame is None
    assert [p.kind for p in reader.problems.items] == ["missing_image"]
