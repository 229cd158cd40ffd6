from __future__ import annotations

import numpy as np
from PIL import Image
from synthetic import (
    BENCHMARK_SET,
    SequenceSpec,
    SyntheticVideo,
    render_still,
    with_frames,
    write_sequence,
)

SMALL = (96, 170)


def test_same_spec_renders_the_same_frames() -> None:
    spec = with_frames(BENCHMARK_SET["crossing"], 6)
    a, b = SyntheticVideo(spec, SMALL), SyntheticVideo(spec, SMALL)
    for i in range(6):
        assert np.array_equal(a[i], b[i])
        assert np.array_equal(a.labels(i), b.labels(i))


def test_labels_hold_exactly_the_object_ids() -> None:
    spec = BENCHMARK_SET["crossing"]
    v = SyntheticVideo(spec, SMALL)
    ids = {o.obj_id for o in spec.objects}
    assert set(np.unique(v.labels(0))) == ids | {0}


def test_crossing_changes_which_object_is_in_front() -> None:
    v = SyntheticVideo(BENCHMARK_SET["crossing"])
    # Object 3 passes behind object 2 mid-sequence and is then hidden entirely.
    areas = [(v.labels(i) == 3).sum() for i in range(len(v))]
    assert areas[0] > 0 and min(areas) == 0 and areas[-1] > 0


def test_exit_return_object_leaves_and_comes_back() -> None:
    v = SyntheticVideo(BENCHMARK_SET["exit_return"], SMALL)
    areas = [(v.labels(i) == 1).sum() for i in range(len(v))]
    gone = [i for i, a in enumerate(areas) if a == 0]
    assert gone and areas[0] > 0 and areas[-1] > 0 and gone[-1] < len(v) - 1


def test_fast_sequence_moves_at_least_20_px_per_frame_at_480p() -> None:
    v = SyntheticVideo(BENCHMARK_SET["fast"])
    speeds = [np.hypot(v.pose(0, i).x - v.pose(0, i - 1).x, v.pose(0, i).y - v.pose(0, i - 1).y)
              for i in range(1, len(v))]
    assert np.median(speeds) >= 20


def test_scale_sequence_grows_threefold() -> None:
    v = SyntheticVideo(BENCHMARK_SET["scale"])
    scales = [v.pose(0, i).scale for i in range(len(v))]
    assert max(scales) / min(scales) >= 2.9


def test_write_sequence_writes_davis_layout_with_palette_pngs(tmp_path) -> None:
    spec = SequenceSpec("tiny", 1, BENCHMARK_SET["basic"].objects, n_frames=3)
    write_sequence(spec, tmp_path, SMALL)
    jpgs = sorted((tmp_path / "JPEGImages" / "tiny").glob("*.jpg"))
    pngs = sorted((tmp_path / "Annotations" / "tiny").glob("*.png"))
    assert [p.name for p in jpgs] == ["00000.jpg", "00001.jpg", "00002.jpg"]
    assert len(pngs) == 3
    with Image.open(pngs[0]) as im:
        assert im.mode == "P"
        assert np.array_equal(np.asarray(im), SyntheticVideo(spec, SMALL).labels(0))


def test_render_still_gives_disjoint_masks_that_match_the_image_size() -> None:
    img, masks = render_still(5, (120, 160), n_objects=3)
    assert img.shape == (120, 160, 3) and img.dtype == np.uint8
    assert sorted(masks) == [1, 2, 3]
    total = sum(m.astype(int) for m in masks.values())
    assert total.max() <= 1
    assert all(m.shape == (120, 160) and m.dtype == bool for m in masks.values())
