"""Frame sizes the formats must cope with: a size only an unreadable region claims, and
frames of one clip that differ in size."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from export_studio import H, W, disk, rect
from test_export_formats import CATEGORIES, write

from samvid.export import FORMATS, export
from samvid.export.frames import PREDICTION, ExportFrame, Problems, frame_masks
from samvid.studio.results import MAX_PIXELS
from samvid.tracker.masks import FrameMasks

JPEG = b"\xff\xd8\xff\xe0 not decoded by the writers"


def frame(index: int, objects: dict[int, tuple[str, np.ndarray]], size: tuple[int, int] = (H, W),
          image: bytes | None = JPEG) -> ExportFrame:
    masks = frame_masks(index, size[0], size[1], [(o, m, 1.0) for o, (_, m) in objects.items()])
    return ExportFrame("c", index, masks, tuple(objects[o][0] for o in masks.object_ids),
                       task_id=100 + index, image_bytes=image)


def test_a_davis_frame_sized_only_by_a_region_claim_over_the_image_limit_is_reported_and_skipped(
        tmp_path):
    # --no-images: the reader refused to decode the region claiming this size, so the frame
    # has no mask, and its PNG would be as large as the claim (100000 x 100000 is 9 GiB).
    height = 8000
    claimed = ExportFrame("c", 1, FrameMasks.empty(1, height, MAX_PIXELS // height + 1), (),
                          task_id=101)
    problems = write("davis", tmp_path, [frame(0, {1: ("car", disk(20, 20, 5))}, image=None),
                                         claimed, frame(2, {}, image=None)])
    assert [(p.kind, p.frame, p.task_id) for p in problems.items] == [("missing_image", 1, 101)]
    assert "SAMVID_MAX_IMAGE_PIXELS" in problems.items[0].message
    assert sorted(p.name for p in (tmp_path / "Annotations" / "c").iterdir()) == [
        "000000.png", "000002.png"]
    assert [f.frame for f in FORMATS["davis"][1](tmp_path)] == [0, 2]


def test_a_davis_frame_with_its_image_or_its_masks_is_written_whatever_its_claimed_size(tmp_path):
    # An image copied, or a mask decoded, has the size for real: only a bare claim is refused.
    with_image = ExportFrame("c", 0, FrameMasks.empty(0, 8000, MAX_PIXELS // 8000 + 1), (),
                             image_bytes=JPEG)
    assert not write("davis", tmp_path, [with_image])
    assert [(f.frame, f.width) for f in FORMATS["davis"][1](tmp_path)] == [(0, MAX_PIXELS // 8000 + 1)]


def ytvis_video(out: Path) -> dict:
    (video,) = json.loads((out / "annotations.json").read_text())["videos"]
    return video


def test_an_odd_sized_first_frame_costs_youtube_vis_only_itself(tmp_path):
    odd = frame(0, {1: ("car", np.ones((10, 20), bool))}, size=(10, 20))
    frames = [odd] + [frame(i, {1: ("car", disk(20 + i, 20, 5))}) for i in (1, 2, 3)]
    problems = write("ytvis", tmp_path, frames)
    assert [(p.kind, p.frame, p.task_id) for p in problems.items] == [("size_mismatch", 0, 100)]
    assert "10" in problems.items[0].message and f"{W}x{H}" in problems.items[0].message
    video = ytvis_video(tmp_path)
    assert (video["width"], video["height"], video["length"]) == (W, H, 3)
    assert video["frames"] == [1, 2, 3]
    # The odd frame's image is not in the export either.
    assert sorted(p.name for p in (tmp_path / "JPEGImages" / "c").iterdir()) == [
        "000001.jpg", "000002.jpg", "000003.jpg"]
    back = list(FORMATS["ytvis"][1](tmp_path))
    assert [(f.frame, f.width, f.height, f.object_ids) for f in back] == [
        (i, W, H, (1,)) for i in (1, 2, 3)]
    assert np.array_equal(back[0].masks.mask_of(1), disk(21, 20, 5))


def test_a_youtube_vis_video_of_two_sizes_in_equal_numbers_takes_its_first_frames(tmp_path):
    small = (H // 2, W // 2)
    frames = [frame(0, {}, size=small), frame(1, {1: ("car", disk(20, 20, 5))}),
              frame(2, {2: ("person", rect(0, 0, 5, 5)[:H // 2, :W // 2])}, size=small), frame(3, {})]
    problems = write("ytvis", tmp_path, frames)
    assert [(p.kind, p.frame) for p in problems.items] == [("size_mismatch", 1), ("size_mismatch", 3)]
    video = ytvis_video(tmp_path)
    assert (video["height"], video["width"], video["frames"]) == (H // 2, W // 2, [0, 2])
    # Object 1 is only on a frame left out: no annotation, no category of the video.
    assert [(f.frame, f.object_ids) for f in FORMATS["ytvis"][1](tmp_path)] == [(0, ()), (2, (2,))]
    assert video["categories"] == [2]


def test_a_class_seen_only_on_a_frame_youtube_vis_leaves_out_is_not_the_objects_class(tmp_path):
    odd = frame(0, {1: ("person", np.ones((10, 20), bool))}, size=(10, 20))
    frames = [odd, frame(1, {1: ("car", disk(20, 20, 5))}), frame(2, {1: ("car", disk(22, 20, 5))})]
    problems = write("ytvis", tmp_path, frames)
    assert problems.counts() == {"size_mismatch": 1}  # no label_changed from the odd frame
    assert {f.labels for f in FORMATS["ytvis"][1](tmp_path)} == {("car",)}


def test_a_second_frame_of_one_number_does_not_overwrite_the_image_youtube_vis_keeps(tmp_path):
    # Every frame's image is written as it comes (the video's size is known at the clip's
    # end): a second frame 1 of another size overwrote the kept frame 1's image.
    kept = frame(1, {1: ("car", disk(20, 20, 5))}, image=b"\xff\xd8 the kept frame")
    again = frame(1, {1: ("car", np.ones((10, 20), bool))}, size=(10, 20), image=b"\xff\xd8 another")
    problems = write("ytvis", tmp_path, [frame(0, {}), kept, again, frame(2, {})])
    assert [(p.kind, p.frame) for p in problems.items] == [("bad_task", 1)]
    assert (tmp_path / "JPEGImages" / "c" / "000001.jpg").read_bytes() == b"\xff\xd8 the kept frame"
    assert ytvis_video(tmp_path)["frames"] == [0, 1, 2]


class FramesReader:
    """A reader of one clip "c" holding ``frames`` (``export``'s side of ProjectReader)."""

    def __init__(self, frames: list[ExportFrame]) -> None:
        self.items, self.problems = frames, Problems()

    def clips(self) -> list:
        return [SimpleNamespace(clip="c", tasks=self.items)]

    def frames(self, clip) -> list[ExportFrame]:
        return self.items


def test_the_export_summary_counts_the_frames_youtube_vis_writes_not_those_it_leaves_out(tmp_path):
    odd = frame(0, {7: ("person", np.ones((10, 20), bool))}, size=(10, 20))
    odd.source = PREDICTION
    frames = [odd] + [frame(i, {1: ("car", disk(20 + i, 20, 5))}) for i in (1, 2, 3)]
    reader = FramesReader(frames)
    summary = export(reader, FORMATS["ytvis"][0](tmp_path, CATEGORIES, reader.problems))
    assert reader.problems.counts() == {"size_mismatch": 1}
    # The odd frame, its prediction and its object 7 are not in the export.
    assert (summary.frames, summary.predicted_frames, summary.objects) == (3, 0, 1)
    assert summary.left_out == 1
    assert len(list(FORMATS["ytvis"][1](tmp_path))) == summary.frames


def test_the_export_summary_does_not_count_a_davis_frame_left_out_for_its_claimed_size(tmp_path):
    claimed = ExportFrame("c", 1, FrameMasks.empty(1, 8000, MAX_PIXELS // 8000 + 1), ())
    reader = FramesReader([frame(0, {1: ("car", disk(20, 20, 5))}), claimed])
    summary = export(reader, FORMATS["davis"][0](tmp_path, CATEGORIES, reader.problems))
    assert reader.problems.counts() == {"missing_image": 1}
    assert summary.frames == 1
    assert summary.left_out == 1


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_the_export_summary_counts_only_objects_the_export_holds(fmt, tmp_path):
    # Object 2 is on every frame with an empty mask: no format holds it.
    frames = [frame(i, {1: ("car", disk(20 + i, 20, 5)), 2: ("person", np.zeros((H, W), bool))})
              for i in (0, 1)]
    reader = FramesReader(frames)
    summary = export(reader, FORMATS[fmt][0](tmp_path, CATEGORIES, reader.problems))
    assert (summary.frames, summary.objects) == (2, 1)
    assert {o for f in FORMATS[fmt][1](tmp_path) for o in f.object_ids} == {1}
