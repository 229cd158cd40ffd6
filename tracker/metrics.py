"""DAVIS metrics: J (region IoU), F (boundary F-measure) and J&F.

Follows the DAVIS 2017 evaluation: boundaries are the pixels whose right, lower or
lower-right neighbour differs; a boundary pixel counts as matched when the other
boundary lies within ``ceil(bound_th * diagonal)`` pixels (a disk); an object absent
from both prediction and ground truth on a frame scores 1 for J and F; 255 beside
other ids is void, no object (the toolkit also leaves void pixels out of J's
intersection and union; here they count as background). The first
frame (the one given to the tracker) is excluded. DAVIS 2017 also drops the last
frame; ``skip_last=True`` does the same.

Means: per object over frames; a sequence's J is the mean over its objects; the
dataset mean is over all objects of all sequences (the DAVIS convention).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from samvid.tracker.frames import natural_key, same_frame_twice

# J is the IoU of masks.py (1.0 for two empty masks, as DAVIS scores them).
from samvid.tracker.masks import iou as region_iou
from samvid.tracker.masks import read_label_png

BOUND_TH = 0.008
VOID = 255  # DAVIS's "void": unlabelled pixels (an object's border), background to the toolkit


def first_frame_objects(first: np.ndarray) -> list[int]:
    """The objects of a sequence, as DAVIS takes them: the ids of its first ground-truth frame.

    255 beside other ids is DAVIS's void, not an object: scored, its border ring would
    count as an object lost on every frame. Alone it
    is the object of a 0/255 grey mask (DAVIS 2016's encoding).
    """
    ids = [int(v) for v in np.unique(first) if v != 0]
    return [o for o in ids if o != VOID] if len(ids) > 1 else ids


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` (bool) whose right, lower or lower-right neighbour differs.

    >>> boundary_map(np.array([[0, 0, 0], [0, 1, 1], [0, 1, 1]], bool)).astype(int)
    array([[1, 1, 1],
           [1, 0, 0],
           [1, 0, 0]])
    """
    seg = mask.astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    # Outside the image counts as "same as the pixel" (as DAVIS's seg2bmap).
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def disk(radius: int) -> np.ndarray:
    """uint8 disk {x^2 + y^2 <= r^2}, as skimage.morphology.disk."""
    r = np.arange(-radius, radius + 1)
    return ((r[:, None] ** 2 + r[None, :] ** 2) <= radius**2).astype(np.uint8)


def boundary_f(pred: np.ndarray, gt: np.ndarray, bound_th: float = BOUND_TH) -> float:
    """F: harmonic mean of boundary precision and recall within the DAVIS tolerance."""
    h, w = gt.shape
    radius = bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(h, w))
    pb, gb = boundary_map(pred), boundary_map(gt)
    n_p, n_g = np.count_nonzero(pb), np.count_nonzero(gb)
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    k = disk(int(radius))
    gd = cv2.dilate(gb.astype(np.uint8), k).astype(bool)
    pd = cv2.dilate(pb.astype(np.uint8), k).astype(bool)
    precision = np.count_nonzero(pb & gd) / n_p
    recall = np.count_nonzero(gb & pd) / n_g
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class ObjectScore:
    sequence: str
    obj_id: int
    j: float
    f: float
    n_frames: int

    @property
    def jf(self) -> float:
        return (self.j + self.f) / 2


@dataclass(frozen=True)
class SequenceScore:
    name: str
    objects: tuple[ObjectScore, ...]
    # The scored frames with no predicted file (``evaluate_folders``): scored as empty, so a
    # partial output reads as lost frames; the count lets the caller say so.
    missing: int = 0

    @property
    def n_frames(self) -> int:
        """Frames scored (every object is scored on the same frames)."""
        return max((o.n_frames for o in self.objects), default=0)

    @property
    def scored(self) -> tuple[ObjectScore, ...]:
        """The objects with at least one frame scored."""
        return tuple(o for o in self.objects if o.n_frames)

    @property
    def j(self) -> float:
        return float(np.mean([o.j for o in self.scored])) if self.scored else float("nan")

    @property
    def f(self) -> float:
        return float(np.mean([o.f for o in self.scored])) if self.scored else float("nan")

    @property
    def jf(self) -> float:
        return (self.j + self.f) / 2


