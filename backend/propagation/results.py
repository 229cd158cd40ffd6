"""What propagation writes on a frame: Label Studio regions for its tracked masks
(``frame_results``) and the frame's score, under samvid's own model prefix."""

from __future__ import annotations

from typing import Any

import numpy as np

from samvid.propagation.seeds import ObjectSeed
from samvid.studio.protocol import MaskTarget, is_labels_result
from samvid.studio.results import mask_regions, object_region_id
from samvid.tracker.engines import resolved
from samvid.tracker.masks import FrameMasks

MODEL_PREFIX = "samvid-track"


def track_model_version(engine: str) -> str:
    """The ``model_version`` propagated masks of ``engine`` are stored under (``auto`` named
    as this process resolved it): what ``/setup`` reports, so Label Studio's labeling stream
    shows them (``studio/stream.py``)."""
    return f"{MODEL_PREFIX}:{resolved(engine)}"


def frame_results(fm: FrameMasks, seeds: dict[int, ObjectSeed],
                  target: MaskTarget) -> tuple[list[dict[str, Any]], float]:
    """Label Studio regions for one frame's masks: for each visible object (``seeds``: the
    object as a human drew it, by the object id the tracker knows it by) its region (a
    polygon project's: one polygon per part, ``<id>``, ``<id>~2``, ...), with its extras."""
    result: list[dict[str, Any]] = []
    scores: list[float] = []
    for k, obj in enumerate(fm.object_ids):
        seed = seeds[obj]
        if not fm.visible[k]:
            continue  # a vanished object gets no region; it returns with the same id
        regions = mask_regions(fm.masks[k], target, list(seed.labels), region_id=seed.region_id,
                               control=seed.control, score=float(fm.scores[k]))
        if not regions:
            continue
        if seed.numbered and seed.id_in_meta:  # its object id, as the human frame gave it (``seeds_from_result``)
            regions = [{**r, "meta": {"object_id": int(seed.key)}} for r in regions]
        result.extend(regions)
        result.extend({**extra, "origin": "prediction"} for extra in seed.extras)
        scores.append(float(fm.scores[k]))
    return result, float(np.mean(scores)) if scores else 0.0


def frame_score(result: list[dict[str, Any]]) -> float:
    """A frame's score from its regions: the mean over its objects (each object's parts
    carry its score)."""
    by_object = {object_region_id(r.get("id")): float(r["score"]) for r in result
                 if _scored(r) and isinstance(r.get("score"), (int, float))}
    return float(np.mean(list(by_object.values()))) if by_object else 0.0


def _scored(result: dict[str, Any]) -> bool:
    """Whether ``result`` is a region's geometry or label, which carry its score (an
    unlabelled plain <Brush>/<Polygon> region is its geometry alone), not a per-region extra."""
    return is_labels_result(result) or str(result.get("type")) in ("brush", "polygon")
