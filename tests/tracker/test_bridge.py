"""Propagation between given frames: the stretches a correction recomputes, tracked from both ends."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from samvid.tracker.baselines import CopyFirstEngine
from samvid.tracker.bridge import Stretch, merge, plan, track_stretch
from samvid.tracker.engines import make_engine
from samvid.tracker.masks import FrameMasks, iou


def given_at(n: int, *frames: int) -> list[bool]:
    return [k in frames for k in range(n)]


# ------------------------------------------------------------------ plan
def test_a_first_annotation_flows_to_the_clip_end():
    assert plan(given_at(10, 0), 0) == [Stretch(0, 9, True, False)]


def test_a_correction_bridges_both_neighbouring_stretches():
    assert plan(given_at(10, 0, 4, 8), 4) == [Stretch(4, 8, True, True), Stretch(0, 4, True, True)]


def test_without_bridge_forward_stops_before_the_next_human_frame():
    assert plan(given_at(10, 0, 4, 8), 4, bridge=False) == [Stretch(4, 7, True, False)]


def test_backward_tracks_to_the_clip_start_when_no_human_frame_is_before():
    assert plan(given_at(10, 5), 5, forward=False, backward=True) == [Stretch(0, 5, False, True)]


def test_a_batch_bridges_each_stretch_once_from_its_first_end():
    assert plan(given_at(10, 0, 4, 8), 4, before=False) == [Stretch(4, 8, True, True)]


def test_neighbouring_human_frames_leave_nothing_to_recompute():
    assert plan(given_at(4, 1, 2, 3), 2) == []


def test_right_frames_submitted_from_the_last_back_to_the_first_recompute_nothing_without_bridging():
    # docs/propagation.md, "Correcting a frame": the way to annotate every task without
    # tracking anything again from a mask that is only good enough.
    human = given_at(6, 0)
    for k in range(5, 0, -1):
        human[k] = True
        assert plan(human, k, bridge=False) == []
        if k > 1:
            assert plan(human, k) != [], "with bridging each submit recomputes back to frame 0"


def test_limit_caps_open_stretches_and_only_bridges_within_it():
    assert plan(given_at(20, 0), 0, limit=5) == [Stretch(0, 5, True, False)]
    assert plan(given_at(20, 0, 10), 0, limit=5) == [Stretch(0, 5, True, False)]
    assert plan(given_at(20, 0, 6), 0, limit=5) == [Stretch(0, 6, True, True)]


def test_written_frames_exclude_the_human_ends():
    assert list(Stretch(4, 8, True, True).written) == [5, 6, 7]
    assert list(Stretch(0, 5, False, True).written) == [0, 1, 2, 3, 4]


def test_a_frame_outside_the_clip_is_refused():
    with pytest.raises(IndexError):
        plan(given_at(3, 0), 5)


# ------------------------------------------------------------------ track_stretch
H, W, N = 48, 64, 9


def square(x: int, size: int = 12) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[18 : 18 + size, x : x + size] = True
    return m


def moving_square_frames() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A textured square sliding right 4 px a frame on a noise background: exact truth."""
    rng = np.random.default_rng(0)
    background = rng.integers(0, 120, (H, W, 3), dtype=np.uint8)
    patch = rng.integers(140, 255, (12, 12, 3), dtype=np.uint8)
    frames, truth = [], []
    for k in range(N):
        img = background.copy()
        img[18:30, 8 + 4 * k : 20 + 4 * k] = patch
        frames.append(img)
        truth.append(square(8 + 4 * k))
    return frames, truth


def test_copy_takes_the_nearer_human_frame_on_each_side_of_the_middle():
    frames, truth = moving_square_frames()
    out = list(track_stretch(CopyFirstEngine, frames, {1: truth[0]}, {1: truth[-1]}))
    assert [fm.frame for fm in out] == list(range(1, N - 1))
    for fm in out:
        nearer = truth[0] if fm.frame <= (N - 1) / 2 else truth[-1]  # a tie goes to the first
        assert np.array_equal(fm.mask_of(1), nearer)


def test_a_stretch_tracked_from_both_ends_beats_either_end_alone():
    frames, truth = moving_square_frames()
    engine = lambda: make_engine("flow-preview")  # noqa: E731

    def mean_iou(out):
        got = {fm.frame: fm.mask_of(1) for fm in out}
        return np.mean([iou(got[k], truth[k]) for k in range(1, N - 1)])

    both = mean_iou(track_stretch(CopyFirstEngine, frames, {1: truth[0]}, {1: truth[-1]}))
    first = mean_iou(track_stretch(CopyFirstEngine, frames, {1: truth[0]}, {}))
    last = mean_iou(track_stretch(CopyFirstEngine, frames, {}, {1: truth[-1]}))
    assert both > max(first, last)
    tracked = mean_iou(track_stretch(engine, frames, {1: truth[0]}, {1: truth[-1]}))
    assert tracked > 0.8


