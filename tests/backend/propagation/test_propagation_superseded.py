"""A job stopped because a human frame it tracks from changed (``superseded``) says what
stopped it, which frames it left unwritten and how to fill them, promising no other job
(the webhook's may run the other way, a deletion starts none); a pre-labelling so stopped
on a stretch counts it as not propagated; and a job for some objects is stopped by an edit
of those objects only, not of another object on the same frame. In memory: no Label
Studio, the tracker over flat frames."""

from __future__ import annotations

from typing import Any

from memory_clip import Context, box_region
from memory_clip import memory_clip as _clip

from samvid.propagation import PropagationRequest


def _car(x: int = 5, region_id: str = "car") -> dict[str, Any]:
    return box_region("Car", region_id, x)


def _person(x: int = 25) -> dict[str, Any]:
    return box_region("Person", "person", x)


def test_a_backward_job_stopped_by_a_correction_names_the_frames_left_and_the_request_that_fills_them():
    human = {7: [_car(5)]}

    def correct(frame: int) -> None:
        if frame == 5:
            human[7] = [_car(20)]

    propagator, written = _clip(human, 8, correct)
    ctx = Context()
    result = propagator.run(PropagationRequest(1, "c", 7, direction="backward"), ctx)
    assert written == [6, 5] and result["superseded"]
    note = ctx.notes[-1]
    assert "frame 7's annotation changed" in note
    assert "frames 0-4 left unwritten" in note
    assert "propagate frame 7 (direction backward, not bridged) again" in note
    # The webhook's job for the correction goes forward: nothing fills frames 0-4 unasked.
    assert "the job its change started" not in note


def test_a_job_whose_frame_loses_its_annotation_says_it_was_deleted_and_what_fills_the_frames_left():
    human = {0: [_car(5)]}

    def delete(frame: int) -> None:
        if frame == 2:
            del human[0]  # a deletion starts no job (Label Studio's event names no task)

    propagator, written = _clip(human, 8, delete)
    ctx = Context()
    result = propagator.run(PropagationRequest(1, "c", 0, frames=7), ctx)
    assert written == [1, 2] and result["superseded"]
    note = ctx.notes[-1]
    assert "frame 0's annotation was deleted" in note and "frames 3-7 left unwritten" in note
    # Frame 0 was the clip's only human frame: no frame before it can fill them.
    assert "no human frame before frame 0 is left to fill them" in note
    assert "the job its change started" not in note


def test_a_job_whose_frame_loses_its_annotation_names_the_human_frame_before_it_to_propagate():
    human = {0: [_car(5)], 3: [_car(5)]}

    def delete(frame: int) -> None:
        if frame == 5:
            del human[3]

    propagator, written = _clip(human, 8, delete)
    ctx = Context()
    assert propagator.run(PropagationRequest(1, "c", 3, frames=4), ctx)["superseded"]
    assert "propagate frame 0 again (its stretch now runs over frame 3) to fill them" in ctx.notes[-1]


def test_a_bridged_job_whose_other_end_task_is_deleted_says_so_and_to_propagate_its_frame_again():
    human = {0: [_car(5)], 6: [_car(5)]}
    gone: set[int] = set()
    propagator, written = _clip(human, 7, lambda frame: gone.add(6), gone)
    ctx = Context()
    assert propagator.run(PropagationRequest(1, "c", 0, bridge=True), ctx)["superseded"]
    note = ctx.notes[-1]
    assert "frame 6's task was deleted" in note
    assert f"frames {written[-1] + 1}-5 left unwritten" in note
    assert "propagate frame 0 (direction forward, bridged) again" in note


def test_a_job_for_one_object_goes_on_when_another_object_on_its_frame_is_edited():
    human = {0: [_car(5), _person(25)]}

    def move_person(frame: int) -> None:
        if frame == 2:
            human[0] = [human[0][0], _person(28)]

    propagator, written = _clip(human, 8, move_person)
    result = propagator.run(PropagationRequest(1, "c", 0, frames=7, objects=("car",)), Context())
    assert written == [1, 2, 3, 4, 5, 6, 7] and not result.get("superseded")


