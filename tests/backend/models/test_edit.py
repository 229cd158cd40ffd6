"""A corrective click's local edit (``samvid.models.edit``), on generated images with exact masks."""

from __future__ import annotations

import cv2
import numpy as np

from samvid.models.classic import ClassicSettings
from samvid.models.edit import local_edit

RED, GREEN, BLUE = (190, 60, 50), (60, 150, 70), (50, 70, 200)
CFG = ClassicSettings()


def noisy(shape: tuple[int, int], colour: tuple[int, int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.array(colour, np.float32) + rng.normal(0, 10, (*shape, 3)), 0, 255).astype(np.uint8)


def two_parts() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A red square with a blue square joined to its right, on green: the image, the red
    part and the blue part."""
    h, w = 240, 320
    image = noisy((h, w), GREEN, 0)
    red = np.zeros((h, w), bool)
    red[80:160, 60:160] = True
    blue = np.zeros((h, w), bool)
    blue[80:160, 160:240] = True
    image[red] = noisy((h, w), RED, 1)[red]
    image[blue] = noisy((h, w), BLUE, 2)[blue]
    return image, red, blue


def test_negative_click_on_a_part_of_another_colour_removes_that_part_and_nothing_else() -> None:
    image, red, blue = two_parts()
    mask = local_edit(image, red | blue, ((200.5, 120.5), 0), [], CFG)
    assert mask[blue].mean() < 0.05
    assert mask[red].all()
    assert not (mask & ~(red | blue)).any()  # a negative click only removes


def test_positive_click_on_a_missed_part_adds_that_part_and_nothing_else() -> None:
    image, red, blue = two_parts()
    mask = local_edit(image, red, ((200.5, 120.5), 1), [], CFG)
    assert mask[blue].mean() > 0.95
    assert mask[red].all()
    assert not (mask & ~(red | blue)).any()  # the green ground stays out


def test_edit_never_flips_an_earlier_click_of_the_other_label() -> None:
    image, red, blue = two_parts()
    earlier = [((230.5, 120.5), 1)]  # the annotator said this blue pixel is object
    mask = local_edit(image, red | blue, ((200.5, 120.5), 0), earlier, CFG)
    assert mask[120, 230]
    assert mask[120, 200] == 0


def test_edit_that_leaks_to_the_rim_of_its_reach_keeps_its_inner_half() -> None:
    # A positive click 20 px from a small red mask, in a blue pool on green ground (the
    # water around a surfboard): its reach is 3 x 20 px, the pool fills nearly all of it,
    # and the cut takes the pool out to the rim. The edit keeps what lies within half
    # the reach of the click.
    h, w = 240, 360
    image = noisy((h, w), GREEN, 0)
    pool = np.zeros((h, w), np.uint8)
    cv2.circle(pool, (180, 120), 60, 1, thickness=-1)
    image[pool > 0] = noisy((h, w), BLUE, 2)[pool > 0]
    square = np.zeros((h, w), bool)
    square[110:130, 140:160] = True
    image[square] = noisy((h, w), RED, 1)[square]
    click = (180.5, 120.5)
    mask = local_edit(image, square, (click, 1), [], CFG)
    added = mask & ~square
    assert added[120, 180]
    reach = CFG.edit_reach * (click[0] - 159.5)  # to the nearest mask pixel's centre
    ys, xs = np.nonzero(added)
    assert np.hypot(xs + 0.5 - click[0], ys + 0.5 - click[1]).max() <= 0.5 * reach + 1


def test_negative_click_that_would_remove_the_whole_mask_removes_less() -> None:
    # The mask is one colour throughout: a negative click in it disputes all of it,
    # and the edit halves its reach until something stays.
    h, w = 240, 320
    image = noisy((h, w), GREEN, 0)
    blob = np.zeros((h, w), bool)
    cv2.circle(blob.view(np.uint8), (160, 120), 30, 1, thickness=-1)
    image[blob] = noisy((h, w), RED, 1)[blob]
    mask = local_edit(image, blob, ((160.5, 120.5), 0), [], CFG)
    assert mask.any()
    assert not mask[120, 160]
    assert not (mask & ~blob).any()


def test_negative_click_on_a_mask_of_the_whole_image_removes_the_part_it_is_on() -> None:
    # A box over the whole frame can come back as the whole frame: no background pixel
    # is left to measure the click's reach from, so the image's edges bound it.
    image, red, blue = two_parts()
    mask = local_edit(image, np.ones(red.shape, bool), ((200.5, 120.5), 0), [], CFG)
    assert mask[blue].mean() < 0.05
    assert mask[~blue].all()


def test_positive_click_on_a_small_object_far_from_the_mask_adds_that_object_and_not_the_ground() -> None:
    # Far from the mask, the click's reach covers the frame and is cut at a small scale,
    # where a small square's colour is mostly the ground's: the edit took the whole ground.
    h, w = 720, 1280
    image = np.full((h, w, 3), 200, np.uint8)
    first = np.zeros((h, w), bool)
    first[100:300, 100:400] = True
    image[first] = BLUE
    for side in (3, 9, 31):
        small = np.zeros((h, w), bool)
        small[600 : 600 + side, 1100 : 1100 + side] = True
        dark = image.copy()
        dark[small] = (20, 20, 20)
        mask = local_edit(dark, first, ((1100 + side / 2, 600 + side / 2), 1), [], CFG)
        np.testing.assert_array_equal(mask, first | small)


def test_positive_click_on_a_small_object_keeps_an_earlier_negative_click_on_it() -> None:
    image = np.full((480, 640, 3), 200, np.uint8)
    first = np.zeros((480, 640), bool)
    first[50:150, 50:150] = True
    image[first] = BLUE
    image[400:409, 500:509] = (20, 20, 20)
    mask = local_edit(image, first, ((504.5, 404.5), 1), [((500.5, 400.5), 0)], CFG)
    assert mask[404, 504] and not mask[400, 500]
    assert mask[first].all() and mask.sum() < first.sum() + 81


def test_negative_click_on_a_small_hole_in_the_mask_removes_the_hole_and_not_the_object() -> None:
    # The hole is lost in the edit's small copy, where the click's colour is the object's:
    # the edit removed the object around it (at 720p, all of it).
    h, w = 720, 1280
    image = np.full((h, w, 3), 200, np.uint8)
    obj = np.zeros((h, w), bool)
    obj[60:420, 100:500] = True
    image[obj] = BLUE
    for side in (3, 9):
        hole = np.zeros((h, w), bool)
        hole[240 : 240 + side, 300 : 300 + side] = True
        holed = image.copy()
        holed[hole] = (200, 200, 200)
        mask = local_edit(holed, obj, ((300 + side / 2, 240 + side / 2), 0), [], CFG)
        np.testing.assert_array_equal(mask, obj & ~hole)


def test_edit_whose_reach_passes_every_edge_of_the_image_still_keeps_its_inner_half_when_it_leaks() -> None:
    # The leak test above on a 64 x 64 image: the click's reach (3 x 18 px) passes every
    # edge, so the rim of its reach lies off the image, and the edit flooded the ground.
    h = w = 64
    image = noisy((h, w), GREEN, 0)
    square = np.zeros((h, w), bool)
    square[26:38, 2:14] = True
    image[square] = noisy((h, w), RED, 1)[square]
    click = (32.5, 32.5)
    mask = local_edit(image, square, (click, 1), [], CFG)
    added = mask & ~square
    assert added[32, 32]
    farthest = np.hypot(click[0], click[1])  # the image's farthest pixel corner
    ys, xs = np.nonzero(added)
    assert np.hypot(xs + 0.5 - click[0], ys + 0.5 - click[1]).max() <= 0.5 * farthest + 1
    assert added.mean() < 0.5
