"""Per-region attributes (labeling_configs/attributes.xml) made in a real Label Studio
come back per object per frame from the formats that can hold them (COCO, YouTube-VIS).

The project: one clip "street" of three frames, objects 1 (car) and 2 (person), each
region with its object id and some of the config's per-region attributes (Choices
occluded/truncated, TextArea note) saved as separate results sharing the region's id,
as Label Studio saves them. Frame 2 is only a samvid prediction (``--fill``), as
propagation writes it: the attributes copied to the propagated regions.
"""

from __future__ import annotations

import json
import secrets

import numpy as np
import pytest
from export_studio import Project, disk, rect

from samvid.cli import main
from samvid.export import FORMATS
from samvid.export.frames import ExportFrame, Problems, frame_masks
from samvid.export.identity import parse_regions
from samvid.export.reader import ProjectSchema
from samvid.studio.configs import load_config
from samvid.studio.results import brush_result

H, W = 48, 64
CLIP = "street"


def region(mask: np.ndarray, label: str, object_id: int, region_id: str, *,
           choices: list[str] | None = None, note: list[str] | None = None) -> list[dict]:
    """A brush region with its per-region results, shaped as Label Studio saves them."""
    brush = brush_result(mask, from_name="mask", to_name="image", labels=[label],
                         region_id=region_id)
    brush["origin"] = "manual"
    common = {"id": region_id, "to_name": "image", "original_width": W,
              "original_height": H, "image_rotation": 0}
    result = [brush, {**common, "from_name": "object_id", "type": "number",
                      "value": {"number": object_id}}]
    if choices is not None:  # Label Studio saves no Choices result when nothing is ticked
        result.append({**common, "from_name": "attributes", "type": "choices",
                       "value": {"choices": choices}})
    if note is not None:
        result.append({**common, "from_name": "note", "type": "textarea",
                       "value": {"text": note}})
    return result


# (frame, object id) -> (label, mask, region id, choices, note, expected attributes)
OBJECTS = {
    (0, 1): ("car", rect(4, 6, 20, 20), "car-0", ["occluded"], ["behind the pole"],
             {"attributes": ["occluded"], "note": "behind the pole"}),
    (0, 2): ("person", disk(44, 32, 9), "walker", ["truncated"], None,
             {"attributes": ["truncated"]}),
    (1, 1): ("car", rect(8, 6, 24, 20), "car-1", None, None, {}),
    (1, 2): ("person", disk(42, 32, 9), "walker", ["occluded", "truncated"],
             ["half hidden", "by the car"],
             {"attributes": ["occluded", "truncated"], "note": "half hidden\nby the car"}),
    (2, 1): ("car", rect(12, 6, 28, 20), "car-2", None, ["parked"], {"note": "parked"}),
    (2, 2): ("person", disk(40, 32, 9), "walker", ["occluded", "truncated"],
             ["half hidden", "by the car"],
             {"attributes": ["occluded", "truncated"], "note": "half hidden\nby the car"}),
}
PREDICTED = {2}


@pytest.fixture(scope="module")
def attributes_project(label_studio) -> Project:
    folder = label_studio.files_root / f"export-attributes-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    p = Project(0, label_studio.url, label_studio.token, label_studio.client(), folder)
    p.id = p.new_project("export attributes",
                         load_config("attributes").render(["car", "person"]))
    for f in (0, 1, 2):
        task = p.task(p.id, CLIP, f, p.image(f"{CLIP}/{f:05d}.png", 200 + f))
        result = []
        for (frame, object_id), (label, mask, region_id, choices, note, _) in OBJECTS.items():
            if frame == f:
                result += region(mask, label, object_id, region_id, choices=choices, note=note)
        if f in PREDICTED:
            p.client.predictions.create(task=task, result=result, model_version="samvid-0.1",
                                        score=0.8)
        else:
            p.client.annotations.create(id=task, result=result)
    return p


def run_export(project: Project, fmt: str, out, *extra: str) -> None:
    argv = ["export", "--project", str(project.id), "--format", fmt, str(out),
            "--url", project.url, "--api-key", project.token, "--no-images", *extra]
    assert main(argv) == 0


def loaded(fmt: str, out) -> dict:
    """{(frame, object_id): (label, mask, attributes)} of an export."""
    got = {}
    for f in FORMATS[fmt][1](out):
        assert f.clip == CLIP
        assert len(f.attributes) == len(f.labels)
        for i, object_id in enumerate(f.object_ids):
            got[(f.frame, object_id)] = (f.labels[i], f.masks.masks[i], f.attributes[i])
    return got


