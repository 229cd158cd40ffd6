"""Propagation between given frames: what a correction recomputes, tracked from both ends.

A mask given on frame ``i`` (a human annotation, a correction) bounds two stretches of
the clip: from the given frame before it to ``i``, and from ``i`` to the given frame after
it. ``plan`` says which stretches to recompute; ``track_stretch`` tracks one.

A stretch bounded by given frames on both sides is tracked from each end and the two
are merged frame by frame: per object, the side whose confidence, weighted by its
nearness, is higher gives the mask. A frame next to a correction follows the
correction; a frame halfway takes whichever side is surer. A given frame with no object
(every object has left the view) is such a side too, sure that each is absent: near it
the objects fade out. Tracking from one end only would let the last job to run
overwrite the stretch with what one human frame knows.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from samvid.tracker.engine import Engine, FramesSource
from samvid.tracker.masks import FrameMasks, iou


@dataclass(frozen=True)
class Stretch:
    """Frames ``lo..hi`` (inclusive) to track; a seeded end is a given frame, not written."""

    lo: int
    hi: int
    from_lo: bool
    from_hi: bool

    @property
    def written(self) -> range:
        return range(self.lo + self.from_lo, self.hi - self.from_hi + 1)


def plan(given: Sequence[bool], index: int, forward: bool = True, backward: bool = False,
         limit: int = 0, bridge: bool = True, before: bool = True) -> list[Stretch]:
    """The stretches a mask given on frame ``index`` makes stale, nearest-first in time order.

    ``given[k]`` says whether frame ``k`` has a given (human) mask; ``index`` counts as given.
    With ``bridge``, a stretch that ends at another given frame (within ``limit`` frames
    when ``limit`` is set) is tracked from both ends, whatever the direction; the one
    before ``index`` only if ``before`` (a batch that walks every given frame in turn
    bridges each stretch once, from its first end). Open stretches, towards the clip's
    ends, are tracked forward and/or backward as asked, at most ``limit`` frames (0: no
    limit).
    """
    n = len(given)
    if not 0 <= index < n:
        raise IndexError(f"frame {index} is outside the clip (0..{n - 1})")
    after = next((k for k in range(index + 1, n) if given[k]), None)
    prev = next((k for k in range(index - 1, -1, -1) if given[k]), None)
    stretches: list[Stretch] = []
    if bridge and after is not None and after - index > 1 and (not limit or after - index - 1 <= limit):
        stretches.append(Stretch(index, after, True, True))
    elif forward:
        hi = (after - 1 if after is not None else n - 1)
        hi = min(hi, index + limit) if limit else hi
        if hi > index:
            stretches.append(Stretch(index, hi, True, False))
    if bridge and prev is not None and index - prev > 1 and (not limit or index - prev - 1 <= limit):
        if before:
            stretches.append(Stretch(prev, index, True, True))
    elif backward:
        lo = prev + 1 if prev is not None else 0
        lo = max(lo, index - limit) if limit else lo
        if lo < index:
            stretches.append(Stretch(lo, index, False, True))
    return stretches


def track_stretch(
    new_engine: Callable[[], Engine],
    frames: FramesSource,
    first: Mapping[int, np.ndarray],
    last: Mapping[int, np.ndarray],
    on_step: Callable[[], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    given_ends: tuple[bool, bool] = (False, False),
    unsure: tuple[frozenset[int], frozenset[int]] = (frozenset(), frozenset()),
) -> Iterator[FrameMasks]:
    """FrameMasks for the frames of ``frames`` that are not given ends, as they are tracked:
    in frame order, or backwards from the last frame when only it has objects.

    ``first`` / ``last`` are the objects given on the first / last frame. An end without
    objects is open, and is tracked to like any other frame, unless ``given_ends`` (first,
    last) says it is a given frame all the same: one every object has left. Every result
    holds the union of the ends' object ids. An object missing from one given frame is
    absent there: near that frame it stays hidden unless the other side is sure of it;
    unless ``unsure`` (first, last) names it for that end: a frame with a region samvid
    cannot read that may be it (a smart click whose mask never came back) does not say
    it left, and votes nothing on it, as a side that lost it.
    """
    n = len(frames)
    ids = tuple(sorted(set(first) | set(last)))
    if not ids:
        raise ValueError("give the objects of at least one end of the stretch")
    tick = on_step or (lambda: None)
    stop = cancelled or (lambda: False)
    # What each end says of each object: there, or maybe there (``unsure``); any other is absent.
    given = (set(first) | unsure[0], set(last) | unsure[1])
    if not first or not last:
        yield from _track_one_end(new_engine, frames, first, last, ids, given_ends, given, tick, stop)
        return
    # Backward first, kept compressed (a few kB a frame), so that the forward walk
    # can merge and hand out each frame as soon as it is tracked.
    packed = {fm.frame: _pack(fm) for fm in _walk(new_engine, frames, last, ids, True, tick, stop)}
    for fm in _walk(new_engine, frames, first, ids, False, tick, stop):
        if fm.frame == n - 1:
            return
        if fm.frame == 0 or fm.frame not in packed:
            continue  # the given frame; or one the backward walk could not read
        t = fm.frame / (n - 1)
        yield merge(fm, _unpack(packed[fm.frame], fm.frame), 1.0 - t, t, *given)


def _track_one_end(new_engine: Callable[[], Engine], frames: FramesSource, first: Mapping[int, np.ndarray],
                   last: Mapping[int, np.ndarray], ids: tuple[int, ...], given_ends: tuple[bool, bool],
                   given: tuple[set[int], set[int]], tick: Callable[[], None],
                   stop: Callable[[], bool]) -> Iterator[FrameMasks]:
    """A stretch tracked from the one end with objects, streamed as walked (memory stays
    flat however long the stretch). A given end with no object is merged in as a side that
    is sure every object is absent: no engine can walk from it (it has no mask to start
    from), and what it knows is the same at every frame."""
    n = len(frames)
    reverse = not first
    seeded, far = (n - 1, 0) if reverse else (0, n - 1)
    far_given = given_ends[0] if reverse else given_ends[1]
    for fm in _walk(new_engine, frames, last if reverse else first, ids, reverse, tick, stop):
        if fm.frame == seeded or (far_given and fm.frame == far):
            continue  # a given frame: not written
        if far_given:
            t = fm.frame / (n - 1)
            a, b = (_hidden(fm), fm) if reverse else (fm, _hidden(fm))
            fm = merge(a, b, 1.0 - t, t, *given)
        yield fm


def merge(a: FrameMasks, b: FrameMasks, near_a: float, near_b: float,
          given_a: set[int] | None = None, given_b: set[int] | None = None) -> FrameMasks:
    """Per object, the mask of the side with the higher confidence x nearness.

    A side that lost the object votes nothing; a side whose given frame lacks the object
    (``given_*``) is sure it is absent. The merged score is the winner's, lowered by how
    much the two sides disagree where both see the object.

    Each side's engine gave every pixel to one object, but two objects may win on
    different sides and claim the same pixels: those go to the object whose win weighed
    more (confidence x nearness, the rule that chose the masks), so a frame next to a
    correction follows it here too, unless that would take most of the lighter object:
    then the heavier mask has swallowed it (one end merged two objects into one mask,
    as twins crossing do) and the lighter keeps its pixels. An object left with no pixel
    is hidden.
    """
    masks = np.zeros_like(a.masks)
    scores = np.zeros_like(a.scores)
    visible = np.zeros_like(a.visible)
    weights = np.zeros(len(a.object_ids))
    for k, o in enumerate(a.object_ids):
        wa = _vote(a, k, o, given_a) * near_a
        wb = _vote(b, k, o, given_b) * near_b
        win = a if wa >= wb else b
        if not win.visible[k]:
            continue
        masks[k], visible[k], weights[k] = win.masks[k], True, max(wa, wb)
        agree = iou(a.masks[k], b.masks[k]) if a.visible[k] and b.visible[k] else 1.0
        scores[k] = win.scores[k] * (0.5 + 0.5 * agree)
    owned = one_owner(masks, weights)
    lost = masks.any(axis=(1, 2)) & ~owned.any(axis=(1, 2))
    visible[lost], scores[lost] = False, 0.0
    masks = owned
    return FrameMasks(a.frame, a.object_ids, masks, scores, visible)


def one_owner(masks: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``masks`` (N, H, W) with each pixel kept by one object: the heaviest claiming it
    (a tie: the first), unless the lighter would lose more than half its mask to the
    heavier ones, which then give those pixels up."""
    out = masks.copy()
    owners: list[int] = []
    for k in np.argsort(-weights, kind="stable"):
        taken = out[owners].any(axis=0)
        kept = out[k] & ~taken
        if 2 * kept.sum() >= out[k].sum():
            out[k] = kept
        else:
            out[owners] &= ~out[k]
        owners.append(int(k))
    return out


