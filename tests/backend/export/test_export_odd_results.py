"""Odd imported results in the export (hand-edited JSON, other tools' output): each is
reported or read as well as it can be, and none stops the export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from export_studio import CONFIG, H, StoredProject, W, disk, region
from label_configs import SEPARATE

from samvid.export import FORMATS, export
from samvid.export.frames import Problems
from samvid.export.identity import parse_regions
from samvid.export.images import image_extension
from samvid.export.reader import ProjectReader, ProjectSchema
from samvid.studio.protocol import parse_config
from samvid.studio.results import mask_regions, polygon_result

# A plain <Brush> and <Labels> on the tracked image, and a scribble pad no mask control labels.
WITH_PAD = """<View>
  <Image name="image" value="$image"/>
  <Brush name="brush" toName="image"/>
  <Labels name="labels" toName="image"><Label value="Car"/><Label value="Person"/></Labels>
  <Image name="pad" value="$pad"/>
</View>"""


def separate_car(region_id: str) -> list[dict]:
    """A Car disk as Label Studio's editor saves it in the separate form: brush, labels twin."""
    return mask_regions(disk(20, 20, 6), parse_config(SEPARATE), ["Car"], region_id=region_id)


@pytest.mark.parametrize("kind", ["brush", "labels"])
@pytest.mark.parametrize("field", ["to_name", "item_index"])
def test_a_separate_form_region_with_a_list_for_its_image_or_page_does_not_stop_the_export(
        kind, field, tmp_path: Path):
    brush, twin = separate_car("odd")
    odd = [{**r, field: ["image"]} if r["type"] == kind else r for r in (brush, twin)]
    tasks = [({"clip": "c", "frame": 0, "image": "/d/0.jpg"}, separate_car("good")),
             ({"clip": "c", "frame": 1, "image": "/d/1.jpg"}, [*separate_car("good"), *odd])]
    problems = Problems()
    reader = ProjectReader(StoredProject(tasks, SEPARATE), 1, problems=problems)
    summary = export(reader, FORMATS["coco"][0](tmp_path, reader.categories, problems))
    assert summary.frames == 2 and summary.objects >= 1


@pytest.mark.parametrize("brush_id, twin_id", [(1, "1"), ("1", 1), (1, 1)])
def test_a_labelled_brush_on_an_image_no_mask_control_labels_is_told_when_its_ids_match_as_text(
        brush_id, twin_id):
    # The same pair is one labelled region on the tracked image (joined_labels reads ids as
    # text); on the pad it must be told, not dropped as an unlabelled scribble.
    brush, twin = mask_regions(disk(20, 20, 6), parse_config(WITH_PAD), ["Car"], region_id="x")
    result = [{**brush, "id": brush_id, "to_name": "pad"}, {**twin, "id": twin_id, "to_name": "pad"}]
    problems = Problems()
    assert parse_regions(result, ProjectSchema.from_config(WITH_PAD), problems) == []
    assert [item.kind for item in problems.items] == ["no_mask_control"]


@pytest.mark.parametrize("url, ext", [("http://[x/a.png", ".png"), ("http://[x]/a", ".jpg")])
def test_a_malformed_image_url_still_names_the_frame_without_images(url, ext):
    assert image_extension(url) == ext


@pytest.mark.parametrize("points", [[], [[10, 10]], [[10, 10], [60, 60]]])
def test_a_polygon_of_fewer_than_3_points_is_reported_once_as_a_bad_region(points):
    mask = np.zeros((H, W), bool)
    mask[10:30, 10:30] = True
    polygon = polygon_result(mask, from_name="outline", to_name="image", labels=["person"], region_id="p")
    assert polygon is not None
    (good,) = region(disk(40, 30, 5), "car")
    problems = Problems()
    read = parse_regions([{**polygon, "value": {**polygon["value"], "points": points}}, good],
                         ProjectSchema.from_config(CONFIG), problems)
    assert [r.label for r in read] == ["car"]
    ((kind, message),) = [(item.kind, item.message) for item in problems.items]
    assert kind == "bad_region" and "fewer than 3 points" in message and "redraw" in message


@pytest.mark.parametrize("points", [
    [[10, 10], [20, 20], [30, 30]],  # on one slanted line
    [[50, 50]] * 4,  # one point, repeated
    [[10, 10], [60, 10], [30, 10], [45, 10]],  # back and forth along one row
    [[10.1, 20.2], [20.2, 40.4], [30.3, 60.6]],  # on one line, as decimals round it
])
def test_a_polygon_whose_points_all_lie_on_one_line_is_reported_once_as_a_bad_region(points):
    # It decodes to no pixel and vanished from every format without a word.
    (good,) = region(disk(40, 30, 5), "car")
    polygon = {"id": "p", "from_name": "outline", "to_name": "image", "type": "polygonlabels",
               "original_width": W, "original_height": H,
               "value": {"points": points, "polygonlabels": ["person"]}}
    problems = Problems()
    read = parse_regions([polygon, good], ProjectSchema.from_config(CONFIG), problems)
    assert [r.label for r in read] == ["car"]
    ((kind, message),) = [(item.kind, item.message) for item in problems.items]
    assert kind == "bad_region" and "region p" in message and "no area" in message and "redraw" in message


def test_a_thin_polygon_with_an_area_is_exported_not_reported():
    polygon = {"id": "p", "from_name": "outline", "to_name": "image", "type": "polygonlabels",
               "original_width": W, "original_height": H,
               "value": {"points": [[0, 0], [100, 0], [100, 5]], "polygonlabels": ["person"]}}
    problems = Problems()
    (read,) = parse_regions([polygon], ProjectSchema.from_config(CONFIG), problems)
    assert read.label == "person" and not problems
