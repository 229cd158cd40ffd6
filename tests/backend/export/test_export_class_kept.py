"""An object's class in a clip comes only from what the export writes: its label on its
latest human-annotated frame among the regions and frames exported. A frame left out (its
image gone, or YouTube-VIS's frame of another size) or a region skipped (unreadable) says
nothing of it, and no frame is reported as ``label_changed`` against it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from export_studio import CONFIG, H, W, rect, region

from samvid.export import FORMATS, export
from samvid.export.frames import Problems
from samvid.export.images import Image, ImageUnavailable
from samvid.export.reader import ProjectReader
from samvid.studio.client import Project
from samvid.studio.results import brush_result


class StoredClip:
    """Label Studio answering one clip "c": frame ``i`` is task ``i + 1`` with one human
    annotation ``results[i]`` and the image ``images[i]``."""

    url = "http://127.0.0.1:9"
    api_key = "token"

    def __init__(self, results: list[list[dict]], images: list[str]) -> None:
        self.results, self.images = results, images

    def project(self, value):
        return Project(1, "class kept", CONFIG)

    def task_rows(self, project_id, query=None):
        return [{"id": i + 1, "data": {"clip": "c", "frame": i, "image": image},
                 "total_annotations": 1, "total_predictions": 0} for i, image in enumerate(self.images)]

    def list_annotations(self, task_id):
        return [SimpleNamespace(id=task_id, result=self.results[task_id - 1], was_cancelled=False,
                                updated_at="2026-01-01", created_at="2026-01-01")]

    def list_predictions(self, task_id):
        return []


class SizedImages:
    """Images named ``/<width>x<height>.png`` (a query after it is free); ``/gone.png``
    cannot be fetched."""

    def __init__(self) -> None:
        self.fetched: list[str] = []

    def fetch(self, url: str, task_id: int | None = None) -> Image:
        self.fetched.append(url)
        if url == "/gone.png":
            raise ImageUnavailable(f"image {url!r}: 404 Not Found")
        width, height = map(int, url.strip("/").partition(".png")[0].split("x"))
        ok, data = cv2.imencode(".png", np.zeros((height, width, 3), np.uint8))
        return Image(data.tobytes(), ".png", height, width)


FRAME = f"/{W}x{H}.png"


def exported(fmt: str, results: list[list[dict]], images: list[str], out: Path) -> tuple[list, Problems]:
    """The frames the export in ``fmt`` gives back, and its problems."""
    problems = Problems()
    reader = ProjectReader(StoredClip(results, images), 1, fetcher=SizedImages(), problems=problems)
    export(reader, FORMATS[fmt][0](out, reader.categories, problems))
    return [(f.frame, f.object_ids, f.labels) for f in FORMATS[fmt][1](out)], problems


def small(label: str) -> list[dict]:
    """A region of object 1 drawn on a 40x30 image."""
    mask = np.zeros((30, 40), bool)
    mask[0:5, 0:5] = True
    brush = brush_result(mask, from_name="mask", to_name="image", labels=[label])
    return [brush, {"id": brush["id"], "from_name": "object_id", "to_name": "image", "type": "number",
                    "value": {"number": 1}}]


def unreadable(label: str) -> list[dict]:
    """A region of object 1 whose brush RLE was cut short."""
    result = region(rect(0, 0, 5, 5), label, 1)
    result[0]["value"]["rle"] = result[0]["value"]["rle"][:4]
    return result


def test_a_class_seen_only_on_a_frame_youtube_vis_leaves_out_for_its_size_is_not_the_objects_class(tmp_path):
    results = [region(rect(0, 0, 5, 5), "car", 1), region(rect(1, 0, 6, 5), "car", 1), small("person")]
    frames, problems = exported("ytvis", results, [FRAME, FRAME, "/40x30.png"], tmp_path)
    assert frames == [(0, (1,), ("car",)), (1, (1,), ("car",))]
    assert problems.counts() == {"size_mismatch": 1}  # no label_changed against "person"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_class_seen_only_on_a_frame_whose_image_is_gone_is_not_the_objects_class(fmt, tmp_path):
    results = [region(rect(0, 0, 5, 5), "car", 1), region(rect(1, 0, 6, 5), "car", 1),
               region(rect(2, 0, 7, 5), "person", 1)]
    frames, problems = exported(fmt, results, [FRAME, FRAME, "/gone.png"], tmp_path)
    assert frames == [(0, (1,), ("car",)), (1, (1,), ("car",))]
    assert problems.counts() == {"missing_image": 1}  # once: not again for looking ahead


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_class_seen_only_on_a_region_that_cannot_be_decoded_is_not_the_objects_class(fmt, tmp_path):
    results = [region(rect(0, 0, 5, 5), "car", 1), region(rect(1, 0, 6, 5), "car", 1), unreadable("person")]
    frames, problems = exported(fmt, results, [FRAME] * 3, tmp_path)
    assert [f for f in frames if f[1]] == [(0, (1,), ("car",)), (1, (1,), ("car",))]
    assert problems.counts() == {"bad_region": 1}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_the_class_on_the_latest_frame_written_still_wins_and_earlier_frames_are_reported(fmt, tmp_path):
    # Frame 3 says "person" and is written: frames 0 and 1 say "car" and are reported; frame
    # 2's "person" region cannot be read, frame 4's image is gone.
    results = [region(rect(0, 0, 5, 5), "car", 1), region(rect(1, 0, 6, 5), "car", 1),
               unreadable("car"), region(rect(3, 0, 8, 5), "person", 1), region(rect(4, 0, 9, 5), "car", 1)]
    frames, problems = exported(fmt, results, [FRAME] * 4 + ["/gone.png"], tmp_path)
    assert [f for f in frames if f[1]] == [(f, (1,), ("person",)) for f in (0, 1, 3)]
    assert sorted((p.kind, p.frame) for p in problems.items) == [
        ("bad_region", 2), ("label_changed", 0), ("label_changed", 1), ("missing_image", 4)]
    changed = next(p for p in problems.items if p.kind == "label_changed")
    assert "is 'car' here but 'person'" in changed.message


def test_a_frame_that_decides_no_changing_class_is_fetched_once(tmp_path):
    # Object 2 changes class, so its latest frame is looked at ahead; frame 0 decides nothing.
    results = [region(rect(0, 0, 5, 5), "car", 1) + region(rect(20, 20, 30, 30), "person", 2),
               region(rect(1, 0, 6, 5), "car", 1) + region(rect(21, 20, 31, 30), "car", 2)]
    fetcher = SizedImages()
    problems = Problems()
    reader = ProjectReader(StoredClip(results, ["/64x48.png?0", "/64x48.png?1"]), 1, fetcher=fetcher,
                           problems=problems)
    [info] = reader.clips()
    assert [f.labels for f in reader.frames(info)] == [("car", "car")] * 2
    assert fetcher.fetched.count("/64x48.png?0") == 1


def test_images_that_cannot_be_had_are_looked_at_ahead_a_few_times_not_once_per_frame(tmp_path):
    # A media host down: each frame of an object whose class changes was fetched one by one
    # (each its timeout) before the first frame was written, then again with the others.
    results = [region(rect(0, 0, 5, 5), "car" if k % 2 else "person", 1) for k in range(40)]
    fetcher = SizedImages()
    reader = ProjectReader(StoredClip(results, ["/gone.png"] * 40), 1, fetcher=fetcher, problems=Problems(),
                           workers=4)
    [info] = reader.clips()
    assert list(reader.frames(info)) == []
    assert len(fetcher.fetched) <= 40 + 4


def no_area(label: str) -> list[dict]:
    """A polygon of object 1 whose points lie on one line: it covers no pixel."""
    polygon = {"id": "p", "from_name": "outline", "to_name": "image", "type": "polygonlabels",
               "original_width": W, "original_height": H,
               "value": {"points": [[10, 10], [20, 20], [30, 30]], "polygonlabels": [label]}}
    return [polygon, {"id": "p", "from_name": "object_id", "to_name": "image", "type": "number",
                      "value": {"number": 1}}]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_class_seen_only_on_a_polygon_with_no_area_is_not_the_objects_class(fmt, tmp_path):
    results = [region(rect(0, 0, 5, 5), "car", 1), region(rect(1, 0, 6, 5), "car", 1), no_area("person")]
    frames, problems = exported(fmt, results, [FRAME] * 3, tmp_path)
    assert [f for f in frames if f[1]] == [(0, (1,), ("car",)), (1, (1,), ("car",))]
    assert problems.counts() == {"bad_region": 1}  # no label_changed against "person"


def covering_no_pixel(label: str, kind: str) -> list[dict]:
    """A region of object 1 whose mask covers no pixel: a triangle inside one pixel that holds
    none of its centre, or a brush left empty. No format writes it."""
    if kind == "brush":
        return region(np.zeros((H, W), bool), label, 1)
    polygon = {"id": "p", "from_name": "outline", "to_name": "image", "type": "polygonlabels",
               "original_width": W, "original_height": H,
               "value": {"points": [[0.1, 0.1], [0.5, 0.1], [0.1, 0.5]], "polygonlabels": [label]}}
    return [polygon, {"id": "p", "from_name": "object_id", "to_name": "image", "type": "number",
                      "value": {"number": 1}}]


@pytest.mark.parametrize("kind", ["brush", "polygon"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_class_seen_only_where_the_objects_mask_covers_no_pixel_is_not_the_objects_class(
        fmt, kind, tmp_path):
    results = [region(rect(0, 0, 5, 5), "car", 1), region(rect(1, 0, 6, 5), "car", 1),
               covering_no_pixel("person", kind)]
    frames, problems = exported(fmt, results, [FRAME] * 3, tmp_path)
    assert [f for f in frames if f[1]] == [(0, (1,), ("car",)), (1, (1,), ("car",))]
    assert "label_changed" not in problems.counts()
