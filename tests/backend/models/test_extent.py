"""Where one click's object ends (``samvid.models.extent``), on generated images with exact masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from samvid.core.prompts import Prompt
from samvid.models.classic import ClassicSegmenter, ClassicSettings
from samvid.models.extent import object_box


def disk_scene(h: int, w: int, centre: tuple[int, int], radius: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy red disk on a noisy green background, and its exact mask."""
    rng = np.random.default_rng(0)
    mask = np.zeros((h, w), np.uint8)
    cv2.circle(mask, centre, radius, 1, thickness=-1)
    obj = mask.astype(bool)
    image = np.where(obj[..., None], np.array([190, 60, 50]), np.array([60, 150, 70]))
    image = np.clip(image + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    return image, obj


def holds(box: tuple[int, int, int, int], mask: np.ndarray) -> bool:
    x0, y0, x1, y1 = box
    return bool(mask[y0:y1, x0:x1].sum() == mask.sum())


def test_click_on_an_object_gives_a_box_around_it_not_around_the_frame() -> None:
    image, obj = disk_scene(360, 640, (400, 150), 60)
    box = object_box(image, (400.5, 150.5), ClassicSettings())
    x0, y0, x1, y1 = box
    assert holds(box, obj)
    assert (x1 - x0) * (y1 - y0) < 3 * (2 * 60) ** 2  # the disk's box with its padding, not the frame


def test_click_on_an_object_at_the_frames_corner_gives_a_box_inside_the_frame() -> None:
    image, obj = disk_scene(240, 320, (20, 20), 40)
    x0, y0, x1, y1 = object_box(image, (5.5, 5.5), ClassicSettings())
    assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240
    assert holds((x0, y0, x1, y1), obj)
    assert (x1 - x0) * (y1 - y0) < 0.25 * 240 * 320


def two_colour_figure(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """A figure of a red top and a blue bottom (a shirt and trousers) on noisy green
    ground, and its exact mask."""
    rng = np.random.default_rng(0)
    image = np.broadcast_to(np.array([70, 140, 60]), (h, w, 3)).astype(float)
    obj = np.zeros((h, w), bool)
    x0, x1, ym, y0, y1 = w // 2 - 30, w // 2 + 30, h // 2, h // 2 - 70, h // 2 + 70
    image[y0:ym, x0:x1] = (200, 50, 40)
    image[ym:y1, x0 + 8 : x1 - 8] = (40, 50, 170)
    obj[y0:ym, x0:x1] = True
    obj[ym:y1, x0 + 8 : x1 - 8] = True
    return np.clip(image + rng.normal(0, 10, (h, w, 3)), 0, 255).astype(np.uint8), obj


@pytest.mark.parametrize("click", [(320.5, 140.5), (320.5, 230.5)], ids=["shirt", "trousers"])
def test_click_on_one_colour_of_a_two_colour_object_gives_a_box_around_all_of_it(click: tuple[float, float]) -> None:
    # Small squares stop at the clicked colour and most squares' objects did, so the
    # squares' vote (grabcut-9) gave the trousers alone: what stands out from the
    # ground around it is the whole figure.
    image, obj = two_colour_figure(360, 640)
    box = object_box(image, click, ClassicSettings())
    x0, y0, x1, y1 = box
    assert holds(box, obj)
    assert (x1 - x0) * (y1 - y0) < 2.5 * obj.sum()


@pytest.mark.parametrize("click", [(80.0, 60.0), (79.5, 59.5), (80.5, 60.5), (60.5, 45.5)])
def test_a_click_anywhere_in_a_block_of_flat_colour_finds_the_whole_block(click: tuple[float, float]) -> None:
    # A probe square inside the block, margin and all, is one flat colour, which GrabCut
    # is not run on: the square itself came back as the object and could win the vote,
    # so a click in the block's middle gave a small square.
    image = np.full((120, 160, 3), 200, np.uint8)
    image[30:90, 40:120] = (30, 40, 160)
    x0, y0, x1, y1 = object_box(image, click, ClassicSettings())
    assert x0 <= 40 and y0 <= 30 and x1 >= 120 and y1 >= 90
    seg = ClassicSegmenter()
    mask = seg.segment(seg.embed(image), Prompt(points=(click,), labels=(1,))).mask
    assert mask.sum() == 60 * 80 and mask[30:90, 40:120].all()


@pytest.mark.parametrize("side", [20, 40, 60])
def test_a_click_on_an_object_in_a_small_image_finds_the_object_not_the_image(side: int) -> None:
    # The largest probe squares take the whole of a small image, which has no ring
    # around it to compare with: read as a plain surround, the whole image won the vote.
    image, obj = disk_scene(side, side, (side // 2, side // 2), side // 4)
    click = (side / 2 + 0.5, side / 2 + 0.5)
    assert object_box(image, click, ClassicSettings()) != (0, 0, side, side)
    seg = ClassicSegmenter()
    mask = seg.segment(seg.embed(image), Prompt(points=(click,), labels=(1,))).mask
    assert (mask & obj).sum() / (mask | obj).sum() > 0.8
