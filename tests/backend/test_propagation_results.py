"""What a propagated frame writes to Label Studio: one region per visible object, named as
the human named it."""

from __future__ import annotations

import numpy as np

from samvid.propagation import ObjectSeed, frame_results
from samvid.studio.protocol import MaskTarget
from samvid.studio.results import decode_brush
from samvid.tracker.masks import FrameMasks

TARGET = MaskTarget("image", "image", False, "tag", "brushlabels", ("Car", "Person", "Dog"))


def square(x: int) -> np.ndarray:
    m = np.zeros((20, 40), bool)
    m[5:15, x : x + 10] = True
    return m


def test_each_region_carries_its_own_objects_label_when_a_stretch_tracks_only_some_objects():
    # The job knows objects 1..3; this stretch's human frames hold only 1 and 3.
    seeds = {1: ObjectSeed("1", "car", "Car", square(0)), 2: ObjectSeed("2", "walker", "Person", square(10)),
             3: ObjectSeed("3", "dog", "Dog", square(25))}
    fm = FrameMasks(7, (1, 3), np.stack([square(2), square(27)]), np.array([0.9, 0.7], np.float32),
                    np.array([True, True]))
    result, score = frame_results(fm, seeds, TARGET)
    by_id = {r["id"]: r for r in result}
    assert set(by_id) == {"car", "dog"}
    assert by_id["dog"]["value"]["brushlabels"] == ["Dog"]
    assert np.array_equal(decode_brush(by_id["dog"]), square(27))
    assert abs(score - 0.8) < 1e-6


def test_an_object_out_of_view_gets_no_region():
    seeds = {1: ObjectSeed("1", "car", "Car", square(0))}
    fm = FrameMasks(3, (1,), np.zeros((1, 20, 40), bool), np.zeros(1, np.float32), np.array([False]))
    assert frame_results(fm, seeds, TARGET) == ([], 0.0)
