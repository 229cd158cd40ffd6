"""One rule for a region's id as a key (``results.region_key``): the text Label Studio's
editor compares. The editor parses a result's JSON, so the id 1.0 a script wrote is the
number 1 there and names the region that the brush saved with id 1 is: its labels, object
id and attributes are that region's. A string is text as it stands ("1.0" is no number)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from label_configs import SEPARATE_WITH_IDENTITY

from samvid.propagation import seeds_from_result
from samvid.propagation.supersede import Read
from samvid.studio.protocol import parse_config
from samvid.studio.results import (
    given_object_id,
    joined_labels,
    mask_regions,
    object_numbers,
    object_region_id,
    region_ids,
    region_key,
    twin_key,
)

CONFIG = SEPARATE_WITH_IDENTITY
TARGET = parse_config(CONFIG)


def disk(cx: int = 20, cy: int = 20) -> np.ndarray:
    y, x = np.ogrid[:40, :50]
    return (x - cx) ** 2 + (y - cy) ** 2 <= 36


def car(brush_id: Any, other_id: Any, object_id: int | None = 7, cx: int = 20) -> list[dict]:
    """A car as the editor saves it (brush, labels twin, object id, attribute), the brush
    saved with id ``brush_id`` and the region's other results with ``other_id``."""
    geometry, twin = mask_regions(disk(cx), TARGET, ["car"], region_id="placeholder")
    number = [{"id": other_id, "from_name": "object_id", "to_name": "image", "type": "number",
               "value": {"number": object_id}}] if object_id is not None else []
    state = {"id": other_id, "from_name": "state", "to_name": "image", "type": "choices",
             "value": {"choices": ["parked"]}}
    return [{**geometry, "id": brush_id}, {**twin, "id": other_id}, *number, state]


@pytest.mark.parametrize("value, key", [
    # a whole number is its digits, however JSON wrote it
    (1, "1"), (1.0, "1"), (0, "0"), (0.0, "0"), (-0.0, "0"), (-3.0, "-3"), (1e16, "10000000000000000"),
    # any other number its shortest digits
    (1.5, "1.5"), (0.1, "0.1"), (-2.25, "-2.25"), (123456.789, "123456.789"),
    # a string is the id as it stands: "1.0" is text, not the number 1
    ("1", "1"), ("1.0", "1.0"), (" 1", " 1"), ("a~2", "a~2"), ("", ""),
    # JSON's true is no number
    (True, "true"), (False, "false"),
])
def test_a_region_id_is_keyed_as_the_editor_writes_it_as_text(value, key) -> None:
    assert region_key(value) == key


def test_json_true_is_not_the_number_1() -> None:
    # Python's True is an int; JSON's true is no number, and the editor's text of it is "true".
    assert region_key(True) != region_key(1) and region_key(False) != region_key(0)


@pytest.mark.parametrize("value, key", [(1.0, "1"), ("1.0", "1.0"), ("1~2", "1"), ("1.0~2", "1.0"), (3, "3")])
def test_a_parts_object_is_read_from_the_raw_id_with_the_same_rule(value, key) -> None:
    assert object_region_id(value) == key


def test_every_key_of_a_regions_results_uses_the_rule() -> None:
    result = car(1, 1.0)
    assert region_ids(result) == {"1"}
    numbers = object_numbers(result, "object_id")
    assert numbers == {"1": 7}
    assert given_object_id(result[0], object_region_id(result[0]["id"]), numbers) == (7, False)
    assert twin_key(result[0]) == twin_key(result[1])


@pytest.mark.parametrize("brush_id, other_id", [(1, 1.0), (1.0, 1), ("1", 1.0), (2.0, 2.0)])
def test_a_brush_and_its_labels_saved_with_1_and_1_0_are_one_labelled_region(brush_id, other_id) -> None:
    (joined, *_) = joined_labels(car(brush_id, other_id), ["brush"], ["kind"])
    assert joined["type"] == "brushlabels" and joined["value"]["brushlabels"] == ["car"]


@pytest.mark.parametrize("brush_page, labels_page", [(0, 0.0), (0, None), (None, 0), (2, 2.0)])
def test_a_brush_and_its_labels_saved_with_page_0_0_or_none_are_one_labelled_region(brush_page, labels_page) -> None:
    # The editor keys a region by its id alone: a script's page 0.0 (or none) is the brush's page 0.
    brush, labels, *rest = car(1, 1)
    brush, labels = dict(brush, item_index=brush_page), dict(labels, item_index=labels_page)
    (joined, *_) = joined_labels([brush, labels, *rest], ["brush"], ["kind"])
    assert joined["type"] == "brushlabels" and joined["value"]["brushlabels"] == ["car"]


@pytest.mark.parametrize("brush_id, other_id", [("1.0", 1), (1.5, 1), (True, 1)])
def test_ids_the_editor_shows_as_two_regions_stay_two(brush_id, other_id) -> None:
    (joined, twin, *_) = joined_labels(car(brush_id, other_id), ["brush"], ["kind"])
    assert (joined["type"], joined["value"]["brushlabels"], twin["type"]) == ("brushlabels", [], "labels")


@pytest.mark.parametrize("brush_id, other_id", [(1, 1.0), (1.0, 1)])
def test_propagation_reads_a_region_saved_with_1_and_1_0_as_one_object_with_its_label_and_id(
        brush_id, other_id) -> None:
    (seed,) = seeds_from_result(car(brush_id, other_id), TARGET)
    assert (seed.identity, seed.region_id, seed.labels) == ((True, "7"), "1", ("car",))
    assert sorted(extra["from_name"] for extra in seed.extras) == ["object_id", "state"]


def test_without_an_object_id_propagation_tracks_the_region_by_its_key() -> None:
    (seed,) = seeds_from_result(car(1.0, "1", object_id=None), TARGET)
    assert (seed.identity, seed.labels) == ((False, "1"), ("car",))
    assert [extra["from_name"] for extra in seed.extras] == ["state"]


def test_a_job_for_the_object_compares_every_result_of_its_region() -> None:
    # A job for object 7 stops when the frame's object 7 changes: its brush (id 1) is as much
    # that object as its Number and attribute (id 1.0).
    result = car(1, 1.0)
    read = Read.of(result, TARGET, frozenset({(True, "7")}))
    assert [(r["from_name"], r["id"]) for r in read.part] == [("brush", 1), ("object_id", 1.0), ("state", 1.0)]
    moved = [{**result[0], "value": {**result[0]["value"], "rle": mask_regions(
        disk(cx=30), TARGET, ["car"], region_id="x")[0]["value"]["rle"]}}, *result[1:]]
    assert not read.holds(moved)
