"""A job for some ``objects`` whose frame lacks a few of them tracks the others, and says
which it lacks: in its result (``objects_missing``) and its note."""

from __future__ import annotations

import pytest
from test_propagation_results import TARGET, _car, _dot, _propagated_in_memory

from samvid.errors import BadRequest
from samvid.propagation import PropagationRequest
from samvid.studio.results import mask_region


def test_a_job_tracks_the_objects_its_frame_has_and_names_the_ones_it_lacks():
    # Dropped without a word when another one matched: a typo left an object untracked under "done".
    human = {0: [mask_region(_car(), TARGET, ["Car"], region_id="car"), _dot(30)]}
    notes: list[str] = []
    req = PropagationRequest(1, "c", 0, engine="copy", objects=("car", "cra", 9))
    result, written, _ = _propagated_in_memory(human, 4, req, notes=notes)
    assert result == {"frames_written": 3, "frames_empty": 0, "objects_missing": ["cra", 9]}
    assert sorted(written) == [1, 2, 3] and all([r["id"] for r in written[k]] == ["car"] for k in (1, 2, 3))
    assert notes[-1] == ("no object of frame 0 is named 'cra', 9 (of those asked for): not tracked; an object with an "
                         "object-id number is named by that number, and a region samvid cannot read is no object "
                         "(draw it again)")


def test_a_job_that_lacks_none_of_its_objects_says_nothing_of_them():
    human = {0: [mask_region(_car(), TARGET, ["Car"], region_id="car")]}
    result, _, _ = _propagated_in_memory(human, 3, PropagationRequest(1, "c", 0, engine="copy", objects=("car",)))
    assert "objects_missing" not in result


def test_a_job_asking_for_more_objects_than_it_takes_counts_those_asked_for_not_the_frame():
    # A payload queued before requests counted their objects: "propagate them in groups with
    # 'objects'" advised the groups already asked for.
    human = {0: [_dot(i) for i in range(150)]}
    req = PropagationRequest(1, "c", 0, engine="copy", objects=tuple(f"o{i}" for i in range(101)))
    with pytest.raises(BadRequest, match=r"frame 0: 101 asked for \(of the frame's 150 objects\); a job takes "
                                         r"at most 100: split them into groups") as refused:
        _propagated_in_memory(human, 3, req)
    assert "samvid propagate --object" not in str(refused.value)