def _vote(fm: FrameMasks, k: int, obj: int, given: set[int] | None) -> float:
    if fm.visible[k]:
        return float(fm.scores[k])
    return 1.0 if given is not None and obj not in given else 0.0


def _walk(new_engine: Callable[[], Engine], frames: FramesSource, seeds: Mapping[int, np.ndarray],
          ids: tuple[int, ...], reverse: bool, tick: Callable[[], None],
          stop: Callable[[], bool]) -> Iterator[FrameMasks]:
    if stop():  # cancelled already (during the other walk): build and track nothing
        return
    engine = new_engine()
    state = engine.init_state(frames)
    start = len(frames) - 1 if reverse else 0
    for obj, mask in seeds.items():
        engine.add_mask(state, start, obj, mask)
    for fm in engine.propagate(state, start=start, reverse=reverse):
        if stop():
            return
        tick()
        yield _align(fm, ids)


def _hidden(fm: FrameMasks) -> FrameMasks:
    """``fm``'s frame with every object hidden: what a given frame with no object says."""
    return FrameMasks(fm.frame, fm.object_ids, np.zeros_like(fm.masks), np.zeros_like(fm.scores),
                      np.zeros_like(fm.visible))


def _align(fm: FrameMasks, ids: tuple[int, ...]) -> FrameMasks:
    """``fm`` over ``ids``: objects it does not track are hidden."""
    if fm.object_ids == ids:
        return fm
    h, w = fm.masks.shape[1:]
    masks = np.zeros((len(ids), h, w), bool)
    scores = np.zeros(len(ids), np.float32)
    visible = np.zeros(len(ids), bool)
    for k, o in enumerate(ids):
        if o in fm.object_ids:
            j = fm.object_ids.index(o)
            masks[k], scores[k], visible[k] = fm.masks[j], fm.scores[j], fm.visible[j]
    return FrameMasks(fm.frame, ids, masks, scores, visible)


@dataclass(frozen=True)
class _Packed:
    ids: tuple[int, ...]
    shape: tuple[int, ...]
    bits: bytes
    scores: np.ndarray
    visible: np.ndarray


def _pack(fm: FrameMasks) -> _Packed:
    return _Packed(fm.object_ids, fm.masks.shape, zlib.compress(np.packbits(fm.masks).tobytes(), 1),
                   fm.scores, fm.visible)


def _unpack(p: _Packed, frame: int) -> FrameMasks:
    flat = np.unpackbits(np.frombuffer(zlib.decompress(p.bits), np.uint8), count=int(np.prod(p.shape)))
    return FrameMasks(frame, p.ids, flat.reshape(p.shape).astype(bool), p.scores, p.visible)