def score_sequence(
    name: str,
    pred: Iterable[np.ndarray],
    gt: Iterable[np.ndarray],
    object_ids: Sequence[int] | None = None,
    skip_last: bool = False,
) -> SequenceScore:
    """Score label maps (uint8 (H, W), value = object id) frame by frame.

    ``object_ids`` defaults to the objects of the first ground-truth frame
    (``first_frame_objects``: 255 beside other ids is void, background). A predicted
    frame that is missing (``pred`` shorter than ``gt``) counts as empty.
    """
    gt_frames = list(gt)
    pred_iter = iter(pred)
    if object_ids is None:
        object_ids = first_frame_objects(gt_frames[0])
    last = len(gt_frames) - 1 if skip_last else len(gt_frames)
    js: dict[int, list[float]] = {o: [] for o in object_ids}
    fs: dict[int, list[float]] = {o: [] for o in object_ids}
    for i, g in enumerate(gt_frames):
        p = next(pred_iter, None)
        if i == 0 or i >= last:
            continue
        if p is None:
            p = np.zeros_like(g)
        if p.shape != g.shape:
            raise ValueError(f"{name} frame {i}: prediction {p.shape} vs ground truth {g.shape}")
        for o in object_ids:
            js[o].append(region_iou(p == o, g == o))
            fs[o].append(boundary_f(p == o, g == o))
    # An object with no frame to score (a clip of one frame: the first is the given one)
    # has no score, not a perfect one; the means leave it out.
    objects = tuple(
        ObjectScore(name, o, float(np.mean(js[o])) if js[o] else float("nan"),
                    float(np.mean(fs[o])) if fs[o] else float("nan"), len(js[o]))
        for o in object_ids
    )
    return SequenceScore(name, objects)


LEVEL = re.compile(r"\d+p|Full-Resolution")  # a resolution level of the official layout: 480p, Full-Resolution


def resolution_levels(folder: Path) -> list[str]:
    """The resolution levels (``480p``, ``1080p``) ``folder`` holds: [] in the flat layout."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and LEVEL.fullmatch(p.name))


def level_dir(folder: Path, resolution: str) -> Path:
    """``folder/<resolution>`` in the official layout, ``folder`` itself in the flat one.

    Raises FileNotFoundError naming the levels there when ``folder`` has levels but not
    this one: read as the flat layout, ``480p`` would be taken for a sequence. A
    ``resolution`` that names no folder in ``folder`` (``""``, ``.``, a path) is ValueError
    there (``folder / ""`` is ``folder``: its levels were read as sequences), and ignored
    in the flat layout, as any level is.
    """
    if not names_a_level(resolution):
        levels = resolution_levels(folder)
        if levels:
            raise ValueError(f"{folder} has resolution levels {', '.join(levels)}, and {resolution!r} "
                             "names no level: choose one of those")
        return folder
    if (folder / resolution).is_dir():
        return folder / resolution
    levels = resolution_levels(folder)
    if levels:
        raise FileNotFoundError(f"{folder} has no {resolution} level, only {', '.join(levels)}: "
                                "choose one of those")
    return folder


def names_a_level(resolution: str) -> bool:
    """Whether ``resolution`` is one folder's name (``480p``, ``480p/`` by tab completion)."""
    path = Path(resolution)
    return len(path.parts) == 1 and not path.is_absolute() and path.name not in ("", ".", "..")


def annotations_dir(root: Path | str, resolution: str = "480p") -> Path:
    """Where a root's mask sequences are: ``root/Annotations/<resolution>`` (the official
    DAVIS layout), ``root/Annotations`` (the flat one), or ``root`` itself (an
    ``Annotations`` folder given as the root)."""
    root = Path(root)
    ann = root / "Annotations"
    return level_dir(ann if ann.is_dir() else root, resolution)


