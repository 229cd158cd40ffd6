"""Flow-guided re-prompting with the weight-free classic segmenter standing in for SAM:
the warp proposes, the segmenter re-cuts the moving square on every frame, so the
drift of the plain warp does not build up."""

from __future__ import annotations

import numpy as np

from samvid.models.classic import ClassicSegmenter
from samvid.models.standin import StandInSegmenter
from samvid.tracker.guided_engine import GuidedEngine, prompt_from_mask
from samvid.tracker.masks import iou


def _texture(rng, shape):
    """Smooth random texture: optical flow needs structure at several scales."""
    import cv2

    noise = rng.integers(0, 255, (*shape, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 1.5)


def _clip(n=6, step=3, shape=(80, 120)):
    rng = np.random.default_rng(1)
    background = _texture(rng, shape)
    patch = (_texture(rng, (20, 20)) * [1.0, 0.4, 0.3] + [80, 0, 0]).clip(0, 255).astype(np.uint8)  # reddish
    frames, masks = [], []
    for i in range(n):
        frame, mask = background.copy(), np.zeros(shape, bool)
        x = 20 + step * i
        frame[30:50, x : x + 20] = patch
        mask[30:50, x : x + 20] = True
        frames.append(frame)
        masks.append(mask)
    return frames, masks


def test_the_box_of_the_warp_recuts_a_moving_square_exactly():
    frames, masks = _clip()
    engine = GuidedEngine(ClassicSegmenter())
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 1, masks[0])
    for fm in engine.propagate(state, start=0):
        assert iou(fm.mask_of(1), masks[fm.frame]) > 0.9, fm.frame


def test_prompt_from_an_empty_mask_is_none_and_the_object_is_invisible():
    assert prompt_from_mask(np.zeros((4, 4), bool)) is None
    frames, masks = _clip(n=2)
    engine = GuidedEngine(StandInSegmenter())
    state = engine.init_state(frames)
    edge = np.zeros_like(masks[0])
    edge[0, 0] = True  # a one-pixel object the flow loses
    engine.add_mask(state, 0, 1, edge)
    out = list(engine.propagate(state, start=0))
    assert out[-1].masks[0].sum() <= 1


def test_a_random_weight_sam_runs_the_same_path_and_falls_back_to_the_warp():
    import torch
    import transformers as tf

    from samvid.models.sam import SamSegmenter

    vision = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, global_attn_indexes=[1], mlp_dim=128)
    sam = SamSegmenter(tf.SamModel(tf.SamConfig(vision_config=vision)).eval(), "sam", "tiny@random", "cpu",
                       torch.float32)
    frames, masks = _clip(n=3)
    engine = GuidedEngine(sam)
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 1, masks[0])
    out = list(engine.propagate(state, start=0))
    assert [fm.frame for fm in out] == [0, 1, 2]
    for fm in out:
        assert fm.visible[0] and fm.masks.shape == (1, 80, 120)
        # Noise masks are refused (low score or far from the warp): the warp is kept.
        assert iou(fm.mask_of(1), masks[fm.frame]) > 0.5


def test_guided_reports_an_object_that_left_by_the_edge_as_gone():
    # When the segmenter refused its cut the warp was kept; flow carries still ground
    # nowhere, so once the disk had left, the warp of the ground it left (170 px at the
    # right edge) was reported as the object, visible, on every later frame.
    from tests.tracker.conftest import DiskVideo

    video = DiskVideo(n=24, size=(120, 160), start=(100.0, 60.0), step=(5.0, 0.0))  # gone from frame 16
    engine = GuidedEngine(ClassicSegmenter())
    state = engine.init_state(video)
    engine.add_mask(state, 0, 1, video.mask(0))
    gone = []
    for fm in engine.propagate(state, start=0):
        truth = video.mask(fm.frame)
        if not truth.any():
            assert not fm.masks[0].any() and not fm.visible[0], f"frame {fm.frame}: {int(fm.masks[0].sum())} px left"
            gone.append(fm.frame)
        elif fm.frame < 10:
            assert iou(fm.mask_of(1), truth) > 0.8, fm.frame
    assert gone == list(range(16, 24))


def test_a_mask_given_on_a_frame_takes_its_pixels_from_the_objects_tracked_there():
    # A correction draws object 2 over the left half of tracked object 1: the half is
    # object 2's now, on that frame and after, never both objects'.
    frames, masks = _clip(n=3)
    engine = GuidedEngine(ClassicSegmenter())
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 1, masks[0])
    corrected = np.zeros_like(masks[1])
    corrected[30:50, 23:33] = True
    engine.add_mask(state, 1, 2, corrected)
    for fm in engine.propagate(state, start=0):
        assert not (fm.mask_of(1) & fm.mask_of(2)).any(), fm.frame
        if fm.frame == 1:
            assert np.array_equal(fm.mask_of(2), corrected)
            assert fm.visible[0] and fm.mask_of(1).sum() == masks[1].sum() - corrected.sum()


def test_two_tracked_objects_side_by_side_never_share_a_pixel():
    # Each object's cut comes from its own box, which reaches over its neighbour.
    frames, masks = _clip(n=4)
    left = masks[0].copy()
    left[:, 30:] = False
    engine = GuidedEngine(ClassicSegmenter())
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 1, left)
    engine.add_mask(state, 0, 2, masks[0] & ~left)
    for fm in engine.propagate(state, start=0):
        assert fm.visible.all() and not (fm.mask_of(1) & fm.mask_of(2)).any(), fm.frame


def test_an_object_that_left_by_the_edge_is_found_again_when_it_comes_back():
    # Hidden once it had left, it was never looked for again: its masks stayed empty
    # for the rest of the clip while it stood fully in view.
    from tests.tracker.conftest import DiskVideo

    class OutAndBack(DiskVideo):
        def centre(self, i):
            k = i if i <= 14 else 28 - i  # out by the right edge from frame 13 to 15
            return self.start[0] + 6.0 * k, self.start[1]

    video = OutAndBack(n=29, size=(120, 160), start=(100.0, 60.0))
    engine = GuidedEngine(ClassicSegmenter())
    state = engine.init_state(video)
    engine.add_mask(state, 0, 1, video.mask(0))
    for fm in engine.propagate(state, start=0):
        truth = video.mask(fm.frame)
        if not truth.any():
            assert not fm.visible[0], fm.frame
        elif fm.frame >= 21:  # wholly in view again
            assert fm.visible[0] and iou(fm.mask_of(1), truth) > 0.8, fm.frame


def test_a_speck_in_the_corner_of_a_very_wide_frame_is_tracked_without_error():
    # Its view for the search rounds to nothing at the search's scale.
    frames = [np.zeros((16, 7680, 3), np.uint8)] * 2
    speck = np.zeros((16, 7680), bool)
    speck[0, 0] = True
    engine = GuidedEngine(StandInSegmenter())
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 1, speck)
    assert [fm.frame for fm in engine.propagate(state, start=0)] == [0, 1]