def test_an_object_drawn_on_one_end_only_is_kept_near_it_and_gone_near_the_other():
    frames, truth = moving_square_frames()
    out = list(track_stretch(CopyFirstEngine, frames, {1: truth[0], 2: square(40, 6)}, {1: truth[-1]}))
    assert out[0].visible[1] and not out[-1].visible[1]
    assert out[0].object_ids == (1, 2)


def test_an_open_end_is_tracked_to_from_the_seeded_one():
    frames, truth = moving_square_frames()
    back = list(track_stretch(CopyFirstEngine, frames, {}, {1: truth[-1]}))
    assert [fm.frame for fm in back] == list(range(N - 2, -1, -1)), "as walked, nearest first"
    assert all(np.array_equal(fm.mask_of(1), truth[-1]) for fm in back)


def test_a_given_end_every_object_left_hides_the_object_near_it_and_keeps_it_near_the_seeded_end():
    # Read as an open end, the empty human frame was tracked to: the object drawn at full
    # score right up to the frame where the annotator said it had left the view.
    frames, truth = moving_square_frames()
    steps: list[int] = []
    out = list(track_stretch(CopyFirstEngine, frames, {1: truth[0]}, {}, on_step=lambda: steps.append(1),
                             given_ends=(True, True)))
    assert [fm.frame for fm in out] == list(range(1, N - 1)), "the given end is not written"
    assert out[0].visible[0] and np.array_equal(out[0].mask_of(1), truth[0])
    assert not out[-1].visible[0] and not out[-1].masks[0].any()
    assert len(steps) == N, "an end with no object walks nothing"
    back = list(track_stretch(CopyFirstEngine, frames, {}, {1: truth[-1]}, given_ends=(True, True)))
    assert [fm.frame for fm in back] == list(range(N - 2, 0, -1)), "as walked, nearest the seeded end first"
    assert back[0].visible[0] and not back[-1].visible[0]



def test_an_object_missing_from_a_given_end_where_it_may_be_unreadable_is_kept_right_up_to_that_end():
    # A smart click whose mask never came back on that end says nothing of the object: read as
    # "absent there", it faded the object out as if it had left the view.
    frames, truth = moving_square_frames()
    other = square(40, 6)
    for last in ({2: other}, {}):  # tracked from both ends; from the first only (every object left)
        out = list(track_stretch(CopyFirstEngine, frames, {1: truth[0]}, last, given_ends=(True, True),
                                 unsure=(frozenset(), frozenset({1}))))
        assert [fm.frame for fm in out] == list(range(1, N - 1))
        assert all(fm.visible[0] and np.array_equal(fm.mask_of(1), truth[0]) for fm in out)
    back = list(track_stretch(CopyFirstEngine, frames, {}, {1: truth[-1]}, given_ends=(True, True),
                              unsure=(frozenset({1}), frozenset())))
    assert all(fm.visible[0] and np.array_equal(fm.mask_of(1), truth[-1]) for fm in back)

def test_a_stretch_tracked_back_from_its_last_frame_streams_each_frame_as_it_is_tracked():
    # Held until the walk ended, a long backward stretch would hold every frame's masks.
    frames, truth = moving_square_frames()
    steps: list[int] = []
    back = track_stretch(CopyFirstEngine, frames, {}, {1: truth[-1]}, on_step=lambda: steps.append(1))
    first = next(back)
    assert first.frame == N - 2 and len(steps) == 2


def test_every_engine_step_is_reported_and_cancel_stops_the_stretch():
    frames, truth = moving_square_frames()
    steps: list[int] = []
    list(track_stretch(CopyFirstEngine, frames, {1: truth[0]}, {1: truth[-1]}, on_step=lambda: steps.append(1)))
    assert len(steps) == 2 * N, "each end walks the stretch once"
    out = list(track_stretch(CopyFirstEngine, frames, {1: truth[0]}, {1: truth[-1]}, cancelled=lambda: True))
    assert out == []