def label_pngs(folder: Path) -> list[Path]:
    """The PNGs directly in ``folder`` in frame order: natural order, as the frames are
    tracked (``9.png`` before ``10.png``, ``99999.png`` before ``100000.png``), so that the
    first and last frames are those DAVIS leaves out. Hidden files are no masks: macOS
    leaves a ``._00000.png`` of metadata beside each file it copies to a foreign disk."""
    if not folder.is_dir():
        return []
    pngs = sorted(filter(is_png, folder.iterdir()), key=lambda p: natural_key(p.name))
    # 00001.png beside 00001.PNG is one frame twice: scored twice, or the one scored chosen
    # by the listing order.
    if twice := same_frame_twice(pngs):
        raise ValueError(f"{folder}: {twice[0].name} and {twice[1].name} are one frame twice; "
                         "keep one mask per frame")
    return pngs


def is_png(path: Path) -> bool:
    """Whether ``path`` is a visible PNG file, its suffix in any case: tools on Windows and
    cameras write ``.PNG``. Hidden files are no masks (macOS's ``._00000.png`` metadata)."""
    return path.suffix.lower() == ".png" and not path.name.startswith(".") and path.is_file()


# Folders that tools leave beside the sequences: macOS's zip metadata, and (with a dot)
# .git, .ipynb_checkpoints, .Trashes and other hidden ones. None holds a sequence.
NOT_SEQUENCES = frozenset({"__MACOSX"})


def sequence_folders(folder: Path) -> list[str]:
    """The sequence folders under ``folder``, by name (hidden folders and ``__MACOSX`` are
    none). Raises FileNotFoundError when there are none: nothing to score is a wrong
    folder, not a result."""
    names = sorted(
        p.name for p in folder.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name not in NOT_SEQUENCES
    ) if folder.is_dir() else []
    if not names:
        raise FileNotFoundError(f"no sequence folders in {folder}: "
                                f"put each sequence's files in a folder of its own ({folder}/<seq>/)")
    return names


def evaluate_folders(
    pred_root: Path | str, gt_root: Path | str, sequences: Sequence[str] | None = None,
    skip_last: bool = False, resolution: str = "480p",
) -> list[SequenceScore]:
    """Score every ground-truth sequence (or ``sequences``) against the predictions.

    Raises FileNotFoundError or ValueError for a sequence that cannot be scored as it is:
    no ground truth, no prediction, no object in the first ground-truth frame, or
    predictions whose ids are none of the ground truth's (another label encoding).
    """
    gt_dir, pred_dir = annotations_dir(gt_root, resolution), annotations_dir(pred_root, resolution)
    names = list(sequences) if sequences else sequence_folders(gt_dir)
    scores = []
    for name in names:
        if len(Path(name).parts) != 1 or Path(name).is_absolute() or name in (".", ".."):
            # ``gt_dir / "/x/Annotations/bear"`` is that path, and so is ``pred_dir / ...``:
            # the ground truth would be scored against itself (J&F 1.000).
            raise ValueError(f"{name!r} is no sequence name: name a sequence folder of {gt_dir} "
                             "(bear), not a path")
        gt_files = label_pngs(gt_dir / name)
        if not gt_files:
            raise FileNotFoundError(f"no ground-truth PNGs in {gt_dir / name}")
        gt = [read_label_png(p) for p in gt_files]
        if not gt[0].any():
            # DAVIS scores the objects of the first frame: with none, there is nothing to score.
            raise ValueError(f"the first ground-truth frame ({gt_files[0]}) holds no object, "
                             "and the objects scored are those of the first frame: start the sequence "
                             "at the first frame with an object")
        found = _predicted(pred_dir / name, gt_files)
        if not any(found[1:]) and len(gt_files) > 1:
            # Scored as empty, every frame would read as lost: a wrong folder, not a result.
            raise FileNotFoundError(f"no predicted mask in {pred_dir / name} for any frame of {gt_dir / name}")
        pred = [read_label_png(f) if f is not None else np.zeros_like(g) for f, g in zip(found, gt)]
        _check_ids(pred, gt)
        last = len(gt) - 1 if skip_last else len(gt)
        _check_frame_ids(found[1:last], pred[1:last], gt)  # the scored ones: the first is given
        for f, p, g, g_file in list(zip(found, pred, gt, gt_files))[1:last]:
            if f is not None and p.shape != g.shape:
                raise ValueError(f"{f} is {p.shape[1]}x{p.shape[0]}, its ground truth {g_file} "
                                 f"{g.shape[1]}x{g.shape[0]}: score predictions against the ground truth "
                                 "of their size (the level they were tracked at: --resolution)")
        missing = sum(f is None for f in found[1:last])
        scores.append(replace(score_sequence(name, pred, gt, skip_last=skip_last), missing=missing))
    return scores


