"""A binary labelling by minimum cut: each pixel's evidence for one side against the
other, plus GrabCut's contrast-sensitive Potts term (Rother et al., 2004), so that the
outline snaps to image edges. The max-flow is PyMaxflow's.

Both graph cuts of samvid are this one: the tracker's (``segment_engine``: log-odds of
the object on the 4-neighbourhood) and the classic segmenter's GrabCut
(``samvid.models.grabcut``: colour-model costs on the 8-neighbourhood).
"""

from __future__ import annotations

import maxflow
import numpy as np

# (dy, dx) of each neighbour link and its weight factor, 1 / distance.
FOUR = (((0, 1), 1.0), ((1, 0), 1.0))
EIGHT = FOUR + (((1, 1), 2**-0.5), ((1, -1), 2**-0.5))

Links = list[tuple[np.ndarray, np.ndarray]]


def contrast_links(
    image: np.ndarray, smoothness: float, neighbours: tuple[tuple[tuple[int, int], float], ...] = FOUR,
) -> Links:
    """Each neighbour direction's structure and per-pixel link weights (at the pixel the
    link starts from): ``smoothness`` x factor x exp(-beta x squared colour difference),
    beta being the inverse of twice the mean squared difference between neighbours."""
    img = np.asarray(image, np.float64)  # GrabCut passes float64 already: no copy
    h, w = img.shape[:2]
    diffs = []
    for (dy, dx), _ in neighbours:
        a = img[: h - dy, max(0, -dx): w - max(0, dx)]
        b = img[dy:, max(0, dx): w - max(0, -dx)]
        diffs.append(((a - b) ** 2).sum(-1))
    sizes = sum(d.size for d in diffs)
    mean = sum(float(d.sum()) for d in diffs) / sizes if sizes else 0.0
    beta = 1.0 / (2 * mean) if mean > 0 else 0.0
    out = []
    for ((dy, dx), factor), d in zip(neighbours, diffs, strict=True):
        weights = np.zeros((h, w))
        weights[: h - dy, max(0, -dx): w - max(0, dx)] = smoothness * factor * np.exp(-beta * d)
        structure = np.zeros((3, 3))
        structure[1 + dy, 1 + dx] = 1
        out.append((structure, weights))
    return out


def min_cut(links: Links, excess: np.ndarray) -> np.ndarray:
    """The labelling of least energy (True = object), given each pixel's cost as object
    minus its cost as background (``excess``)."""
    g = maxflow.Graph[float]()
    nodes = g.add_grid_nodes(excess.shape)
    for structure, weights in links:
        g.add_grid_edges(nodes, weights=weights, structure=structure, symmetric=True)
    # Source side = object: a pixel left on the sink side cuts its source link.
    cost = excess.astype(np.float64)
    g.add_grid_tedges(nodes, np.maximum(-cost, 0), np.maximum(cost, 0))
    g.maxflow()
    return ~g.get_grid_segments(nodes)
