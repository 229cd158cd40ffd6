"""Automatic masks ("segment everything"): a grid of clicks, filtered and de-duplicated.

SAM's automatic mask generator in four steps, each a small function:

1. ``point_grid``: one positive click at the centre of every cell of an n x n grid.
2. a *point decoder* turns a batch of clicks into mask logits and predicted IoU, three
   candidate masks per click (part, object, whole). For the SAM family it is
   ``sam_point_decoder``: the image embedding is computed once (the predictor's cache)
   and the clicks are decoded ``batch`` at a time in one forward pass.
3. ``keep_candidates``: predicted IoU and stability thresholds, then ``mask_nms``.
4. ``finish_masks``: upsampling to the image size, small islands removed, small masks
   dropped.

Filtering and NMS work on the decoder's low-resolution logits (256 x 256 for SAM):
thousands of full-size candidates would not fit in memory on a CPU host, and
thresholds and overlaps barely change with resolution. Only the kept masks are
upsampled. The pure functions take plain arrays, so they are tested with known masks
and scores, without weights.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from samvid.core.segmenter import Embedding, Segmenter
from samvid.errors import NoEverythingMode
from samvid.images import FileStamp
from samvid.postprocess import remove_small_regions
from samvid.redact import ref_for_log

if TYPE_CHECKING:
    from samvid.predictor import Predictor
    from samvid.studio.protocol import MaskTarget

log = logging.getLogger(__name__)

AUTO_MODEL_PREFIX = "samvid-auto"  # model_version of automatic predictions
LOGITS_SIDE = 256  # SAM's low-resolution mask logits are LOGITS_SIDE x LOGITS_SIDE

# points (N, 2) in original pixels -> (logits (N, K, h, w), predicted IoU (N, K))
PointDecoder = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class AutoConfig:
    """SAM's automatic-mask defaults, except the grid (32 x 32 costs minutes on a CPU)."""

    grid: int = 16  # clicks per side
    batch: int = 64  # clicks per decoder pass
    pred_iou: float = 0.88  # minimum predicted IoU
    stability: float = 0.95  # minimum stability score
    stability_offset: float = 1.0  # logit offset of the stability score
    nms_iou: float = 0.7  # masks overlapping more than this are duplicates
    min_area: float = 0.001  # smallest mask and island, as a fraction of the image
    max_masks: int = 100  # at most this many regions per frame, best first
    # NMS compares every pair: only the best this many candidates enter it (bounds the
    # time and memory; with 100 masks kept, candidates ranked past 400 rarely matter).
    max_candidates: int = 400


@dataclass
class Candidates:
    """Candidate masks as logits (N, h, w) with their predicted IoU and stability (N,)."""

    logits: np.ndarray
    pred_iou: np.ndarray
    stability: np.ndarray

    def __len__(self) -> int:
        return len(self.pred_iou)

    def take(self, keep: np.ndarray | list[int]) -> Candidates:
        keep = np.asarray(keep, dtype=np.int64)
        return Candidates(self.logits[keep], self.pred_iou[keep], self.stability[keep])

    @classmethod
    def concat(cls, parts: list[Candidates]) -> Candidates:
        if not parts:
            return cls(np.zeros((0, 1, 1), np.float16), np.zeros(0, np.float32), np.zeros(0, np.float32))
        return cls(np.concatenate([p.logits for p in parts]),
                   np.concatenate([p.pred_iou for p in parts]),
                   np.concatenate([p.stability for p in parts]))


@dataclass(frozen=True)
class AutoMask:
    mask: np.ndarray  # bool (H, W), original image size
    score: float  # predicted IoU
    stability: float
    area: int


# -- pure parts --------------------------------------------------------------------------------


def point_grid(n: int, width: int, height: int) -> np.ndarray:
    """Cell centres of an n x n grid in pixels, row by row: ``point_grid(2, 4, 4)`` is
    ``[[1, 1], [3, 1], [1, 3], [3, 3]]``."""
    if n < 1:
        raise ValueError(f"grid must be >= 1, not {n}")
    offsets = (np.arange(n) + 0.5) / n
    xs, ys = np.meshgrid(offsets * width, offsets * height)
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def stability_score(logits: np.ndarray, offset: float = 1.0, threshold: float = 0.0) -> np.ndarray:
    """IoU of each mask thresholded at ``threshold + offset`` and ``threshold - offset``.

    A mask whose outline moves a lot when the threshold moves is unsure of itself. The
    tight mask lies inside the loose one, so the IoU is a ratio of areas: logits
    ``[[3, 3], [0.5, -3]]`` give 2 pixels above 1 and 3 above -1: 2/3. An empty loose
    mask counts as unstable (0).
    """
    flat = logits.reshape(len(logits), -1)
    tight = (flat > threshold + offset).sum(axis=1)
    loose = (flat > threshold - offset).sum(axis=1)
    return np.where(loose > 0, tight / np.maximum(loose, 1), 0.0).astype(np.float32)