def label_ids(frames: Iterable[np.ndarray]) -> set[int]:
    """The nonzero ids on any of ``frames``."""
    return {int(v) for frame in frames for v in np.unique(frame) if v}


def truth_ids(gt: Sequence[np.ndarray]) -> set[int]:
    """The object ids of a ground-truth sequence: void (255 beside other ids) is none."""
    gt_ids = label_ids(gt)
    if len(gt_ids) > 1:
        gt_ids.discard(VOID)  # void, no object: 0/255 predictions against it are another encoding
    return gt_ids


def _check_ids(pred: Sequence[np.ndarray], gt: Sequence[np.ndarray]) -> None:
    """Raise ValueError when the predictions hold objects but none with a ground-truth id:
    the two are saved in different encodings (0/255 grey against palette index 1, say),
    and every frame would score 0 as if the tracker had lost everything."""
    pred_ids, gt_ids = label_ids(pred), truth_ids(gt)
    if pred_ids and not pred_ids & gt_ids:
        raise ValueError(f"predictions hold ids {sorted(pred_ids)}, the ground truth {sorted(gt_ids)}: "
                         "save both with the same object ids (palette or greyscale PNGs, pixel value = id)")


def _check_frame_ids(found: Sequence[Path | None], pred: Sequence[np.ndarray], gt: Sequence[np.ndarray]) -> None:
    """Raise ValueError naming the predicted frames that hold objects but none with a
    ground-truth id, when the others use them: one mask saved in another encoding (0/255
    grey among palette index 1, re-saved by an image editor) scored 0 for that frame
    unsaid. Refused, not read as id 1: the DAVIS toolkit scores 255 as no object of the
    ground truth, and a whole sequence in that encoding is refused too (``_check_ids``)."""
    gt_ids = truth_ids(gt)
    odd = [(f, sorted(label_ids([p]))) for f, p in zip(found, pred)
           if f is not None and p.any() and not label_ids([p]) & gt_ids]
    if not odd:
        return
    first, ids = odd[0]
    more = f" (and {len(odd) - 1} more predicted frame(s))" if len(odd) > 1 else ""
    raise ValueError(f"{first}{more} holds ids {ids}, none of the ground truth's {sorted(gt_ids)}, which the "
                     "other predicted frames use: save it with those object ids (palette or greyscale "
                     "PNGs, pixel value = id)")


def _predicted(folder: Path, gt_files: Sequence[Path]) -> list[Path | None]:
    """The predicted mask of each ground-truth file: the same name (``.png`` for ``.PNG``),
    or the same frame number written with another number of digits (``00012.png`` for
    ``000012.png``)."""
    pngs = label_pngs(folder)
    by_name = {p.stem: p for p in pngs}
    # isdecimal, not isdigit: a superscript ("1²") is a digit to isdigit but no number to int.
    by_number = {int(p.stem): p for p in pngs if p.stem.isdecimal()}
    return [by_name.get(g.stem) or (by_number.get(int(g.stem)) if g.stem.isdecimal() else None)
            for g in gt_files]


def dataset_mean(scores: Sequence[SequenceScore]) -> tuple[float, float, float]:
    """(J, F, J&F) over all objects of all sequences, as DAVIS reports (objects with no
    frame scored left out)."""
    objs = [o for s in scores for o in s.scored]
    if not objs:
        return float("nan"), float("nan"), float("nan")
    j = float(np.mean([o.j for o in objs]))
    f = float(np.mean([o.f for o in objs]))
    return j, f, (j + f) / 2