def test_a_job_for_one_object_stops_when_that_object_is_edited():
    human = {0: [_car(5), _person(25)]}

    def move_car(frame: int) -> None:
        if frame == 2:
            human[0] = [_car(8), human[0][1]]

    propagator, written = _clip(human, 8, move_car)
    assert propagator.run(PropagationRequest(1, "c", 0, frames=7, objects=("car",)), Context())["superseded"]
    assert written == [1, 2]


def test_a_job_for_one_object_stops_when_a_region_samvid_cannot_read_is_added_to_its_frame():
    # A smart click whose mask never came back may be the object: nothing says it is not.
    click = {"id": "k", "type": "keypointlabels", "from_name": "tag", "to_name": "image",
             "original_width": 40, "original_height": 20, "value": {"x": 20, "y": 40, "keypointlabels": ["Car"]}}
    human = {0: [_car(5), _person(25)]}

    def click_car(frame: int) -> None:
        if frame == 2:
            human[0] = [*human[0], click]

    propagator, written = _clip(human, 8, click_car)
    assert propagator.run(PropagationRequest(1, "c", 0, frames=7, objects=("car",)), Context())["superseded"]
    assert written == [1, 2]


def test_a_bridged_job_for_one_object_goes_on_when_another_object_at_the_other_end_is_edited():
    human = {0: [_car(5), _person(25)], 6: [_car(5), _person(25)]}

    def move_person(frame: int) -> None:
        human[6] = [human[6][0], _person(29)]

    propagator, written = _clip(human, 7, move_person)
    result = propagator.run(PropagationRequest(1, "c", 0, bridge=True, objects=("car",)), Context())
    assert sorted(written) == [1, 2, 3, 4, 5] and not result.get("superseded")


def test_a_bridged_job_for_one_object_stops_when_it_is_drawn_anew_at_the_other_end():
    # The car has left by frame 6; drawn again there it has a new region id, and is paired
    # with the car of frame 0 (a redraw): the stretch is tracked to it now.
    human = {0: [_car(5), _person(25)], 6: [_person(25)]}

    def redraw_car(frame: int) -> None:
        human[6] = [*human[6], _car(5, region_id="car-again")]

    propagator, written = _clip(human, 7, redraw_car)
    result = propagator.run(PropagationRequest(1, "c", 0, bridge=True, objects=("car",)), Context())
    assert result["superseded"] and len(written) == 1


def test_a_prelabel_stopped_on_a_stretch_by_a_change_at_its_far_end_lists_it_as_not_propagated():
    from samvid.prelabel import Prelabeler, PrelabelRequest

    human = {0: [_car(5)], 6: [_car(5)]}

    def correct(frame: int) -> None:
        if frame == 2:
            human[6] = [_car(30)]  # its webhook job (forward, unbridged) never writes frames 1-5

    propagator, written = _clip(human, 7, correct)
    rows = propagator.clip_tasks(1, "c")
    prelabeler = Prelabeler(propagator.studio, lambda: None, propagator)
    prelabeler.tasks = lambda req: rows
    marked: list[int] = []
    prelabeler._mark_done = lambda task_id, engine: marked.append(task_id)
    prelabeler._annotated_inside = lambda req, run: False
    ctx = Context()
    result = prelabeler.run(PrelabelRequest(1, "c", mode="propagate", force=True), ctx)
    assert result["not_propagated"] == ["c:0"] and result["propagations"] == 0  # the command exits 1
    assert marked == []
    # The propagation's note says which frames are left and why; the job's last, what to run.
    assert "frames 3-5 left unwritten" in ctx.notes[-2]
    assert "run the same samvid prelabel command again" in ctx.notes[-1]
