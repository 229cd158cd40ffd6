"""Writers and loaders without Label Studio: edge cases of each format, identity rules."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from export_studio import H, W, disk, rect

from samvid.errors import ConfigError
from samvid.export import FORMATS, davis
from samvid.export.frames import Category, ExportFrame, Problems, frame_masks
from samvid.export.identity import ClipRegions, Region
from samvid.export.reader import ProjectSchema
from samvid.tracker import masks

CATEGORIES = [Category(1, "car"), Category(2, "person")]
# The shape of labeling_configs/multi_object.xml, with two mask tools sharing a class.
MULTI_OBJECT = """<View>
  <Image name="image" value="$image"/>
  <BrushLabels name="mask" toName="image"><Label value="car"/><Label value="bike"/></BrushLabels>
  <PolygonLabels name="poly" toName="image"><Label value="car"/></PolygonLabels>
  <KeyPointLabels name="point" toName="image" smart="true"><Label value="car"/></KeyPointLabels>
  <Number name="score" toName="image"/>
  <Number name="object_id" toName="image" perRegion="true" min="1" step="1"/>
</View>"""


def frame(clip: str, index: int, objects: dict[int, tuple[str, np.ndarray]]) -> ExportFrame:
    masks = frame_masks(index, H, W, [(o, m, 1.0) for o, (_, m) in objects.items()])
    labels = tuple(objects[o][0] for o in masks.object_ids)
    return ExportFrame(clip, index, masks, labels, video="v.mp4", time=index / 30)


def write(fmt: str, out: Path, frames: list[ExportFrame]) -> Problems:
    problems = Problems()
    writer = FORMATS[fmt][0](out, CATEGORIES, problems)
    for f in frames:
        writer.add(f)
    writer.close()
    return problems


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_an_empty_frame_and_a_weird_clip_name_survive(fmt, tmp_path):
    frames = [
        frame("a b/ü", 7, {4: ("person", disk(30, 20, 10))}),
        frame("a b/ü", 9, {}),  # annotated as "nothing here": kept, with no objects
    ]
    assert not write(fmt, tmp_path, frames)
    back = list(FORMATS[fmt][1](tmp_path))
    assert [(f.clip, f.frame, f.object_ids) for f in back] == [("a b/ü", 7, (4,)), ("a b/ü", 9, ())]
    assert back[0].time == pytest.approx(7 / 30) and back[0].labels == ("person",)
    assert (back[0].height, back[0].width) == (H, W)


def test_davis_palette_is_the_voc_palette():
    colours = np.frombuffer(masks.palette(), np.uint8).reshape(256, 3)
    assert colours[:4].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    assert colours[255].tolist() == [224, 224, 192]


def test_davis_reports_overlap_and_ids_beyond_255(tmp_path):
    objects = {1: ("car", rect(0, 0, 30, 30)), 2: ("car", rect(20, 20, 50, 40)),
               300: ("person", disk(55, 10, 4))}
    problems = write("davis", tmp_path, [frame("c", 0, objects)])
    assert problems.counts() == {"lossy": 2}
    (back,) = davis.load(tmp_path)
    assert back.object_ids == (1, 2)
    assert back.masks.mask_of(2).sum() == 30 * 20  # the larger id keeps the overlap


def test_yolo_reports_a_mask_in_two_parts(tmp_path):
    two = rect(2, 2, 12, 12) | rect(40, 30, 60, 44)
    problems = write("yolo", tmp_path, [frame("c", 0, {1: ("car", two)})])
    assert problems.counts() == {"lossy": 1}


@pytest.mark.parametrize("fmt", ["ytvis", "davis"])
def test_an_object_that_changes_class_is_reported(fmt, tmp_path):
    frames = [frame("c", 0, {1: ("car", disk(20, 20, 5))}),
              frame("c", 1, {1: ("person", disk(22, 20, 5))})]
    assert write(fmt, tmp_path, frames).counts() == {"label_changed": 1}


def region(label: str, region_id: str, explicit: int | None = None) -> Region:
    return Region(region_id, label, {}, explicit, 1.0, W, H)


def test_fallback_ids_follow_the_largest_explicit_id_of_the_clip():
    frames = [
        [region("car", "r1"), region("person", "p")],
        [region("car", "r1"), region("car", "x", explicit=5)],  # explicit id seen late
        [region("person", "p"), region("car", "p")],  # same region id, other label: new object
    ]
    ids = ClipRegions(frames)
    assert [[ids.object_id(r) for r in regions] for regions in frames] == [[6, 7], [6, 5], [7, 8]]


def test_schema_reads_classes_and_the_object_id_control():
    schema = ProjectSchema.from_config(MULTI_OBJECT)
    assert schema.categories == [Category(1, "car"), Category(2, "bike")]
    assert schema.object_id_control == "object_id"
    with pytest.raises(ConfigError, match="no <BrushLabels> or <PolygonLabels>"):
        ProjectSchema.from_config("<View><Image name='i' value='$image'/></View>")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_only_on_a_terminal():
    from samvid.commands.export import TerminalProgress

    shown, hidden = Terminal(), io.StringIO()
    for stream in (shown, hidden):
        progress = TerminalProgress(stream)
        progress.start(2)
        progress.update(frame("walk", 0, {}))
        progress.finish()
    assert "export walk" in shown.getvalue() and "1/2" in shown.getvalue()
    assert hidden.getvalue() == ""


@pytest.mark.parametrize("numbers, expected", [
    (("size", "object_id"), "object_id"),  # the multi-object config's name wins wherever it is
    (("track", "size"), "track"),  # else the first per-region Number
    ((), None),
])
def test_propagation_and_export_read_the_same_object_id_control(numbers, expected):
    from samvid.studio.protocol import parse_config

    controls = "".join(f'<Number name="{n}" toName="image" perRegion="true"/>' for n in numbers)
    config = ('<View><Image name="image" value="$image"/><BrushLabels name="mask" toName="image">'
              f'<Label value="car"/></BrushLabels>{controls}</View>')
    assert parse_config(config).object_id_control == expected
    assert ProjectSchema.from_config(config).object_id_control == expected
