"""The engine verbs: bad input, corrections, removal, corrupt frames, cancellation."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from samvid.core.errors import TrackingError, UnknownObject
from samvid.core.prompts import Prompt
from samvid.tracker.baselines import BoxTrackerEngine, CopyFirstEngine
from samvid.tracker.engine import Progress
from samvid.tracker.engines import ENGINES, make_engine
from samvid.tracker.flow_engine import FlowEngine
from samvid.tracker.metrics import region_iou


class Corrupt:
    """Wraps a frames source; frame ``bad`` raises as a broken decoder would."""

    def __init__(self, inner, bad: int, how: str = "raise") -> None:
        self.inner, self.bad, self.how = inner, bad, how

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i: int) -> np.ndarray:
        if i == self.bad:
            if self.how == "raise":
                raise OSError("corrupt packet")
            return np.zeros((3, 3, 3), np.uint8)  # wrong shape
        return self.inner[i]


@pytest.fixture
def engine() -> FlowEngine:
    return FlowEngine()


def test_empty_mask_is_refused(engine, disk_video) -> None:
    state = engine.init_state(disk_video)
    with pytest.raises(TrackingError, match="empty"):
        engine.add_mask(state, 0, 1, np.zeros((120, 160), bool))


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_frames_that_are_not_uint8_are_refused(engine, disk_video, dtype) -> None:
    frames = [disk_video[i].astype(dtype) for i in range(2)]
    with pytest.raises(TrackingError, match="uint8"):
        engine.init_state(frames)


def test_mask_of_the_wrong_size_is_refused(engine, disk_video) -> None:
    state = engine.init_state(disk_video)
    with pytest.raises(TrackingError, match="size"):
        engine.add_mask(state, 0, 1, np.ones((60, 80), bool))


def test_a_mask_with_a_channel_axis_is_refused_naming_the_shape_it_has(engine, disk_video) -> None:
    # It said "mask is 160x120, the video is 160x120": the same size twice.
    state = engine.init_state(disk_video)
    with pytest.raises(TrackingError, match=r"of shape \(120, 160, 1\), the video is 160x120"):
        engine.add_mask(state, 0, 1, disk_video.mask(0)[..., None])


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
def test_a_mask_of_values_that_are_not_finite_is_refused(engine, disk_video, bad) -> None:
    # NaN casts to True: an all-NaN float mask was taken as the whole frame.
    state = engine.init_state(disk_video)
    with pytest.raises(TrackingError, match="not finite"):
        engine.add_mask(state, 0, 1, np.full((120, 160), bad))
    partly = disk_video.mask(0).astype(np.float32)
    partly[0, 0] = np.nan
    with pytest.raises(TrackingError, match="not finite"):
        engine.add_mask(state, 0, 1, partly)
    engine.add_mask(state, 0, 1, disk_video.mask(0).astype(np.float32))  # a finite float mask is fine


@pytest.mark.parametrize("frame", [-1, 6, 1000])
def test_frame_outside_the_video_is_refused(engine, disk_video, frame) -> None:
    state = engine.init_state(disk_video)
    with pytest.raises(TrackingError, match="outside the video"):
        engine.add_mask(state, frame, 1, disk_video.mask(0))
    engine.add_mask(state, 0, 1, disk_video.mask(0))
    with pytest.raises(TrackingError, match="outside the video"):
        list(engine.propagate(state, start=frame))


def test_removing_an_unknown_object_says_which_exist(engine, disk_video) -> None:
    state = engine.init_state(disk_video)
    engine.add_mask(state, 0, 1, disk_video.mask(0))
    with pytest.raises(UnknownObject, match=r"object 7 .*\[1\]"):
        engine.remove_object(state, 7)


def test_propagating_without_any_mask_is_refused(engine, disk_video) -> None:
    with pytest.raises(TrackingError, match="add a mask"):
        list(engine.propagate(engine.init_state(disk_video)))


def test_a_model_free_engine_refuses_clicks(engine, disk_video) -> None:
    state = engine.init_state(disk_video)
    with pytest.raises(TrackingError, match="no model"):
        engine.add_prompt(state, 0, 1, Prompt(points=((50.0, 60.0),), labels=(1,)))


def test_removed_object_is_no_longer_reported(engine, disk_video) -> None:
    state = engine.init_state(disk_video)
    engine.add_mask(state, 0, 1, disk_video.mask(0))
    engine.add_mask(state, 0, 2, np.pad(np.ones((10, 10), bool), ((0, 110), (0, 150))))
    engine.remove_object(state, 2)
    assert {fm.object_ids for fm in engine.propagate(state)} == {(1,)}


def test_every_frame_reports_every_object_with_ids_kept(engine, disk_video) -> None:
    state = engine.init_state(disk_video)
    corner = np.zeros((120, 160), bool)
    corner[90:115, 120:150] = True
    engine.add_mask(state, 0, 5, corner)
    engine.add_mask(state, 0, 2, disk_video.mask(0))
    out = list(engine.propagate(state))
    assert [fm.frame for fm in out] == list(range(6))
    assert all(fm.object_ids == (2, 5) for fm in out)
    assert region_iou(out[-1].mask_of(2), disk_video.mask(5)) > 0.9


@pytest.mark.parametrize("how", ["raise", "shape"])
def test_corrupt_frame_is_skipped_and_reported_and_propagation_continues(engine, disk_video, how) -> None:
    frames = Corrupt(disk_video, 3, how)
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 1, disk_video.mask(0))
    out = list(engine.propagate(state))
    assert [fm.frame for fm in out] == [0, 1, 2, 4, 5]
    assert state.progress.skipped == [3]
    assert region_iou(out[-1].mask_of(1), disk_video.mask(5)) > 0.85


@pytest.mark.parametrize("name", ["copy", "flow"])
def test_an_object_given_on_a_frame_that_cannot_be_read_enters_on_the_next_one(name, disk_video) -> None:
    engine = make_engine(name)
    state = engine.init_state(Corrupt(disk_video, bad=2))
    engine.add_mask(state, 0, 1, disk_video.mask(0))
    late = np.zeros(disk_video.mask(0).shape, bool)
    late[5:25, 5:25] = True
    engine.add_mask(state, 2, 2, late)
    visible = {fm.frame: bool(fm.visible[1]) for fm in engine.propagate(state, max_frames=5)}
    assert visible == {0: False, 1: False, 3: True, 4: True} and state.progress.skipped == [2]


def test_correction_on_a_later_frame_replaces_the_tracked_mask(engine, disk_video) -> None:
    state = engine.init_state(disk_video)
    engine.add_mask(state, 0, 1, disk_video.mask(0))
    fixed = np.zeros((120, 160), bool)
    fixed[10:30, 10:30] = True
    engine.add_mask(state, 3, 1, fixed)
    out = {fm.frame: fm for fm in engine.propagate(state)}
    assert np.array_equal(out[3].mask_of(1), fixed)


def test_new_object_enters_on_the_frame_it_was_given(engine, disk_video) -> None:
    state = engine.init_state(disk_video)
    engine.add_mask(state, 0, 1, disk_video.mask(0))
    engine.add_mask(state, 2, 9, disk_video.mask(2))
    out = list(engine.propagate(state))
    assert not out[1].visible[out[1].object_ids.index(9)]
    assert out[2].visible[out[2].object_ids.index(9)]


def test_cancel_stops_between_frames_and_is_reported(engine, disk_video) -> None:
    state = engine.init_state(disk_video)
    engine.add_mask(state, 0, 1, disk_video.mask(0))
    seen = []
    for fm in engine.propagate(state):
        seen.append(fm.frame)
        if fm.frame == 2:
            state.cancel.set()
    assert seen == [0, 1, 2]
    assert state.progress.cancelled and state.progress.frames_done == 3


def test_progress_counts_frames_and_speed(engine, disk_video) -> None:
    state = engine.init_state(disk_video)
    engine.add_mask(state, 0, 1, disk_video.mask(0))
    reports: list[int] = []
    list(engine.propagate(state, max_frames=4, on_progress=lambda p: reports.append(p.frames_done)))
    assert reports == [1, 2, 3, 4]
    assert state.progress.frames_total == 4 and state.progress.fps > 0
    assert Progress().fps == 0.0


def test_object_that_leaves_the_frame_is_reported_empty_not_stale() -> None:
    from tests.tracker.conftest import DiskVideo

    video = DiskVideo(n=10, step=(20.0, 0.0), start=(60.0, 60.0))  # gone by frame 6
    engine = FlowEngine()
    state = engine.init_state(video)
    engine.add_mask(state, 0, 1, video.mask(0))
    gone = []
    for fm in engine.propagate(state):
        if not video.mask(fm.frame).any():
            assert not fm.visible[0] and not fm.masks[0].any(), fm.frame
            gone.append(fm.frame)
    assert gone == [6, 7, 8, 9]  # every frame after it left was walked and checked


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_every_engine_runs_and_keeps_ids(name, disk_video) -> None:
    engine = make_engine(name)
    state = engine.init_state(disk_video)
    engine.add_mask(state, 0, 3, disk_video.mask(0))
    out = list(engine.propagate(state, max_frames=3))
    assert [fm.object_ids for fm in out] == [(3,)] * 3


# Sizes OpenCV's DIS flow cannot take as they are: under 12 px (refused), 13x100 (a
# segfault with the fast presets), too small for the preset's pyramid (uninitialised).
TINY = [(2, 2), (8, 8), (1, 40), (13, 100), (100, 13), (24, 70)]


@pytest.mark.parametrize("name", sorted(ENGINES))
@pytest.mark.parametrize("size", TINY, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_engine_tracks_a_video_of_a_few_pixels(name, size) -> None:
    h, w = size
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (h, w, 3), np.uint8) for _ in range(3)]
    mask = np.zeros((h, w), bool)
    mask[: max(1, h // 2), : max(1, w // 2)] = True
    engine = make_engine(name)
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 1, mask)
    out = list(engine.propagate(state))
    assert [fm.frame for fm in out] == [0, 1, 2]
    assert all(fm.masks.shape == (1, h, w) for fm in out)


@pytest.mark.parametrize("side", [1, 2, 4])
def test_box_baseline_follows_an_object_of_a_few_pixels(side) -> None:
    # OpenCV's MIL tracker loops forever on a box this small when given it as it is.
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (120, 160, 3), np.uint8)] * 3
    mask = np.zeros((120, 160), bool)
    mask[50 : 50 + side, 70 : 70 + side] = True
    engine = BoxTrackerEngine()
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 1, mask)
    for fm in engine.propagate(state):
        assert fm.mask_of(1).sum() == side * side  # the object's own size, wherever it is


def test_unknown_engine_name_lists_the_choices() -> None:
    with pytest.raises(TrackingError, match="flow"):
        make_engine("nope")


def test_copy_and_box_baselines_report_the_first_mask_on_the_first_frame(disk_video) -> None:
    for engine in (CopyFirstEngine(), BoxTrackerEngine()):
        state = engine.init_state(disk_video)
        engine.add_mask(state, 0, 1, disk_video.mask(0))
        first = next(iter(engine.propagate(state)))
        assert np.array_equal(first.mask_of(1), disk_video.mask(0))


@pytest.mark.parametrize("reverse", [False, True])
def test_walk_starts_from_the_given_mask_nearest_to_the_start_frame(reverse, disk_video) -> None:
    engine = CopyFirstEngine()  # copies its seed: shows exactly which mask seeded the walk
    state = engine.init_state(disk_video)
    engine.add_mask(state, 0, 1, disk_video.mask(0))
    engine.add_mask(state, 5, 1, disk_video.mask(5))
    first = next(iter(engine.propagate(state, start=2 if not reverse else 3, reverse=reverse)))
    expect = disk_video.mask(0) if not reverse else disk_video.mask(5)
    assert np.array_equal(first.mask_of(1), expect)


def test_warp_snap_gives_the_same_masks_whatever_opencvs_random_state(disk_video) -> None:
    import cv2

    def run(seed: int) -> list[bytes]:
        cv2.setRNGSeed(seed)  # whatever ran before in the process
        engine = make_engine("warp-snap")
        state = engine.init_state(disk_video)
        engine.add_mask(state, 0, 1, disk_video.mask(0))
        return [fm.masks.tobytes() for fm in engine.propagate(state, max_frames=6)]

    assert run(1) == run(5) == run(1234)


@pytest.mark.parametrize("name", ["flow", "flow-preview", "rigid", "rigid-preview"])
@pytest.mark.parametrize("shape", ["1 px bar", "2 px bar", "2x2 dot"])
def test_a_thin_or_tiny_object_is_kept_on_a_video_where_nothing_moves(name, shape) -> None:
    import cv2

    rng = np.random.default_rng(3)
    noise = cv2.GaussianBlur(rng.random((64, 80, 3)).astype(np.float32), (0, 0), 1.2)
    frame = (noise * 765 - 255).clip(0, 255).astype(np.uint8)
    mask = np.zeros((64, 80), bool)
    if shape == "2x2 dot":
        mask[30:32, 40:42] = True
    else:
        mask[10:50, 30 : 30 + int(shape[0])] = True
    frame[mask] = (255, 0, 0)
    engine = make_engine(name)
    state = engine.init_state([frame] * 4)
    engine.add_mask(state, 0, 1, mask)
    assert [region_iou(fm.masks[0], mask) > 0.5 for fm in engine.propagate(state)] == [True] * 4


@pytest.mark.parametrize("shape", ["2x2 dot", "3x3 dot", "1 px bar", "2 px bar"])
def test_a_dot_or_a_line_a_pixel_or_two_wide_is_followed_as_it_moves(shape) -> None:
    # Too thin for ECC, the rigid witness reported the unmoved given view as aligned
    # (correlation 1) or confirmed by a flow fit that is its background's: `flow` took
    # that for the object and lost it after 2-4 frames of 3 px each.
    import cv2

    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(60, 140, (200, 320, 3), np.uint8), (0, 0), 2)
    frames, truth = [], []
    for i in range(8):
        mask = np.zeros((200, 320), bool)
        y, x = 60 + i, 40 + 3 * i
        if shape.endswith("dot"):
            mask[y : y + int(shape[0]), x : x + int(shape[0])] = True
        else:
            mask[y : y + 50, x : x + int(shape[0])] = True
        frame = background.copy()
        frame[mask] = (250, 30, 30)
        frames.append(frame)
        truth.append(mask)
    engine = make_engine("flow")
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 1, truth[0])
    assert [region_iou(fm.masks[0], truth[fm.frame]) > 0.9 for fm in engine.propagate(state)] == [True] * 8


def moving_square(count: int = 10) -> tuple[list[np.ndarray], np.ndarray]:
    """A textured square moving 3 px a frame to the right over noise; its first mask."""
    rng = np.random.default_rng(0)
    background = rng.integers(0, 256, (120, 160, 3), np.uint8)
    texture = rng.integers(0, 256, (30, 30, 3), np.uint8)
    frames = []
    for i in range(count):
        frame = background.copy()
        frame[40:70, 20 + 3 * i : 50 + 3 * i] = texture
        frames.append(frame)
    mask = np.zeros((120, 160), bool)
    mask[40:70, 20:50] = True
    return frames, mask


def box_masks(frames: list[np.ndarray], mask: np.ndarray) -> list[np.ndarray]:
    engine = BoxTrackerEngine()
    state = engine.init_state(frames)
    engine.add_mask(state, 0, 1, mask)
    return [fm.mask_of(1) for fm in engine.propagate(state)]


def test_box_baseline_gives_the_same_masks_on_every_run() -> None:
    # OpenCV's MIL tracker picks random features and samples when it starts.
    frames, mask = moving_square()
    first, second = box_masks(frames, mask), box_masks(frames, mask)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_box_baseline_runs_at_once_in_two_threads_give_a_lone_runs_masks() -> None:
    frames, mask = moving_square()
    alone = box_masks(frames, mask)
    results: list[list[np.ndarray]] = []
    threads = [threading.Thread(target=lambda: results.append(box_masks(frames, mask)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    for masks in results:
        assert all(np.array_equal(a, b) for a, b in zip(alone, masks, strict=True))


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_an_object_id_of_zero_or_past_int32_is_tracked_like_any_other(name, disk_video) -> None:
    # flow took id 0 for "no object" and gave it the whole background; ids past int32 crashed.
    still = np.zeros(disk_video.mask(0).shape, bool)
    still[5:30, 110:150] = True

    def masks(ids: tuple[int, int]) -> list[np.ndarray]:
        engine = make_engine(name)
        state = engine.init_state(disk_video)
        engine.add_mask(state, 0, ids[0], disk_video.mask(0))
        engine.add_mask(state, 0, ids[1], still)
        out = list(engine.propagate(state))
        assert all(fm.object_ids == ids for fm in out)
        return [fm.masks for fm in out]

    plain = masks((1, 2))
    for ids in [(0, 2), (1, 2**31), (0, 2**40)]:
        assert all(np.array_equal(a, b) for a, b in zip(plain, masks(ids), strict=True)), ids


@pytest.mark.parametrize("name", ["copy", "flow", "rigid"])
def test_a_video_whose_first_frame_cannot_be_read_is_tracked_from_the_next(name, disk_video) -> None:
    # init_state read frame 0 for the video's size and let its decoder error through.
    engine = make_engine(name)
    state = engine.init_state(Corrupt(disk_video, bad=0))
    assert (state.height, state.width) == (120, 160)
    engine.add_mask(state, 0, 1, disk_video.mask(0))
    out = list(engine.propagate(state))
    assert [fm.frame for fm in out] == [1, 2, 3, 4, 5] and state.progress.skipped == [0]
    assert all(fm.visible[0] for fm in out)


def test_a_video_no_frame_of_which_can_be_read_says_why() -> None:
    class Broken:
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int) -> np.ndarray:
            raise OSError(f"corrupt packet {i}")

    with pytest.raises(OSError, match="corrupt packet 0"):
        FlowEngine().init_state(Broken())


@pytest.mark.parametrize("bad", ["car", 2.7, None, float("inf"), True],
                         ids=["word", "fraction", "none", "infinite", "boolean"])
def test_an_object_id_that_is_not_an_integer_is_refused(engine, disk_video, bad) -> None:
    # 2.7 was cut to 2 and silently replaced object 2's mask; "car" raised a bare ValueError,
    # an infinite float a bare OverflowError; True was taken for object 1.
    state = engine.init_state(disk_video)
    engine.add_mask(state, 0, 2, disk_video.mask(0))
    with pytest.raises(TrackingError, match="integer id"):
        engine.add_mask(state, 0, bad, np.roll(disk_video.mask(0), 30, axis=1))
    assert state.object_ids == (2,) and np.array_equal(state.inputs[0][2], disk_video.mask(0))


def test_an_object_given_by_a_string_of_digits_is_removed_by_it(engine, disk_video) -> None:
    # add_mask took "3" as 3; remove_object looked for "3" and said "object 3 is not
    # tracked (known: [3])".
    state = engine.init_state(disk_video)
    engine.add_mask(state, 0, "3", disk_video.mask(0))
    engine.remove_object(state, "3")
    assert state.object_ids == ()