def crossing_squares_frames() -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Two textured squares passing each other, object 2 in front: frames and the truths."""
    rng = np.random.default_rng(0)
    background = rng.integers(0, 120, (H, W, 3), dtype=np.uint8)
    back_patch = rng.integers(140, 255, (12, 12, 3), dtype=np.uint8)
    front_patch = rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)
    frames, behind, front = [], [], []
    for k in range(11):
        img = background.copy()
        img[18:30, 6 + 4 * k : 18 + 4 * k] = back_patch
        img[22:34, 46 - 4 * k : 58 - 4 * k] = front_patch
        frames.append(img)
        in_front = np.roll(square(46 - 4 * k), 4, axis=0)
        behind.append(square(6 + 4 * k) & ~in_front)
        front.append(in_front)
    return frames, behind, front


def test_two_objects_passing_each_other_never_share_a_pixel():
    # Each side's engine gives a pixel to one object; object 1 may win on one side and
    # object 2 on the other, and both claimed the pixels where they meet.
    frames, behind, front = crossing_squares_frames()
    out = list(track_stretch(lambda: make_engine("flow-preview"), frames,
                             {1: behind[0], 2: front[0]}, {1: behind[-1], 2: front[-1]}))
    assert len(out) == len(frames) - 2
    for fm in out:
        assert not (fm.masks[0] & fm.masks[1]).any(), f"frame {fm.frame}"


def sides(first: list[np.ndarray], first_scores: list[float], last: list[np.ndarray],
          last_scores: list[float]) -> tuple[FrameMasks, FrameMasks]:
    def side(masks: list[np.ndarray], scores: list[float]) -> FrameMasks:
        return FrameMasks(4, (1, 2), np.stack(masks), np.asarray(scores, np.float32),
                          np.array([m.any() for m in masks]))

    return side(first, first_scores), side(last, last_scores)


def test_a_pixel_two_objects_win_from_different_sides_goes_to_the_surer_nearer_one():
    # The first side lost object 2 behind object 1; the last side sees it, in front.
    lost = np.zeros((H, W), bool)
    a, b = sides([square(20), lost], [0.9, 0.0], [square(40), square(28)], [0.3, 0.8])
    near_first = merge(a, b, 0.6, 0.4)  # object 1: 0.9 x 0.6 outweighs object 2: 0.8 x 0.4
    assert np.array_equal(near_first.mask_of(1), square(20))
    assert np.array_equal(near_first.mask_of(2), square(28) & ~square(20))
    near_last = merge(a, b, 0.4, 0.6)  # object 1: 0.9 x 0.4 under object 2: 0.8 x 0.6
    assert np.array_equal(near_last.mask_of(1), square(20) & ~square(28))
    assert np.array_equal(near_last.mask_of(2), square(28))


def test_an_object_the_far_end_tracked_keeps_its_pixels_where_the_near_end_merged_it_into_another():
    # Twins crossing: the near end's object 1 took both twins and lost object 2 to a scrap;
    # the far end has both where they are. Object 1 wins from the near end, object 2 from the
    # far one, and object 1's mask holds all of object 2's: that is a merge, not a border.
    far = FrameMasks(7, (1, 2), np.stack([square(10), square(36)]), np.float32([0.9, 0.9]),
                     np.array([True, True]))
    scrap = np.zeros((H, W), bool)
    scrap[40:43, 50:53] = True
    near = FrameMasks(7, (1, 2), np.stack([square(10) | square(36), scrap]), np.float32([0.95, 0.2]),
                      np.array([True, True]))
    merged = merge(far, near, 0.35, 0.65)  # object 1: 0.95 x 0.65 from near; object 2: 0.9 x 0.35 from far
    assert np.array_equal(merged.mask_of(2), square(36))
    assert np.array_equal(merged.mask_of(1), square(10))


def test_a_stretch_without_objects_is_refused():
    frames, _ = moving_square_frames()
    with pytest.raises(ValueError, match="objects"):
        list(track_stretch(CopyFirstEngine, frames, {}, {}))


@given(st.lists(st.booleans(), min_size=1, max_size=40), st.data(), st.booleans(), st.booleans(),
       st.integers(0, 8), st.booleans())
def test_a_plan_never_writes_a_human_frame_nor_any_frame_twice(human, data, forward, backward, limit, bridge):
    index = data.draw(st.integers(0, len(human) - 1))
    human[index] = True
    written = [k for s in plan(human, index, forward, backward, limit, bridge) for k in s.written]
    assert len(written) == len(set(written))
    assert not any(human[k] for k in written)
    if bridge and not limit:
        after = next((k for k in range(index + 1, len(human)) if human[k]), None)
        before = next((k for k in range(index - 1, -1, -1) if human[k]), None)
        assert set(range(index + 1, after)) <= set(written) if after is not None else True
        assert set(range(before + 1, index)) <= set(written) if before is not None else True


def test_a_cancel_during_the_backward_walk_builds_no_forward_engine_and_reads_no_more_frames():
    frames, truth = moving_square_frames()
    built: list[int] = []
    reads: list[int] = []

    class Frames(list):
        def __getitem__(self, i):
            reads.append(i)
            return list.__getitem__(self, i)

    def engine():
        built.append(1)
        return CopyFirstEngine()

    steps: list[int] = []
    out = list(track_stretch(engine, Frames(frames), {1: truth[0]}, {1: truth[-1]},
                             on_step=lambda: steps.append(1), cancelled=lambda: len(steps) >= 3))
    assert out == []
    assert len(built) == 1, "the forward walk was started after the cancel"
    assert reads.count(0) == 1, "frame 0 read only to size the backward walk"