def mask_iou_matrix(masks: np.ndarray) -> np.ndarray:
    """Pairwise IoU of bool masks (N, h, w) -> (N, N), one matrix product."""
    flat = masks.reshape(len(masks), -1).astype(np.float32)
    inter = flat @ flat.T
    area = flat.sum(axis=1)
    union = area[:, None] + area[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def mask_nms(masks: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy NMS on masks: best score first, drop any mask overlapping a kept one by more
    than ``iou_threshold``. Returns kept indices, best first.

    Two identical squares and a disjoint one, scores ``[0.9, 0.8, 0.7]``: keeps ``[0, 2]``.
    Masks rather than boxes, as the issue asks: a person and the bicycle they ride
    have overlapping boxes but different masks, and both must stay.
    """
    if len(masks) == 0:
        return []
    iou = mask_iou_matrix(masks)
    order = np.argsort(-np.asarray(scores), kind="stable")
    suppressed = np.zeros(len(masks), bool)
    kept: list[int] = []
    for i in order:
        if suppressed[i]:
            continue
        kept.append(int(i))
        suppressed |= iou[i] > iou_threshold
    return kept


def keep_candidates(cands: Candidates, config: AutoConfig) -> Candidates:
    """Thresholds, then empty masks out, then mask NMS on the survivors, best first."""
    ok = (cands.pred_iou >= config.pred_iou) & (cands.stability >= config.stability)
    cands = cands.take(np.flatnonzero(ok))
    masks = cands.logits > 0
    nonempty = np.flatnonzero(masks.any(axis=(1, 2)))
    best = nonempty[np.argsort(-(cands.pred_iou * cands.stability)[nonempty], kind="stable")]
    best = best[: config.max_candidates]
    cands, masks = cands.take(best), masks[best]
    # Rank by predicted IoU and stability together, as SAM does with its box NMS. Overlaps
    # are measured on every other row and column: 4x cheaper, and a duplicate at 256 x 256
    # is still one at 128 x 128.
    step = 2 if min(masks.shape[1:]) >= 128 else 1
    kept = mask_nms(masks[:, ::step, ::step], cands.pred_iou * cands.stability, config.nms_iou)
    return cands.take(kept)


def finish_masks(cands: Candidates, image_size: tuple[int, int], config: AutoConfig,
                 upsample: Callable[[np.ndarray, tuple[int, int]], np.ndarray] | None = None
                 ) -> list[AutoMask]:
    """Kept candidates at the image size, cleaned, small ones dropped, duplicates at the
    image size dropped (best first, as ``mask_nms``), at most ``max_masks``."""
    h, w = image_size
    min_pixels = max(1, round(config.min_area * h * w))
    resize = upsample or _resize_logits
    # Masks apart at the decoder's resolution can coincide at the image's when the image is
    # smaller than the logits (or than the grid, whose clicks then share pixels): each region
    # came many times. Only then are overlaps measured again, exactly, at the image's size;
    # a larger image keeps the decoder-resolution NMS (sampling it would drop masks that
    # are not duplicates).
    small = h * w <= LOGITS_SIDE * LOGITS_SIDE
    seen = np.zeros((min(len(cands), max(1, config.max_masks)) if small else 0, h * w), np.float32)
    seen_area = np.zeros(len(seen), np.float32)
    out: list[AutoMask] = []
    for i in range(len(cands)):
        islands_gone = remove_small_regions(resize(cands.logits[i], (h, w)) > 0, min_pixels, "islands")
        mask = remove_small_regions(islands_gone, min_pixels, "holes")
        area = int(mask.sum())
        if area < min_pixels:
            continue
        if small:
            flat, k = mask.ravel(), len(out)
            inter = seen[:k, flat].sum(axis=1)
            if (inter > config.nms_iou * np.maximum(seen_area[:k] + area - inter, 1)).any():
                continue
            seen[k], seen_area[k] = flat, area
        # SAM's IoU head is a plain regression that can stray past 1 (or below 0); it
        # ranks the candidates as it is, but a region's score is a confidence in [0, 1].
        score = float(np.clip(cands.pred_iou[i], 0.0, 1.0))
        out.append(AutoMask(mask, score, float(cands.stability[i]), area))
        if len(out) >= config.max_masks:
            break
    return out


def _resize_logits(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    return cv2.resize(logits.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


# -- the pipeline --------------------------------------------------------------------------------


def segment_everything(decode: PointDecoder, image_size: tuple[int, int],
                       config: AutoConfig = AutoConfig()) -> list[AutoMask]:
    """Automatic masks of one image from any point decoder (SAM, or a test's oracle)."""
    h, w = image_size
    points = point_grid(config.grid, w, h)
    started, parts, held = time.perf_counter(), [], 0
    for start in range(0, len(points), config.batch):
        logits, iou = decode(points[start:start + config.batch])
        logits = logits.reshape(-1, *logits.shape[-2:])
        part = Candidates(logits.astype(np.float16), iou.reshape(-1).astype(np.float32),
                          stability_score(logits, config.stability_offset))
        parts.append(keep_candidates(part, config))  # early NMS bounds the memory
        held += len(parts[-1])
        if held > 2 * config.max_candidates:
            # Every batch's survivors kept to the end grew with the grid (a 64 x 64 grid on a
            # busy frame held 1.6 GB): merged past twice what the final NMS takes (once past
            # it, nearly every batch of a busy frame paid for an NMS of 400 masks).
            parts = [keep_candidates(Candidates.concat(parts), config)]
            held = len(parts[0])
    kept = keep_candidates(Candidates.concat(parts), config)
    masks = finish_masks(kept, image_size, config)
    log.debug("%d clicks -> %d masks in %.2f s", len(points), len(masks),
              time.perf_counter() - started)
    return masks


def auto_model_version(version: str) -> str:
    """The ``model_version`` automatic masks of the model ``version`` are stored under."""
    return f"{AUTO_MODEL_PREFIX}:{version}"


def has_everything_mode(segmenter: Segmenter) -> bool:
    """Whether ``segmenter`` can make automatic ("segment everything") masks."""
    from samvid.models.sam import SamSegmenter

    if isinstance(segmenter, SamSegmenter):
        return True
    return segmenter.supports_everything and callable(getattr(segmenter, "decode_points", None))


def require_everything(segmenter: Segmenter) -> None:
    """Raise NoEverythingMode, before any image is fetched, for segmenters without one."""
    if has_everything_mode(segmenter):
        return
    raise NoEverythingMode(
        f"the segmenter {segmenter.version!r} has no automatic ('segment everything') mode: "
        "only the SAM family has one. Set SAMVID_MODEL to a SAM model, or turn SAMVID_AUTO off "
        "and segment with clicks and boxes.")


def point_decoder(segmenter: Segmenter, embedding: Embedding) -> PointDecoder:
    """The batched point decoder of ``segmenter``: SAM's, or the segmenter's own
    ``decode_points(embedding, points)`` (how a test double offers one)."""
    from samvid.models.sam import SamSegmenter

    require_everything(segmenter)
    if isinstance(segmenter, SamSegmenter):
        return lambda points: sam_decode_points(segmenter, embedding, points)
    custom = segmenter.decode_points  # type: ignore[attr-defined]  # a test double's extra, not the interface's
    return lambda points: custom(embedding, points)


def sam_decode_points(segmenter: Any, embedding: Embedding,
                      points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One decoder pass for N single clicks on a cached embedding: three masks per click.

    Returns the low-resolution logits (N, 3, h', w') of the image area (SAM's padding
    cut off) and the predicted IoU (N, 3). ``segmenter`` is a ``SamSegmenter``.
    """
    import torch

    h, w = embedding.image_size
    sx, sy = segmenter._scale(h, w)
    dev, dtype = segmenter.device, segmenter.dtype
    maps = [torch.from_numpy(embedding.tensors[f"level{i}"]).to(dev, dtype)
            for i in range(len(embedding.tensors))]
    pts = segmenter.model_points(points, h, w)
    labels = torch.ones((1, len(points), 1), dtype=torch.long, device=dev)
    with segmenter._lock, torch.inference_mode():
        out = segmenter.model(image_embeddings=maps if len(maps) > 1 else maps[0],
                              input_points=pts[None, :, None], input_labels=labels,
                              multimask_output=True)
        low = out.pred_masks[0].float()  # (N, 3, 256, 256) over the 1024 input
        scores = out.iou_scores[0].float()
    if segmenter.family == "sam":  # longest side resized, the rest padded: crop it
        side = low.shape[-1]
        low = low[..., : max(1, round(h * sy * side / 1024)), : max(1, round(w * sx * side / 1024))]
    return low.cpu().numpy(), scores.cpu().numpy()


# -- Label Studio ------------------------------------------------------------------------------


def automatic_regions(predictor: Predictor, image_ref: str, task_id: int | None,
                      target: MaskTarget, label: str,
                      config: AutoConfig = AutoConfig()) -> list[dict[str, Any]]:
    """Automatic masks of a task's image as Label Studio regions, labelled ``label``.

    Uses (and fills) the predictor's embedding cache, so a frame that was precomputed
    costs only the decoder passes. Raises NoEverythingMode for segmenters without one.
    """
    from samvid.studio.results import mask_regions, new_region_id

    require_everything(predictor.segmenter)
    emb, _cached = predictor.embedding(image_ref, task_id)
    decode = point_decoder(predictor.segmenter, emb)
    regions = []
    for auto in segment_everything(decode, emb.image_size, config):
        # One object's parts (a polygon project's) share its id: <id>, <id>~2, ...
        regions += mask_regions(auto.mask, target, [label], region_id=new_region_id(), score=auto.score)
    return regions


# (model, Label Studio's address, image, its local file's stamp, target, label, config)
_Key = tuple[str, str, str, FileStamp | None, "MaskTarget", str, AutoConfig]


class AutoRegionsCache:
    """Automatic regions computed in the background, for ``/predict`` on task open.

    A grid costs minutes per frame on a CPU, longer than Label Studio waits for
    ``/predict``: ``get_or_queue`` answers at once with what is done and queues the
    rest (one frame at a time, in the order the tasks were opened).
    """

    def __init__(self, max_entries: int = 2000, max_bytes: int = 256 << 20) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._done: dict[_Key, list[dict[str, Any]]] = {}
        # Bytes as well as frames: one 720p frame's 100 brush regions hold ~1 MB, so 2000
        # frames alone let a long-running server grow by gigabytes.
        self._weights: dict[_Key, int] = {}
        self._max_bytes, self._bytes = max_bytes, 0
        self._queued: set[_Key] = set()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="samvid-auto")
        self._max = max_entries
        # Requests read while the worker stores and evicts: a frame evicted between a
        # lookup and its read would be a 500, and two requests could queue one frame twice.
        self._lock = threading.Lock()

    def get_or_queue(self, predictor: Predictor, image_ref: str, task_id: int | None,
                     target: MaskTarget, label: str,
                     config: AutoConfig = AutoConfig()) -> list[dict[str, Any]] | None:
        """The regions when computed, else None (and the work is queued once).
        NoEverythingMode is raised at once, not queued."""
        require_everything(predictor.segmenter)
        # Everything the regions depend on: two projects over the same frames (brush and
        # polygon, other names) must not get each other's regions, nor a frame extracted
        # again under the same path the old picture's (a local file's stamp tells).
        # A data: URI (the image itself) is kept as its hash, not megabytes per frame.
        # Label Studio's address too: after /setup repoints samvid, /data/upload/1/a.jpg
        # names the other server's image.
        ref = image_ref if len(image_ref) <= 4096 else hashlib.sha256(image_ref.encode()).hexdigest()
        source = predictor.source
        key = (predictor.version, source.label_studio_url, ref, source.stamp(image_ref), target, label,
               config)
        with self._lock:
            regions = self._done.get(key)
            if regions is not None or key in self._queued:
                return regions
            self._queued.add(key)
        self._pool.submit(self._compute, key, predictor, image_ref, task_id, target, label, config)
        return None

    def _compute(self, key, predictor, image_ref, task_id, target, label, config) -> None:
        try:
            regions = automatic_regions(predictor, image_ref, task_id, target, label, config)
            if predictor.source.label_studio_url != key[1]:
                return  # repointed while queued or computing: maybe the other server's image
            weight = _weight(regions)
            with self._lock:
                while self._done and (len(self._done) >= self._max or self._bytes + weight > self._max_bytes):
                    oldest = next(iter(self._done))  # oldest first
                    del self._done[oldest]
                    self._bytes -= self._weights.pop(oldest, 0)
                self._done[key], self._weights[key] = regions, weight
                self._bytes += weight
        except Exception as exc:  # noqa: BLE001 - background work: log, let a re-open retry
            log.warning("automatic masks of %s failed: %s", ref_for_log(image_ref), exc)
        finally:
            with self._lock:
                self._queued.discard(key)


def _weight(regions: list[dict[str, Any]]) -> int:
    """Roughly the bytes ``regions`` hold in memory: a brush's RLE (8 bytes a number) and a
    polygon's points (~120 bytes each) outweigh the rest (~1 KB a region)."""
    return sum(1024 + 8 * len(r["value"].get("rle", ())) + 120 * len(r["value"].get("points", ()))
               for r in regions)
