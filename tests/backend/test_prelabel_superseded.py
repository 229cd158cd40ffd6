"""A stretch of ``samvid prelabel --mode propagate`` whose human frame changes while it is
filled: the rest is left, the run says to run the same command again, and that next run
finds the stretch unfinished. In memory: no Label Studio, the tracker over flat frames."""

from __future__ import annotations

import logging
from typing import Any

from memory_clip import Context, box_region, memory_clip

from samvid.prelabel import Prelabeler, PrelabelRequest


def test_a_stretch_superseded_after_its_last_frame_was_written_is_left_for_the_next_run(caplog):
    # An object coming into view: frame 0 has none, frame 5 a car. The stretch between is
    # tracked back from frame 5, its last frame (4) written first; frame 5 is corrected then.
    human: dict[int, list[dict[str, Any]]] = {0: [], 5: [box_region(x=5)]}
    propagator, _ = memory_clip(human, 8)
    held: dict[int, list[dict[str, Any]]] = {}  # samvid's prediction on each task

    def replace(task_id: int, prefix: str, result: list[dict[str, Any]], version: str, score: float, *,
                write_empty: bool) -> None:
        if result or write_empty:
            held[task_id] = result
        else:
            held.pop(task_id, None)
        if task_id == 5 and result:
            human[5] = [box_region(x=20)]

    propagator.studio.replace_predictions = replace
    propagator.studio.own_predictions = lambda task_id, prefix, **kwargs: (
        [{"id": task_id, "result": held[task_id]}] if task_id in held else [])
    prelabeler = Prelabeler(propagator.studio, lambda: None, propagator)
    prelabeler.tasks = lambda req: propagator.clip_tasks(1, "c")
    with caplog.at_level(logging.WARNING, logger="samvid.prelabel"):
        result = prelabeler.run(PrelabelRequest(1, "c", mode="propagate", force=True), Context())
    assert result["not_propagated"] == ["c:0"]
    assert "run the same samvid prelabel command again to fill it" in caplog.text
    # The frame the next run looks at to tell a stretch done holds no mask tracked from the
    # old frame 5, so that run fills the stretch.
    assert 5 not in held


def test_a_superseded_stretch_keeps_the_mask_the_changes_own_job_wrote_on_its_last_frame():
    # As above, but the job the correction of frame 5 started writes frame 4 afresh before
    # the prelabel run sees the change: that mask is the new work's, and stays.
    human: dict[int, list[dict[str, Any]]] = {0: [], 5: [box_region(x=5)]}
    changed = {1: "2026-01-01T00:00:00Z", 6: "2026-01-01T00:00:00Z"}  # task id -> annotation time
    propagator, _ = memory_clip(human, 8)
    held: dict[int, tuple[str, list[dict[str, Any]]]] = {}  # task id -> (written at, result)

    def replace(task_id: int, prefix: str, result: list[dict[str, Any]], version: str, score: float, *,
                write_empty: bool) -> None:
        if result or write_empty:
            held[task_id] = ("2026-01-01T00:00:05Z", result)
        else:
            held.pop(task_id, None)
        if task_id == 5 and result:
            human[5], changed[6] = [box_region(x=20)], "2026-01-01T00:00:10Z"
            held[5] = ("2026-01-01T00:00:20Z", [box_region(x=20)])  # the correction's own job

    propagator.studio.replace_predictions = replace
    propagator.studio.own_predictions = lambda task_id, prefix, **kwargs: (
        [{"id": task_id, "created_at": held[task_id][0], "result": held[task_id][1]}] if task_id in held else [])
    propagator.live_annotations = lambda task_id: [{"updated_at": changed[task_id]}] if task_id in changed else []
    prelabeler = Prelabeler(propagator.studio, lambda: None, propagator)
    prelabeler.tasks = lambda req: propagator.clip_tasks(1, "c")
    result = prelabeler.run(PrelabelRequest(1, "c", mode="propagate", force=True), Context())
    assert result["not_propagated"] == ["c:0"]
    assert held[5] == ("2026-01-01T00:00:20Z", [box_region(x=20)])
