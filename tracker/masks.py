"""The value that crosses every boundary (masks of some objects on one frame) and the
small helpers on masks: IoU, bounding box, DAVIS palette PNG reading and writing."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np


@dataclass
class FrameMasks:
    """Masks of ``len(object_ids)`` objects on frame ``frame``.

    ``masks`` is bool (N, H, W); ``scores`` float (N,) in [0, 1]; ``visible`` bool (N,).
    An object that is not visible has an all-False mask, never a stale one.
    """

    frame: int
    object_ids: tuple[int, ...]
    masks: np.ndarray
    scores: np.ndarray
    visible: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.object_ids)
        if self.masks.ndim != 3 or self.masks.shape[0] != n:
            raise ValueError(f"masks must be (N, H, W) with N={n}, got {self.masks.shape}")
        if self.scores.shape != (n,) or self.visible.shape != (n,):
            raise ValueError("scores and visible must have one entry per object")

    def __len__(self) -> int:
        return len(self.object_ids)

    def mask_of(self, object_id: int) -> np.ndarray:
        return self.masks[self.object_ids.index(object_id)]

    @classmethod
    def empty(cls, frame: int, height: int, width: int) -> FrameMasks:
        return cls(
            frame,
            (),
            np.zeros((0, height, width), bool),
            np.zeros(0, np.float32),
            np.zeros(0, bool),
        )


# ------------------------------------------------------------------ helpers
# The one home of the small mask helpers every part uses (tracker engines, metrics,
# box tracking, the export formats), so they agree on conventions.
#
# Empty masks: two empty masks are identical, so their IoU is 1.0 (as DAVIS scores an
# object absent from both prediction and ground truth); an empty mask has no box (None).


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """|a & b| / |a | b| of two masks, and 1.0 when both are empty (the DAVIS J convention).

    >>> a = np.zeros((4, 4), bool); a[:2] = True
    >>> iou(a, a[::-1]), iou(a, a), iou(~a & a, ~a & a)
    (0.0, 1.0, 1.0)
    """
    a, b = a.astype(bool, copy=False), b.astype(bool, copy=False)
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def touched_edges(mask: np.ndarray) -> tuple[bool, bool, bool, bool]:
    """Whether ``mask`` touches the frame's left, top, right and bottom edges."""
    return bool(mask[:, 0].any()), bool(mask[0].any()), bool(mask[:, -1].any()), bool(mask[-1].any())


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` in pixel edges (exclusive ends) around the True pixels; None
    when the mask is empty.

    >>> m = np.zeros((4, 4), bool); m[1:3, 2] = True
    >>> bbox(m)
    (2, 1, 3, 3)
    """
    x, y, w, h = cv2.boundingRect(mask.astype(np.uint8))
    return None if w == 0 or h == 0 else (x, y, x + w, y + h)


def grow_box(
    box: tuple[int, int, int, int], margin: int, hw: tuple[int, int]
) -> tuple[int, int, int, int]:
    """``box`` grown by ``margin`` px on every side, clipped to a frame of size ``hw``."""
    x0, y0, x1, y1 = box
    h, w = hw
    return max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin)


@cache
def palette() -> bytes:
    """The PASCAL VOC / DAVIS palette, 768 bytes of RGB: id 1 red, 2 green, 3 yellow, ..."""
    colours = np.zeros((256, 3), np.uint8)
    for index in range(256):
        value, shift = index, 7
        while value:
            for channel in range(3):
                colours[index, channel] |= ((value >> channel) & 1) << shift
            value >>= 3
            shift -= 1
    return colours.tobytes()


def write_label_png(path: Path, ids: np.ndarray) -> None:
    """Write uint8 (H, W) object ids as a DAVIS palette PNG (pixel value = object id);
    makes the parent folder."""
    from PIL import Image

    image = Image.fromarray(ids.astype(np.uint8), mode="P")
    image.putpalette(palette())
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def read_label_png(path: Path) -> np.ndarray:
    """uint8 (H, W) object ids of a label PNG: the palette index of a palette PNG (DAVIS),
    the value of a grey one. A 1-bit PNG reads 0/1 and a 16-bit one its values, as
    ``numpy.array(Image.open(path))`` and the DAVIS toolkit read them.

    Raises OSError naming the file for one that cannot be read, ValueError for a colour
    PNG (its colours are not ids: converting them to grey would turn DAVIS red into id 38),
    for ids above 255 (clipping would merge objects), for one over Pillow's
    decompression-bomb limit (``samvid track`` and ``eval`` raise it to SAMVID_MAX_IMAGE_PIXELS),
    for a file that is no PNG (JPEG data named ``.png``) and for a grey 0/255 mask with soft
    edges (``soft_edges``): read as ids, their blurred edges are objects and the object void.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            mode, kind = image.mode, image.format
            if kind != "PNG":
                raise ValueError(_not_png(path, kind))
            ids = np.array(image)
    except Image.DecompressionBombError as exc:  # not an OSError: it ended track and eval
        raise ValueError(f"{path}: a label PNG too large to read ({str(exc).rstrip('.')}): a mask is the size of its "
                         "frame; to read it set SAMVID_MAX_IMAGE_PIXELS to at least its pixel "
                         "count") from exc
    except OSError as exc:
        if str(path) in str(exc):  # a missing file, or no image at all: PIL names it already
            raise
        # Decoding a damaged or cut-short file, PIL says "image file is truncated" naming no
        # file: among a sequence's hundred masks the user could not tell which one to replace.
        raise OSError(f"{path}: a damaged label PNG ({exc}): write or copy it again") from exc
    if mode in ("LA", "La", "PA"):  # an alpha channel: ids with a transparency, not colours
        raise ValueError(f"{path}: a label PNG with an alpha channel (mode {mode}): save it "
                         "without transparency as a palette or greyscale PNG (pixel value = object id)")
    if ids.ndim != 2 or not (ids.dtype == bool or np.issubdtype(ids.dtype, np.integer)):
        raise ValueError(f"{path}: a colour label PNG (mode {mode}) holds colours, not object ids: "
                         "save it as a palette or greyscale PNG (pixel value = object id)")
    if ids.size and (ids.min() < 0 or ids.max() > 255):
        raise ValueError(f"{path}: object ids up to {ids.max()}, but a label PNG holds 0-255: "
                         "renumber the objects 1-255")
    ids = ids.astype(np.uint8)
    # Only grey ones: a palette PNG is written by a labelling tool, index by index; a grey
    # 0/255 one is often a drawing or a resized mask whose edge pixels were blended.
    if mode != "P" and soft_edges(ids):
        raise ValueError(_soft_edges_error(path, ids))
    return ids


def _not_png(path: Path, kind: str | None) -> str:
    why = ("its compression blurs every edge into new grey values, each read as an object: export "
           "the mask as PNG from its source, not by renaming or converting this file"
           if kind == "JPEG" else "save the mask as PNG (pixel value = object id)")
    return (f"{path} is {kind or 'non-PNG'} data named {path.suffix or 'without a suffix'}: label masks "
            f"must be lossless PNG; {why}")


# A soft edge ramps from 255 to 0 over about the scale factor of the resize that made it
# (4 px when upscaled 4x); thin parts of the object (a leg, a tail) fade below 255 whole, so
# some levels lie farther: a band is a soft edge when 3/4 of it lies this close.
SOFT_EDGE_PX = 8


def soft_edges(ids: np.ndarray) -> bool:
    """Whether a grey label map is a 0/255 mask with soft (anti-aliased, resized, blurred)
    edges: besides 255, only ids in a band around the 255 region, smaller than it, mostly
    within ``SOFT_EDGE_PX`` of it, that ring it: the 255 region meets the band along its edge
    at least three times as much as the background.

    Read as ids, the edge levels would be many thin objects and the object itself (255 beside
    other ids) DAVIS's void. DAVIS 2017's void is the opposite shape: a thin 255 band along
    the objects, bigger than it, that meets the background outside as much as them inside.

    >>> r = np.hypot(*np.mgrid[-5:6, -5:6])
    >>> soft_edges(np.where(r <= 3, 255, 0)), soft_edges(np.where(r <= 3, 255, 60 * (r < 4)))
    (False, True)
    >>> soft_edges(np.where(r <= 3, 1, 255 * (r < 4.5)))  # DAVIS's void around an object
    False
    """
    obj = ids == 255
    band = (ids != 0) & ~obj
    n_obj, n_band = np.count_nonzero(obj), np.count_nonzero(band)
    if not n_obj or not n_band or n_band > n_obj:
        return False

    def meets(a: np.ndarray, b: np.ndarray) -> int:  # 4-neighbour pairs of an a pixel and a b pixel
        return sum(np.count_nonzero(x & y) for x, y in (
            (a[:, :-1], b[:, 1:]), (a[:, 1:], b[:, :-1]), (a[:-1], b[1:]), (a[1:], b[:-1])))

    if meets(obj, band) < 3 * meets(obj, ids == 0):
        return False
    from_obj = cv2.distanceTransform((~obj).view(np.uint8), cv2.DIST_L2, 3)
    return np.count_nonzero(from_obj[band] > SOFT_EDGE_PX) <= n_band // 4


def _soft_edges_error(path: Path, ids: np.ndarray) -> str:
    levels = [int(v) for v in np.unique(ids) if v not in (0, 255)]
    shown = ", ".join(map(str, levels[:5])) + (f" and {len(levels) - 5} more" if len(levels) > 5 else "")
    return (f"{path}: a grey mask with soft edges: its object (255) is ringed by {len(levels)} other "
            f"grey value(s) ({shown}) in a thin band along its edge, which would be read as "
            f"{len(levels)} thin object(s) and the object itself as DAVIS's void; save it without "
            "smoothing (nearest-neighbour) or threshold it at 128 (pixel value = object id, 0 background)")
