"""Writers and loaders without Label Studio: edge cases of each format, identity rules."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from export_studio import H, W, disk, rect

from samvid.errors import ConfigError
from samvid.export import FORMATS, davis
from samvid.export.frames import Category, ExportFrame, Problems, file_stem, frame_file, frame_masks
from samvid.export.identity import ClipRegions, Region
from samvid.export.reader import ProjectSchema
from samvid.tracker import davis as tracker_davis
from samvid.tracker import masks
from samvid.tracker.baselines import CopyFirstEngine

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


def test_davis_reports_overlap_and_keeps_large_ids_in_the_manifest(tmp_path):
    objects = {1: ("car", rect(0, 0, 30, 30)), 2: ("car", rect(20, 20, 50, 40)),
               300: ("person", disk(55, 10, 4))}
    problems = write("davis", tmp_path, [frame("c", 0, objects)])
    assert problems.counts() == {"lossy": 1}
    (back,) = davis.load(tmp_path)
    assert back.object_ids == (1, 2, 300)
    assert back.masks.mask_of(2).sum() == 30 * 20  # the larger id keeps the overlap


def png_values(out: Path, clip: str, index: int) -> list[int]:
    return np.unique(masks.read_label_png(out / "Annotations" / clip / f"{index:06d}.png")).tolist()


def test_davis_numbers_each_clips_objects_1_to_n_and_never_writes_the_void_value_255(tmp_path):
    # DAVIS tools read 255 as void and count objects up to the first frame's largest value.
    frames = [frame("a", 0, {255: ("car", rect(0, 0, 10, 10)), 3: ("person", disk(40, 30, 6))}),
              frame("a", 1, {7: ("car", rect(20, 20, 30, 30)), 255: ("car", rect(0, 0, 10, 10))}),
              frame("b", 0, {7: ("car", rect(0, 0, 10, 10))})]
    assert write("davis", tmp_path, frames).counts() == {"late_objects": 1}  # 7 enters clip a late
    assert png_values(tmp_path, "a", 0) == [0, 1, 2]  # 3 then 255, in order of first appearance
    assert png_values(tmp_path, "a", 1) == [0, 2, 3]
    assert png_values(tmp_path, "b", 0) == [0, 1]
    back = list(davis.load(tmp_path))
    assert [(f.clip, f.frame, f.object_ids) for f in back] == [
        ("a", 0, (3, 255)), ("a", 1, (7, 255)), ("b", 0, (7,))]
    assert back[0].labels == ("person", "car")


def test_davis_manifest_lists_only_objects_the_png_holds(tmp_path):
    covered = {1: ("car", rect(10, 10, 20, 20)), 2: ("car", rect(0, 0, 30, 30))}
    problems = write("davis", tmp_path, [frame("c", 0, covered)])
    assert [p.message for p in problems.items][-1] == \
        "object 1 is wholly covered by larger ids: not on this frame's PNG"
    manifest = json.loads((tmp_path / "samvid.json").read_text())
    assert manifest["clips"][0]["frames"][0]["object_ids"] == [2]


def test_ytvis_reports_and_leaves_out_a_frame_of_another_size_than_its_video(tmp_path):
    other = ExportFrame("c", 1, frame_masks(1, 2 * H, 2 * W, [(1, np.ones((2 * H, 2 * W), bool), 1.0)]),
                        ("car",))
    frames = [frame("c", 0, {1: ("car", disk(20, 20, 5))}), other, frame("c", 2, {})]
    problems = write("ytvis", tmp_path, frames)
    assert [(p.kind, p.frame) for p in problems.items] == [("size_mismatch", 1)]
    back = list(FORMATS["ytvis"][1](tmp_path))
    assert [(f.frame, f.width, f.height) for f in back] == [(0, W, H), (2, W, H)]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_long_clip_id_gets_a_short_folder_name(fmt, tmp_path):
    clip = "camera-" + "x" * 300  # a safe name, but longer than a file name may be
    assert not write(fmt, tmp_path, [with_image(frame(clip, 0, {1: ("car", disk(20, 20, 5))}), JPEG, ".jpg")])
    folders = {p.name for p in tmp_path.glob("*/*") if p.is_dir()}
    assert folders and all(len(f) <= 120 and f.startswith("camera-xxx") for f in folders)
    assert [(f.clip, f.object_ids) for f in FORMATS[fmt][1](tmp_path)] == [(clip, (1,))]


@pytest.mark.parametrize("clip", ["", ".", "..", "/"])
def test_a_frame_of_an_empty_or_dot_clip_id_is_filed_in_a_folder_of_its_own_inside_the_export(clip, tmp_path):
    # coco.load gives clip "" to a plain COCO file's images: its frames, written as DAVIS or
    # YOLO, went to "/000000.png" (the file system's root). Checked on the path alone, so a
    # failing run writes nothing there.
    folder = tmp_path / "Annotations"
    path = (folder / frame_file(clip, 0, ".png")).resolve()
    assert path.parent.parent == folder and path.name == "000000.png"
    assert file_stem(clip) not in ("", ".", "..")


def pixel(x: int, y: int) -> np.ndarray:
    return rect(x, y, x + 1, y + 1)


@pytest.mark.parametrize("mask", [
    rect(2, 2, 12, 12) | rect(40, 30, 60, 44),  # an object seen on both sides of an occluder
    rect(10, 10, 30, 30) | rect(50, 40, 52, 42) | pixel(60, 5),  # a 2x2 part and a lone pixel
    rect(10, 10, 30, 30) | rect(40, 40, 60, 41),  # a one-pixel line beside it
    rect(0, 0, 8, 8) | rect(20, 0, 28, 8) | rect(40, 0, 48, 8) | rect(20, 30, 28, 38),  # 4 parts
], ids=["two-parts", "small-parts", "line-part", "four-parts"])
def test_yolo_keeps_every_part_of_a_mask_on_its_one_line(mask, tmp_path):
    # One line is one polygon (YOLO-seg); its parts are joined by bridges that enclose no
    # pixel, as Ultralytics joins a COCO object's parts: none is lost.
    problems = write("yolo", tmp_path, [frame("c", 0, {1: ("car", mask), 2: ("car", rect(2, 40, 8, 46))})])
    assert not problems
    assert len((tmp_path / "labels" / "c" / "000000.txt").read_text().splitlines()) == 2
    (back,) = FORMATS["yolo"][1](tmp_path)
    assert back.object_ids == (1, 2)
    np.testing.assert_array_equal(back.masks.mask_of(1), mask)


def test_yolo_reports_a_hole_its_polygon_fills(tmp_path):
    ring = rect(10, 10, 40, 40) & ~rect(18, 18, 32, 32)
    problems = write("yolo", tmp_path, [frame("c", 0, {1: ("car", ring)})])
    assert [(p.kind, p.message.endswith("pixels of holes are not in its polygon")) for p in problems.items] == \
        [("lossy", True)]


@pytest.mark.parametrize("mask", [rect(5, 20, 45, 21), pixel(20, 20)], ids=["line", "pixel"])
def test_yolo_writes_a_one_pixel_line_and_a_single_pixel_exactly(mask, tmp_path):
    # Outlined along pixel edges, a one-pixel-wide object still has an area.
    assert not write("yolo", tmp_path, [frame("c", 0, {1: ("car", mask)})])
    (back,) = FORMATS["yolo"][1](tmp_path)
    assert back.object_ids == (1,)
    np.testing.assert_array_equal(back.masks.mask_of(1), mask)


def test_yolo_keeps_a_plain_mask_without_report(tmp_path):
    assert not write("yolo", tmp_path, [frame("c", 0, {1: ("car", disk(30, 20, 10))})])


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_an_object_that_changes_class_keeps_its_first_class_in_every_format(fmt, tmp_path):
    frames = [frame("c", 0, {1: ("car", disk(20, 20, 5))}),
              frame("c", 1, {1: ("person", disk(22, 20, 5)), 2: ("person", disk(50, 30, 5))}),
              frame("d", 0, {1: ("person", disk(20, 20, 5))})]  # another clip: another object
    problems = write(fmt, tmp_path, frames)
    late = [("late_objects", "c", 0)] if fmt == "davis" else []  # object 2 is not on frame 0
    assert [(p.kind, p.clip, p.frame) for p in problems.items] == [("label_changed", "c", 1)] + late
    back = list(FORMATS[fmt][1](tmp_path))
    assert [(f.clip, f.frame, f.labels) for f in back] == [
        ("c", 0, ("car",)), ("c", 1, ("car", "person")), ("d", 0, ("person",))]
    if fmt == "coco":  # one track_id, one category_id
        coco = json.loads((tmp_path / "annotations.json").read_text())
        assert [(a["track_id"], a["category_id"]) for a in coco["annotations"]] == \
            [(1, 1), (1, 1), (2, 2), (1, 2)]
    if fmt == "yolo":  # the txt file, not only samvid.json
        lines = (tmp_path / "labels" / "c" / "000001.txt").read_text().splitlines()
        assert [line.split()[0] for line in lines] == ["0", "1"]


JPEG = cv2.imencode(".jpg", np.zeros((H, W, 3), np.uint8))[1].tobytes()
PNG = cv2.imencode(".png", np.zeros((H, W, 3), np.uint8))[1].tobytes()


def with_image(f: ExportFrame, data: bytes, ext: str) -> ExportFrame:
    return dataclasses.replace(f, image_bytes=data, image_ext=ext)


@pytest.mark.parametrize("fmt, images", [
    ("coco", "images"), ("ytvis", "JPEGImages"), ("davis", "JPEGImages"), ("yolo", "images")])
def test_frame_files_sort_in_frame_order_past_99999(fmt, images, tmp_path):
    indices = [99_998, 99_999, 100_000, 100_001]
    frames = [with_image(frame("c", i, {1: ("car", disk(20, 20, 5))}), JPEG, ".jpg") for i in indices]
    assert not write(fmt, tmp_path, frames)
    names = sorted(p.name for p in (tmp_path / images / "c").iterdir())
    assert [int(Path(n).stem) for n in names] == indices
    assert [f.frame for f in FORMATS[fmt][1](tmp_path)] == indices
    if fmt == "davis":  # samvid track pairs each image with its mask by name
        assert sorted(p.stem for p in (tmp_path / "Annotations" / "c").iterdir()) == \
            [Path(n).stem for n in names]
        assert [int(p.stem) for p in tracker_davis.JpegFolder.of(tmp_path / "JPEGImages" / "c").files] == indices


@pytest.mark.parametrize("fmt", ["davis", "yolo"])
def test_an_export_with_five_digit_names_still_loads(fmt, tmp_path):
    """Exports made before six-digit names: their loaders and ``samvid track`` still read them."""
    frames = [with_image(frame("c", i, {1: ("car", disk(20 + i, 20, 5))}), JPEG, ".jpg") for i in (0, 7)]
    write(fmt, tmp_path, frames)
    expected = [(f.frame, f.masks.mask_of(1).sum()) for f in FORMATS[fmt][1](tmp_path)]
    for path in list(tmp_path.glob("*/c/*")):
        path.rename(path.with_name(path.name[1:]))  # 000007.png -> 00007.png
    back = list(FORMATS[fmt][1](tmp_path))
    assert [(f.frame, f.masks.mask_of(1).sum()) for f in back] == expected
    assert {f for f, _ in expected} == {0, 7} and all(n > 0 for _, n in expected)
    if fmt == "davis":
        assert len(tracker_davis.JpegFolder.of(tmp_path / "JPEGImages" / "c")) == 2


def test_a_davis_export_of_png_frames_reads_back(tmp_path):
    """A project imported with ``--png`` exports .png frames; ``samvid track`` reads them as they are."""
    frames = [with_image(frame("c", i, {1: ("car", disk(20 + i, 20, 5))}), PNG, ".png") for i in range(3)]
    assert not write("davis", tmp_path, frames)
    assert tracker_davis.sequences(tmp_path) == ["c"]
    source = tracker_davis.JpegFolder.of(tracker_davis.frames_dir(tmp_path) / "c")
    assert [p.name for p in source.files] == ["000000.png", "000001.png", "000002.png"]
    assert source[0].shape == (H, W, 3)
    out = tmp_path / "tracked"
    assert tracker_davis.track_sequence(CopyFirstEngine(), tmp_path, "c", out) == 3
    assert masks.read_label_png(out / "Annotations" / "c" / "000002.png").max() == 1


def region(label: str, region_id: str, explicit: int | None = None) -> Region:
    return Region(region_id, label, {}, explicit, 1.0, W, H)


def test_fallback_ids_follow_the_largest_explicit_id_of_the_clip():
    frames = [
        [region("car", "r1"), region("person", "p")],
        [region("car", "r1"), region("car", "x", explicit=5)],  # explicit id seen late
        [region("person", "r1"), region("car", "q")],  # r1 relabelled: still its object
    ]
    ids = ClipRegions(frames)
    assert [[ids.object_id(r) for r in regions] for regions in frames] == [[6, 7], [6, 5], [6, 8]]


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


def test_yolo_reads_its_own_polygons_back_at_their_frames_size_over_the_image_limit(monkeypatch):
    # The region bound (SAMVID_MAX_IMAGE_PIXELS' default) refused an exported frame of over
    # 64 M pixels, aborting the export: YOLO's own polygons are bounded by their frame only.
    import samvid.export.yolo as yolo

    bounds = []
    real = yolo.decode_polygon
    monkeypatch.setattr(yolo, "decode_polygon",
                        lambda result, max_pixels: bounds.append(max_pixels) or real(result, max_pixels=max_pixels))
    square = np.array([[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]])
    assert yolo.mask_of(square, 8, 8).sum() == 16
    assert bounds == [64]  # the frame's own size, not a fixed limit


def uncompressed_rle(mask: np.ndarray) -> dict:
    """A mask as plain YouTube-VIS files hold it: run lengths in column order, from 0s."""
    flat = mask.flatten(order="F").astype(np.uint8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    return {"size": list(mask.shape), "counts": np.diff(np.concatenate([[0], edges])).tolist()}


def test_a_plain_youtube_vis_file_loads_with_its_frame_folder_as_the_clip(tmp_path):
    # YouTube-VIS's own files give a video no name (its frames are <folder>/<frame>.jpg)
    # and an object no object_id (the annotation's id is one).
    person = disk(30, 20, 8)
    document = {
        "videos": [{"id": 1, "width": W, "height": H, "length": 2,
                    "file_names": ["0a2f7d2e/00000.jpg", "0a2f7d2e/00005.jpg"]}],
        "annotations": [{"id": 7, "video_id": 1, "category_id": 2, "iscrowd": 0,
                         "height": H, "width": W, "length": 1,
                         "segmentations": [uncompressed_rle(person), None],
                         "areas": [int(person.sum()), None], "bboxes": [[22, 12, 17, 17], None]}],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}],
    }
    (tmp_path / "annotations.json").write_text(json.dumps(document))
    frames = list(FORMATS["ytvis"][1](tmp_path))
    assert [(f.clip, f.frame, f.object_ids, f.labels) for f in frames] == [
        ("0a2f7d2e", 0, (7,), ("person",)), ("0a2f7d2e", 1, (), ())]
    assert np.array_equal(frames[0].masks.mask_of(7), person)
