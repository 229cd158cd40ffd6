"""Masks made in a real Label Studio come back identical from every export format."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import yaml
from pycocotools.coco import COCO

from samvid.cli import main
from samvid.export import FORMATS
from samvid.tracker.metrics import dataset_mean, evaluate_folders

pytestmark = pytest.mark.studio


def run_export(project, fmt: str, out, *extra: str) -> None:
    argv = ["export", "--project", str(project.id), "--format", fmt, str(out),
            "--url", project.url, "--api-key", project.token, *extra]
    assert main(argv) == 0


def loaded(fmt: str, out) -> dict:
    """{(clip, frame): {object_id: (label, mask)}} of an export, empty masks dropped."""
    frames = {}
    for f in FORMATS[fmt][1](out):
        frames[(f.clip, f.frame)] = {
            o: (f.labels[i], f.masks.masks[i])
            for i, o in enumerate(f.object_ids) if f.masks.masks[i].any()
        }
    return frames


def boundary_band(mask: np.ndarray) -> np.ndarray:
    kernel = np.ones((3, 3), np.uint8)
    m = mask.astype(np.uint8)
    return cv2.dilate(m, kernel).astype(bool) & ~cv2.erode(m, kernel).astype(bool)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("fill", [False, True], ids=["annotations", "fill"])
def test_every_format_gives_back_the_label_studio_masks(studio_project, tmp_path, fmt, fill):
    out = tmp_path / fmt
    run_export(studio_project, fmt, out, *(["--fill"] if fill else []))
    expected = {
        key: objects for key, objects in studio_project.expected.items()
        if fill or key not in studio_project.predicted
    }
    got = loaded(fmt, out)
    assert sorted(got) == sorted(expected)
    for key, objects in expected.items():
        assert sorted(got[key]) == sorted(objects), key  # same object ids on every frame
        for object_id, (label, mask) in objects.items():
            got_label, got_mask = got[key][object_id]
            assert got_label == label
            if fmt == "yolo":
                # A polygon is an outline through boundary pixel centres, simplified by at
                # most 0.7 px (samvid.studio.results.mask_to_polygons): rasterised again it
                # may differ only within one pixel of the true boundary, nowhere else.
                differ = got_mask ^ mask
                assert not (differ & ~boundary_band(mask)).any(), key
                assert differ.sum() <= 0.1 * mask.sum(), key
            else:
                assert np.array_equal(got_mask, mask), (fmt, key, object_id)


def test_frames_keep_time_video_and_source(studio_project, tmp_path):
    run_export(studio_project, "coco", tmp_path, "--fill")
    document = json.loads((tmp_path / "annotations.json").read_text())
    by_frame = {(im["clip"], im["frame"]): im for im in document["images"]}
    assert by_frame[("walk", 2)]["time"] == pytest.approx(2 / 25)
    assert by_frame[("walk", 2)]["video"] == "/videos/walk.mp4"
    assert by_frame[("walk", 3)]["source"] == "prediction"
    assert by_frame[("walk", 2)]["source"] == "annotation"
    # images are copied byte for byte from Label Studio
    image = tmp_path / "images" / by_frame[("walk", 2)]["file_name"]
    assert image.read_bytes() == (studio_project.folder / "walk" / "00002.png").read_bytes()


def test_coco_file_loads_with_pycocotools(studio_project, tmp_path):
    run_export(studio_project, "coco", tmp_path)
    coco = COCO(str(tmp_path / "annotations.json"))
    assert {c["name"] for c in coco.loadCats(coco.getCatIds())} == {"car", "person"}
    for image_id in coco.getImgIds():
        image = coco.loadImgs(image_id)[0]
        expected = studio_project.expected[(image["clip"], image["frame"])]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        assert {a["track_id"] for a in anns} == set(expected)
        for ann in anns:
            assert np.array_equal(coco.annToMask(ann).astype(bool), expected[ann["track_id"]][1])


def test_ytvis_marks_absent_objects_with_null(studio_project, tmp_path):
    run_export(studio_project, "ytvis", tmp_path, "--fill")
    document = json.loads((tmp_path / "annotations.json").read_text())
    walk = next(v for v in document["videos"] if v["name"] == "walk")
    assert walk["frames"] == [0, 1, 2, 3, 4]
    person = next(a for a in document["annotations"]
                  if a["video_id"] == walk["id"] and a["object_id"] == 2)
    assert person["segmentations"][4] is None and person["segmentations"][3] is not None


def test_include_predictions_takes_any_model(studio_project, tmp_path):
    # Any model's latest prediction fills frame 3: the foreign model's box-shaped car 7.
    run_export(studio_project, "davis", tmp_path, "--include-predictions", "--no-images")
    got = loaded("davis", tmp_path)
    assert sorted(got[("walk", 3)]) == [7]
    assert not (tmp_path / "JPEGImages").exists()


def test_yolo_writes_data_yaml(studio_project, tmp_path):
    run_export(studio_project, "yolo", tmp_path)
    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert data["names"] == {0: "car", 1: "person"}
    assert (tmp_path / "images" / "walk" / "000000.png").exists()
    assert (tmp_path / "labels" / "walk" / "000000.txt").read_text().count("\n") == 2


def write_ground_truth(root, expected) -> None:
    """DAVIS ground truth written here, not by samvid: grey PNGs of object ids (ascending,
    so the larger id keeps an overlap, as DAVIS frames hold one id per pixel)."""
    for (clip, frame), objects in expected.items():
        ids = np.zeros(next(iter(objects.values()))[1].shape, np.uint8)
        for object_id in sorted(objects):
            ids[objects[object_id][1]] = object_id
        path = root / "Annotations" / clip / f"{frame:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), ids)


def test_davis_export_scores_jf_1_against_the_label_studio_masks(studio_project, tmp_path):
    run_export(studio_project, "davis", tmp_path / "export")
    expected = {key: objects for key, objects in studio_project.expected.items()
                if objects and key not in studio_project.predicted}
    write_ground_truth(tmp_path / "gt", expected)
    scores = evaluate_folders(tmp_path / "export", tmp_path / "gt")
    # DAVIS scores the objects of a clip's first frame on every later frame.
    frames = {clip: sorted(f for c, f in expected if c == clip) for clip, _ in expected}
    assert sorted(s.name for s in scores) == sorted(frames)
    for sequence in scores:
        first = expected[(sequence.name, frames[sequence.name][0])]
        assert sorted(o.obj_id for o in sequence.objects) == sorted(first)
        assert all(o.n_frames == len(frames[sequence.name]) - 1 for o in sequence.objects)
    assert dataset_mean(scores) == (1.0, 1.0, 1.0)
    # The same scoring sees a wrong mask: a scored object shrunk on a scored frame.
    clip = next(c for c, f in frames.items() if len(f) > 1)
    key = (clip, frames[clip][1])
    object_id = next(o for o in expected[(clip, frames[clip][0])] if o in expected[key])
    label, mask = expected[key][object_id]
    shrunk = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    write_ground_truth(tmp_path / "gt-wrong", {**expected, key: {**expected[key], object_id: (label, shrunk)}})
    assert dataset_mean(evaluate_folders(tmp_path / "export", tmp_path / "gt-wrong"))[2] < 1.0


def test_listing_counters_spare_requests_for_empty_frames(studio_project):
    from samvid.export.reader import ProjectReader

    reader = ProjectReader(studio_project.studio, studio_project.id)
    walk = next(c for c in reader.clips() if c.clip == "walk")
    counts = {t.frame: (t.annotations, t.predictions) for t in walk.tasks}
    # frame 2: one live annotation (its cancelled twin is not counted); frame 3: predictions only
    assert counts[2] == (1, 0) and counts[3] == (0, 2)
