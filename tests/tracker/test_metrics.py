from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from samvid.tracker.masks import write_label_png
from samvid.tracker.metrics import (
    boundary_f,
    boundary_map,
    dataset_mean,
    evaluate_folders,
    region_iou,
    score_sequence,
)


def box(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_iou_of_half_overlapping_boxes_is_one_third() -> None:
    a = box(10, 10, 0, 4, 0, 4)
    b = box(10, 10, 0, 4, 2, 6)
    assert region_iou(a, b) == pytest.approx(8 / 24)


def test_iou_and_f_are_one_when_both_masks_are_empty() -> None:
    z = np.zeros((8, 8), bool)
    assert region_iou(z, z) == 1.0 and boundary_f(z, z) == 1.0


def test_f_is_zero_when_only_one_mask_is_empty() -> None:
    assert boundary_f(np.zeros((8, 8), bool), box(8, 8, 2, 5, 2, 5)) == 0.0


def test_boundary_is_where_the_right_or_lower_neighbour_differs() -> None:
    m = box(3, 3, 1, 3, 1, 3)
    expect = np.array([[1, 1, 1], [1, 0, 0], [1, 0, 0]], bool)
    assert np.array_equal(boundary_map(m), expect)


def test_boundary_shifted_within_tolerance_scores_f_one() -> None:
    # diag of 100x100 = 141.4 -> tolerance ceil(0.008 * 141.4) = 2 px
    a = box(100, 100, 20, 60, 20, 60)
    b = box(100, 100, 22, 62, 20, 60)
    assert boundary_f(a, b) == 1.0


def test_boundary_shifted_beyond_tolerance_loses_the_shifted_edges() -> None:
    a = box(100, 100, 20, 60, 20, 60)
    b = box(100, 100, 30, 70, 20, 60)  # top and bottom edges 10 px off, sides overlap
    f = boundary_f(a, b)
    assert 0.3 < f < 0.7


def test_sequence_score_skips_the_first_frame() -> None:
    gt = [box(20, 20, 5, 15, 5, 15).astype(np.uint8)] * 3
    wrong_first = [np.zeros((20, 20), np.uint8)] + gt[1:]
    s = score_sequence("s", wrong_first, gt)
    assert s.j == 1.0 and s.f == 1.0 and s.objects[0].n_frames == 2


def test_missing_object_on_a_frame_where_it_is_absent_scores_one() -> None:
    g0 = box(20, 20, 5, 15, 5, 15).astype(np.uint8)
    gt = [g0, np.zeros_like(g0)]
    assert score_sequence("s", [g0, np.zeros_like(g0)], gt).jf == 1.0
    assert score_sequence("s", [g0, g0], gt).jf == 0.0


def test_dataset_mean_is_over_objects() -> None:
    g = np.zeros((20, 20), np.uint8)
    g[2:8, 2:8] = 1
    g[10:18, 10:18] = 2
    half = g.copy()
    half[half == 2] = 0  # object 2 lost: J=0 for it
    s1 = score_sequence("a", [g, half], [g, g])
    s2 = score_sequence("b", [g, g], [g, g])
    j, _, _ = dataset_mean([s1, s2])
    assert j == pytest.approx(3 / 4)


def test_a_sequence_with_no_frame_to_score_is_left_out_of_the_mean() -> None:
    g = np.zeros((20, 20), np.uint8)
    g[2:8, 2:8] = 1
    lost = score_sequence("lost", [g, np.zeros_like(g)], [g, g])
    one_frame = score_sequence("one frame", [g], [g])  # its first frame is the given one
    assert one_frame.objects[0].n_frames == 0 and np.isnan(one_frame.jf)
    assert dataset_mean([lost, one_frame]) == (0.0, 0.0, 0.0)


def write_sequence(root: Path, numbers: range, lost: int | None = None, width: int = 0) -> Path:
    """A DAVIS root whose sequence ``seq`` has one object on frames ``numbers`` (file names
    ``width`` digits wide); the frame ``lost`` has an empty mask."""
    for i in numbers:
        labels = box(20, 20, 2, 10, 2, 10).astype(np.uint8)
        if i == lost:
            labels[:] = 0
        write_label_png(root / "Annotations" / "seq" / f"{i:0{width}d}.png", labels)
    return root


def test_evaluation_takes_the_first_and_last_frames_in_frame_order_not_name_order(tmp_path: Path) -> None:
    """Frames 8 to 12 with unpadded names (name order 10, 11, 12, 8, 9): DAVIS leaves
    out frame 8 (the given one) and, with skip_last, frame 12, the one lost here."""
    gt = write_sequence(tmp_path / "gt", range(8, 13))
    pred = write_sequence(tmp_path / "pred", range(8, 13), lost=12)
    [score] = evaluate_folders(pred, gt, skip_last=True)
    assert (score.j, score.f, score.n_frames) == (1.0, 1.0, 3)
    gt6 = write_sequence(tmp_path / "gt6", range(99998, 100001), width=5)  # 99998, 99999, 100000
    pred6 = write_sequence(tmp_path / "pred6", range(99998, 100001), lost=99998, width=5)  # the given frame
    assert evaluate_folders(pred6, gt6, skip_last=True)[0].j == 1.0


def test_macos_metadata_files_beside_the_masks_are_not_frames(tmp_path: Path) -> None:
    gt = write_sequence(tmp_path / "gt", range(3), width=5)
    pred = write_sequence(tmp_path / "pred", range(3), width=5)
    for root in (gt, pred):
        for i in range(3):
            (root / "Annotations" / "seq" / f"._{i:05d}.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    [score] = evaluate_folders(pred, gt)
    assert (score.jf, score.n_frames, score.missing) == (1.0, 2, 0)


def test_a_prediction_named_with_a_superscript_is_no_frame_and_no_crash(tmp_path: Path) -> None:
    gt = write_sequence(tmp_path / "gt", range(3), width=5)
    pred = write_sequence(tmp_path / "pred", range(3), width=5)
    write_label_png(pred / "Annotations" / "seq" / "00001\u00b2.png", box(20, 20, 2, 10, 2, 10).astype(np.uint8))
    [score] = evaluate_folders(pred, gt)  # was: ValueError from int("00001²")
    assert (score.jf, score.missing) == (1.0, 0)


def test_hidden_and_macos_zip_folders_beside_the_sequences_are_not_sequences(tmp_path: Path) -> None:
    gt = write_sequence(tmp_path / "gt", range(3), width=5)
    pred = write_sequence(tmp_path / "pred", range(3), width=5)
    for junk in (".git", ".ipynb_checkpoints", "__MACOSX"):
        (gt / "Annotations" / junk).mkdir()
    [score] = evaluate_folders(pred, gt)  # was: "no ground-truth PNGs in .../.git"
    assert (score.name, score.jf) == ("seq", 1.0)


def test_ground_truth_named_in_upper_case_is_scored(tmp_path: Path) -> None:
    # Tools on Windows and cameras write .PNG; `samvid track` writes .png.
    m = box(8, 10, 2, 5, 2, 5).astype(np.uint8)
    for i in range(3):
        write_label_png(tmp_path / "gt" / "Annotations" / "s" / f"{i:05d}.PNG", m)
        write_label_png(tmp_path / "pred" / "Annotations" / "s" / f"{i:05d}.png", m)
    (score,) = evaluate_folders(tmp_path / "pred", tmp_path / "gt")  # was: "no ground-truth PNGs"
    assert score.jf == 1.0 and score.missing == 0


def test_one_frame_as_png_and_PNG_is_refused_not_scored_twice(tmp_path: Path) -> None:
    m = box(8, 10, 2, 5, 2, 5).astype(np.uint8)
    for i in range(2):
        write_label_png(tmp_path / "gt" / "Annotations" / "s" / f"{i:05d}.png", m)
        write_label_png(tmp_path / "pred" / "Annotations" / "s" / f"{i:05d}.png", m)
    write_label_png(tmp_path / "gt" / "Annotations" / "s" / "00001.PNG", m * 0)
    with pytest.raises(ValueError, match=r"00001.png and 00001.PNG are one frame twice|00001.PNG and 00001.png"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt")


def davis_void_border(labels: np.ndarray) -> np.ndarray:
    """``labels`` with DAVIS's void (255) in a ring of 2 px around its objects."""
    out = labels.copy()
    near = np.zeros_like(labels, bool)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            near |= np.roll(np.roll(labels > 0, dy, 0), dx, 1)
    out[near & (labels == 0)] = 255
    return out


def test_a_void_border_in_the_ground_truth_is_no_object_to_score() -> None:
    """The DAVIS toolkit reads 255 beside the objects as void (background): a prediction
    of exactly the objects scores 1, not 2 of 3 objects."""
    frames = []
    for i in range(3):
        labels = np.zeros((30, 40), np.uint8)
        labels[4:12, 4 + i:12 + i] = 1
        labels[18:26, 20:34] = 2
        frames.append(labels)
    score = score_sequence("voided", frames, [davis_void_border(f) for f in frames])
    assert [o.obj_id for o in score.objects] == [1, 2]
    assert score.jf == 1.0


def test_a_grey_0_255_mask_is_one_object_with_id_255() -> None:
    """DAVIS 2016's grey masks: 255 alone is the object, not void."""
    g = box(20, 20, 2, 10, 2, 10).astype(np.uint8) * 255
    score = score_sequence("grey", [g, g], [g, g])
    assert [o.obj_id for o in score.objects] == [255] and score.jf == 1.0


def test_a_sequence_named_by_an_absolute_path_is_refused_not_scored_against_itself(tmp_path: Path) -> None:
    gt = write_sequence(tmp_path / "gt", range(3))
    pred = write_sequence(tmp_path / "pred", range(3), lost=1)
    with pytest.raises(ValueError, match="no sequence name"):
        evaluate_folders(pred, gt, [str(gt / "Annotations" / "seq")])


def test_one_predicted_frame_saved_as_grey_0_255_among_id_1_frames_is_refused_naming_it(tmp_path: Path) -> None:
    """An image editor re-saved one mask as 0/255: scored, that frame read as lost."""
    labels = box(20, 20, 4, 10, 4, 10).astype(np.uint8)
    for i in range(4):
        write_label_png(tmp_path / "gt" / "Annotations" / "seq" / f"{i:05d}.png", labels)
        write_label_png(tmp_path / "pred" / "Annotations" / "seq" / f"{i:05d}.png", labels * (255 if i == 2 else 1))
    with pytest.raises(ValueError, match=r"00002\.png holds ids \[255\], none of the ground truth's \[1\]"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt")


@pytest.mark.parametrize("odd, skip_last", [(0, False), (3, True)], ids=["first", "last-skipped"])
def test_a_grey_0_255_predicted_frame_the_score_leaves_out_is_not_refused(
        tmp_path: Path, odd: int, skip_last: bool) -> None:
    # The given first mask copied in as 0/255 beside the tracker's id-1 frames: never
    # scored, it refused the whole sequence.
    labels = box(20, 20, 4, 10, 4, 10).astype(np.uint8)
    for i in range(4):
        write_label_png(tmp_path / "gt" / "Annotations" / "seq" / f"{i:05d}.png", labels)
        write_label_png(tmp_path / "pred" / "Annotations" / "seq" / f"{i:05d}.png", labels * (255 if i == odd else 1))
    [score] = evaluate_folders(tmp_path / "pred", tmp_path / "gt", skip_last=skip_last)
    assert score.j == 1.0


def test_a_predicted_frame_with_the_object_lost_is_scored_not_refused(tmp_path: Path) -> None:
    labels = box(20, 20, 4, 10, 4, 10).astype(np.uint8)
    for i in range(3):
        write_label_png(tmp_path / "gt" / "Annotations" / "seq" / f"{i:05d}.png", labels)
        write_label_png(tmp_path / "pred" / "Annotations" / "seq" / f"{i:05d}.png", labels * (i != 2))
    [score] = evaluate_folders(tmp_path / "pred", tmp_path / "gt")
    assert score.j == 0.5


def test_grey_0_255_predictions_against_ground_truth_with_a_void_border_are_refused(tmp_path: Path) -> None:
    """255 there is void, not the object: scored, every frame would read as lost."""
    for i in range(3):
        labels = box(20, 20, 4, 10, 4, 10).astype(np.uint8)
        write_label_png(tmp_path / "gt" / "Annotations" / "seq" / f"{i:05d}.png", davis_void_border(labels))
        write_label_png(tmp_path / "pred" / "Annotations" / "seq" / f"{i:05d}.png", labels * 255)
    with pytest.raises(ValueError, match=r"predictions hold ids \[255\], the ground truth \[1\]"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt")


@pytest.mark.parametrize("resolution", ["", ".", "..", "480p/bear"])
def test_a_resolution_naming_no_level_of_the_official_layout_is_refused_not_read_as_the_sequences(
        tmp_path: Path, resolution: str) -> None:
    labels = box(20, 20, 4, 10, 4, 10).astype(np.uint8)
    for root in ("gt", "pred"):
        for i in range(3):
            write_label_png(tmp_path / root / "Annotations" / "480p" / "bear" / f"{i:05d}.png", labels)
    with pytest.raises(ValueError, match=r"has resolution levels 480p, and .* names no level"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt", resolution=resolution)


def test_an_empty_resolution_is_ignored_in_the_flat_layout_as_any_level_is(tmp_path: Path) -> None:
    labels = box(20, 20, 4, 10, 4, 10).astype(np.uint8)
    for root in ("gt", "pred"):
        for i in range(3):
            write_label_png(tmp_path / root / "Annotations" / "bear" / f"{i:05d}.png", labels)
    [score] = evaluate_folders(tmp_path / "pred", tmp_path / "gt", resolution="")
    assert score.name == "bear" and score.jf == 1.0
