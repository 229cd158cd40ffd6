"""Exact geometry: a translated disk must land where it moved."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from samvid.tracker import flow
from samvid.tracker.baselines import FlowWarpEngine
from samvid.tracker.flow_engine import FlowEngine
from samvid.tracker.metrics import region_iou


def centroid(m: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(m)
    return np.array([xs.mean(), ys.mean()])


def test_dense_flow_measures_the_disk_translation(disk_video) -> None:
    a, b = flow.to_gray(disk_video[0]), flow.to_gray(disk_video[1])
    f = flow.dense_flow(a, b, flow.dis("medium"))
    # DIS smooths across the edge; inside the object (6 px from it) the flow is exact.
    core = cv2.erode(disk_video.mask(0).astype(np.uint8), np.ones((13, 13), np.uint8)) > 0
    assert np.median(f[core], axis=0) == pytest.approx(disk_video.step, abs=0.5)


@pytest.mark.parametrize("preset", sorted(flow.PRESETS))
@pytest.mark.parametrize("size", [(13, 100), (16, 40), (68, 90), (100, 13), (2, 2)], ids=str)
def test_dense_flow_takes_images_too_small_for_dis_and_measures_their_shift(preset, size) -> None:
    # Unpadded, DIS refuses some of these, returns uninitialised memory for others and
    # kills the process on 13x100 (OpenCV 4.12).
    h, w = size
    rng = np.random.default_rng(0)
    big = cv2.GaussianBlur(rng.random((h + 8, w + 8), dtype=np.float32), (0, 0), 1.5)
    big = ((big - big.min()) / (big.max() - big.min()) * 255).astype(np.uint8)
    a, b = big[4 : 4 + h, 4 : 4 + w], big[4 : 4 + h, 2 : 2 + w]  # b is a moved 2 px right
    f = flow.dense_flow(a, b, flow.dis(preset))
    assert f.shape == (h, w, 2) and np.isfinite(f).all()
    if w >= 40:  # room to see a horizontal shift
        inner = f[3:-3, 3:-3].reshape(-1, 2)
        assert np.median(inner, axis=0) == pytest.approx((2, 0), abs=0.5)


def test_flows_that_undo_each_other_match_and_flows_that_do_not_are_flagged() -> None:
    shift = np.zeros((40, 50, 2), np.float32)
    shift[...] = (3.0, -1.0)
    assert not flow.unmatched(-shift, shift).any()
    assert flow.unmatched(shift, shift).all()


def test_the_ground_a_moving_object_uncovers_has_no_matching_flow() -> None:
    from tests.tracker.conftest import DiskVideo

    video = DiskVideo(step=(8.0, 0.0))
    a, b = flow.to_gray(video[0]), flow.to_gray(video[1])
    method = flow.dis("medium")
    flagged = flow.unmatched(flow.dense_flow(b, a, method), flow.dense_flow(a, b, method))
    uncovered = video.mask(0) & ~video.mask(1)
    anywhere = video.mask(0) | video.mask(1)
    far = cv2.distanceTransform((~anywhere).astype(np.uint8), cv2.DIST_L2, 3) > 10
    assert flagged[uncovered].mean() > 0.25, "the ground the disk left has no match on frame 0"
    assert flagged[far].mean() < 0.02, "the still ground matches both ways"


def test_similarity_fit_recovers_a_pure_translation() -> None:
    h, w = 60, 80
    f = np.zeros((h, w, 2), np.float32)
    f[..., 0], f[..., 1] = 7.0, -3.0
    mask = np.zeros((h, w), bool)
    mask[10:40, 10:50] = True
    fit = flow.fit_similarity(f, mask)
    assert fit is not None and fit.ratio == 1.0
    assert fit.motion == pytest.approx(np.array([[1, 0, 7], [0, 1, -3]]), abs=1e-6)


def test_affine_warp_moves_a_mask_by_the_translation() -> None:
    m = np.zeros((40, 40), np.float32)
    m[5:15, 5:15] = 1
    moved = flow.warp_affine(m, flow.translation(10, 3), (40, 40)) >= 0.5
    assert np.array_equal(np.nonzero(moved)[0], np.nonzero(m)[0] + 3)
    assert np.array_equal(np.nonzero(moved)[1], np.nonzero(m)[1] + 10)


def test_nearest_similarity_removes_shear_but_keeps_the_centre() -> None:
    a = np.array([[1.1, 0.2, 5.0], [0.0, 0.9, 2.0]])
    s = flow.nearest_similarity(a, (10.0, 10.0))
    lin = s[:, :2]
    assert lin[0, 0] == pytest.approx(lin[1, 1]) and lin[0, 1] == pytest.approx(-lin[1, 0])
    assert flow.apply(s, np.array([[10.0, 10.0]])) == pytest.approx(flow.apply(a, np.array([[10.0, 10.0]])))


@pytest.mark.parametrize("engine", [FlowEngine("quality"), FlowEngine("preview")], ids=lambda e: e.name)
def test_translated_disk_lands_where_it_moved(disk_video, engine) -> None:
    state = engine.init_state(disk_video)
    engine.add_mask(state, 0, 1, disk_video.mask(0))
    for fm in engine.propagate(state):
        truth = disk_video.mask(fm.frame)
        got = fm.mask_of(1)
        assert fm.visible[0]
        assert np.abs(centroid(got) - centroid(truth)).max() < 1.0, fm.frame
        assert region_iou(got, truth) > 0.9


def test_flow_engine_follows_the_disk_backwards(disk_video) -> None:
    engine = FlowEngine()
    state = engine.init_state(disk_video)
    last = len(disk_video) - 1
    engine.add_mask(state, last, 1, disk_video.mask(last))
    out = list(engine.propagate(state, reverse=True))
    assert [fm.frame for fm in out] == list(range(last, -1, -1))
    assert region_iou(out[-1].mask_of(1), disk_video.mask(0)) > 0.9


def test_plain_warp_baseline_keeps_the_disk_roughly_in_place(disk_video) -> None:
    # The baseline drifts (that is why it is a baseline); it must still follow the disk.
    engine = FlowWarpEngine()
    state = engine.init_state(disk_video)
    engine.add_mask(state, 0, 1, disk_video.mask(0))
    last = list(engine.propagate(state))[-1]
    assert region_iou(last.mask_of(1), disk_video.mask(last.frame)) > 0.3


def test_grabcut_snap_recovers_a_disk_from_a_shifted_prior(disk_video) -> None:
    truth = disk_video.mask(0)
    prior = flow.warp_affine(truth.astype(np.float32), flow.translation(3, 2), truth.shape)
    snapped = flow.grabcut_snap(disk_video[0], prior)
    assert region_iou(snapped, truth) > region_iou(prior >= 0.5, truth)


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur((rng.random((h, w)) * 255).astype(np.float32), (0, 0), 2)


def test_masked_correlation_gives_opencvs_masked_scores() -> None:
    image = _texture(120, 200, 0)
    template = image[30:80, 60:100].copy()
    rng = np.random.default_rng(1)
    # A soft-edged mask, as find_template makes by shrinking a binary one.
    mask = cv2.resize((rng.random((25, 20)) > 0.3).astype(np.float32), (40, 50), interpolation=cv2.INTER_AREA)
    ours = flow.masked_correlation(image, template, mask)
    theirs = cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED, mask=mask)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-4
    assert cv2.minMaxLoc(ours)[3] == cv2.minMaxLoc(theirs)[3] == (60, 30)


def test_a_flat_window_is_no_match_and_the_object_is_still_found() -> None:
    image = _texture(120, 200, 2)
    template, mask = image[60:100, 120:170].copy(), np.ones((40, 50), np.float32)
    image[:50, :90] = 255.0  # saturated sky: its windows have no contrast to correlate
    scores = flow.masked_correlation(image, template, mask)
    assert (scores[:10, :40] == -1.0).all()
    assert flow.find_template(image, template, mask > 0, step=1) == (120, 60, pytest.approx(1.0, abs=1e-4))


def test_an_object_back_in_full_view_is_found_where_it_is() -> None:
    image = _texture(120, 200, 3)
    view = _texture(30, 40, 4)
    image[50:80, 100:140] = view
    core = np.ones((30, 40), bool)
    assert flow.find_again(image, view, core, accept=0.6) == (100, 50, pytest.approx(1.0, abs=1e-3))


def test_an_object_half_back_across_the_right_edge_is_placed_across_it() -> None:
    image = _texture(120, 200, 5)
    view = _texture(30, 40, 6)
    image[50:80, 180:200] = view[:, :20]  # its left half came back in on the right
    x, y, score = flow.find_again(image, view, np.ones((30, 40), bool), accept=0.6)
    assert (x, y) == (180, 50) and score > 0.99


def test_an_object_that_is_not_back_is_not_found() -> None:
    image = _texture(120, 200, 7)
    view = _texture(30, 40, 8)  # nowhere in the image
    assert flow.find_again(image, view, np.ones((30, 40), bool), accept=0.6) is None
