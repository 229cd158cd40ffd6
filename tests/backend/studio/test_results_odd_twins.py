"""Imported separate-form results whose fields are not what the editor saves (hand-edited
JSON): read as well as they can be, never a crash of whatever reads them; and a damaged
brush RLE said in words a user can act on."""

from __future__ import annotations

import numpy as np
import pytest
from label_configs import SEPARATE

from samvid.propagation import seeds_from_result
from samvid.studio.protocol import parse_config
from samvid.studio.results import brush_result, decode_brush, joined_labels, mask_regions


def disk() -> np.ndarray:
    y, x = np.ogrid[:40, :50]
    return (x - 20) ** 2 + (y - 20) ** 2 <= 36


@pytest.mark.parametrize("kind", ["brush", "labels"])
@pytest.mark.parametrize("field", ["to_name", "item_index"])
def test_a_list_for_a_regions_image_or_page_is_no_match_not_a_crash(kind, field) -> None:
    good = mask_regions(disk(), parse_config(SEPARATE), ["Car"], region_id="c")
    odd = [{**r, "id": "k", field: ["image"]} if r["type"] == kind else {**r, "id": "k"} for r in good]
    joined = joined_labels([*good, *odd], ["brush"], ["labels"])
    assert joined[0]["type"] == "brushlabels" and joined[0]["value"]["brushlabels"] == ["Car"]
    seeds = seeds_from_result([*good, *odd], parse_config(SEPARATE))
    assert (False, "c") in [s.identity for s in seeds]


def test_a_brush_rle_cut_short_is_said_to_be_malformed_with_what_to_do() -> None:
    mask = np.zeros((48, 64), bool)
    mask[5:20, 5:30] = True
    result = brush_result(mask, from_name="mask", to_name="image", labels=["car"])
    cut = {**result, "value": {**result["value"], "rle": result["value"]["rle"][:10]}}
    with pytest.raises(ValueError, match=r"brush RLE is malformed \(cut short\?\): redraw the region"):
        decode_brush(cut)