@pytest.mark.studio
@pytest.mark.parametrize("fmt", ["coco", "ytvis"])
@pytest.mark.parametrize("fill", [False, True], ids=["annotations", "fill"])
def test_attributes_come_back_per_object_per_frame(attributes_project, tmp_path, fmt, fill):
    out = tmp_path / fmt
    run_export(attributes_project, fmt, out, *(["--fill"] if fill else []))
    expected = {k: v for k, v in OBJECTS.items() if fill or k[0] not in PREDICTED}
    got = loaded(fmt, out)
    assert sorted(got) == sorted(expected)
    for key, (label, mask, _, _, _, attributes) in expected.items():
        got_label, got_mask, got_attributes = got[key]
        assert got_label == label, key
        assert np.array_equal(got_mask, mask), key
        assert got_attributes == attributes, key  # object_id is the track id, not an attribute


@pytest.mark.studio
def test_coco_annotations_carry_an_attributes_object(attributes_project, tmp_path):
    run_export(attributes_project, "coco", tmp_path)
    document = json.loads((tmp_path / "annotations.json").read_text())
    frame_of = {im["id"]: im["frame"] for im in document["images"]}
    by_key = {(frame_of[a["image_id"]], a["track_id"]): a for a in document["annotations"]}
    assert by_key[(0, 1)]["attributes"] == {"attributes": ["occluded"], "note": "behind the pole"}
    assert by_key[(1, 1)]["attributes"] == {}  # always present, empty when none


@pytest.mark.studio
def test_ytvis_attributes_run_parallel_to_segmentations(attributes_project, tmp_path):
    run_export(attributes_project, "ytvis", tmp_path, "--fill")
    document = json.loads((tmp_path / "annotations.json").read_text())
    (video,) = document["videos"]
    assert video["frames"] == [0, 1, 2]
    by_object = {a["object_id"]: a for a in document["annotations"]}
    car = by_object[1]
    assert len(car["attributes"]) == len(car["segmentations"]) == 3
    assert car["attributes"] == [{"attributes": ["occluded"], "note": "behind the pole"}, {},
                                 {"note": "parked"}]


# Without Label Studio: what a region's per-region results become.

CONFIG = """<View>
  <Image name="image" value="$image"/>
  <BrushLabels name="mask" toName="image"><Label value="car"/></BrushLabels>
  <Number name="object_id" toName="image" perRegion="true" min="1"/>
  <Number name="depth" toName="image" perRegion="true"/>
  <Rating name="quality" toName="image" perRegion="true"/>
  <Choices name="weather" toName="image"><Choice value="rain"/></Choices>
</View>"""


def test_parse_regions_reads_numbers_ratings_and_skips_the_object_id():
    schema = ProjectSchema.from_config(CONFIG)
    brush = brush_result(rect(0, 0, 5, 5), from_name="mask", to_name="image", labels=["car"],
                         region_id="r")
    other = brush_result(rect(9, 9, 15, 15), from_name="mask", to_name="image", labels=["car"],
                         region_id="s")
    result = [
        brush, other,
        {"id": "r", "from_name": "object_id", "type": "number", "value": {"number": 4}},
        {"id": "r", "from_name": "depth", "type": "number", "value": {"number": 2.5}},
        {"id": "r", "from_name": "quality", "type": "rating", "value": {"rating": 3}},
        {"id": "r", "from_name": "note", "type": "textarea", "value": {"text": ["only"]}},
        # a whole-image classification has an id of its own: no region's attribute
        {"id": "w", "from_name": "weather", "type": "choices", "value": {"choices": ["rain"]}},
    ]
    problems = Problems()
    regions = {r.region_id: r for r in parse_regions(result, schema, problems)}
    assert not problems.items
    assert regions["r"].explicit_id == 4
    assert regions["r"].attributes == {"depth": 2.5, "quality": 3, "note": "only"}
    assert regions["s"].attributes == {}


def test_the_shared_smart_rows_labels_twin_is_neither_a_region_nor_an_attribute():
    """The shipped configs' smart row makes Label Studio save each accepted region twice:
    as ``brushlabels`` and as a ``labels`` twin (same id, same RLE)."""
    schema = ProjectSchema.from_config(CONFIG.replace(
        "<View>", '<View><Labels name="smart" toName="image"><Label value="car"/></Labels>', 1))
    brush = brush_result(rect(0, 0, 5, 5), from_name="mask", to_name="image", labels=["car"],
                         region_id="r")
    twin = {**brush, "from_name": "smart", "type": "labels",
            "value": {"format": "rle", "rle": brush["value"]["rle"], "labels": ["car"]}}
    problems = Problems()
    (region,) = parse_regions([brush, twin], schema, problems)
    assert not problems.items
    assert region.region_id == "r" and region.attributes == {}


def test_frames_without_attributes_get_empty_dicts():
    masks = frame_masks(0, H, W, [(1, rect(0, 0, 5, 5), 1.0), (2, disk(30, 30, 5), 1.0)])
    frame = ExportFrame(CLIP, 0, masks, ("car", "car"))
    assert frame.attributes == ({}, {})
    with pytest.raises(ValueError, match="attribute"):
        ExportFrame(CLIP, 0, masks, ("car", "car"), attributes=({},))
