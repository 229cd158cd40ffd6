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

# Each neighbour direction (dy, dx) and its per-pixel link weights.
Links = list[tuple[tuple[int, int], np.ndarray]]
Pair = tuple[tuple[slice, slice], tuple[slice, slice]]


def _pairs(shape: tuple[int, int], dy: int, dx: int) -> Pair:
    """The pixels a link in direction (dy, dx) starts from, and those it ends at."""
    h, w = shape
    return (slice(0, h - dy), slice(max(0, -dx), w - max(0, dx))), (slice(dy, h), slice(max(0, dx), w - max(0, -dx)))


def contrast_links(
    image: np.ndarray, smoothness: float, neighbours: tuple[tuple[tuple[int, int], float], ...] = FOUR,
) -> Links:
    """Each neighbour direction and its per-pixel link weights (at the pixel the
    link starts from): ``smoothness`` x factor x exp(-beta x squared colour difference),
    beta being the inverse of twice the mean squared difference between neighbours."""
    img = np.asarray(image, np.float64)  # GrabCut passes float64 already: no copy
    h, w = img.shape[:2]
    diffs = []
    for (dy, dx), _ in neighbours:
        a, b = _pairs((h, w), dy, dx)
        diffs.append(((img[a] - img[b]) ** 2).sum(-1))
    sizes = sum(d.size for d in diffs)
    mean = sum(float(d.sum()) for d in diffs) / sizes if sizes else 0.0
    beta = 1.0 / (2 * mean) if mean > 0 else 0.0
    out = []
    for ((dy, dx), factor), d in zip(neighbours, diffs, strict=True):
        weights = np.zeros((h, w))
        weights[_pairs((h, w), dy, dx)[0]] = smoothness * factor * np.exp(-beta * d)
        out.append(((dy, dx), weights))
    return out


def min_cut(links: Links, excess: np.ndarray) -> np.ndarray:
    """The labelling of least energy (True = object), given each pixel's cost as object
    minus its cost as background (``excess``)."""
    return GridCut(links).cut(excess)


class GridCut:
    """A grid's graph, built once and cut as often as its evidence changes (GrabCut cuts
    the same graph once per iteration).

    Pixels in ``fixed`` keep their label in ``labels`` and stay out of the graph: a link
    from a free pixel to a fixed one only adds to the free pixel's evidence (a box's
    margin is fixed background: about two fifths of its crop). Each cut after the first
    starts from the last one's flow and search trees (Kohli and Torr's dynamic graph
    cuts), which costs less than a new search when the evidence moves little. Either way
    the cut is a minimum one, as from a new graph.
    """

    def __init__(self, links: Links, fixed: np.ndarray | None = None, labels: np.ndarray | None = None) -> None:
        shape = links[0][1].shape
        self._free = np.ones(shape, bool) if fixed is None else ~fixed
        self._labels = np.zeros(shape, bool) if labels is None else labels & ~self._free
        n = int(np.count_nonzero(self._free))
        index = np.full(shape, -1, np.int64)
        index[self._free] = np.arange(n)
        self._bias = np.zeros(n)  # evidence from links to fixed pixels
        # Reserving room for every node and link up front spares the graph's arrays
        # their regrowth: a third of building a tracker's graph (docs/lab/tracker.md, Speed).
        self._graph = maxflow.Graph[float](n, n * len(links))
        self._nodes = self._graph.add_nodes(n)
        for (dy, dx), weights in links:
            a, b = _pairs(shape, dy, dx)
            ia, ib, weight = index[a].ravel(), index[b].ravel(), weights[a].ravel()
            both = (ia >= 0) & (ib >= 0) & (weight > 0)
            self._graph.add_edges(ia[both], ib[both], weight[both], weight[both])
            for node, other, other_label in ((ia, ib, self._labels[b].ravel()), (ib, ia, self._labels[a].ravel())):
                one = (node >= 0) & (other < 0) & (weight > 0)
                # The free pixel pays the link when it takes the other side than its fixed neighbour.
                self._bias += np.bincount(node[one], np.where(other_label[one], -weight[one], weight[one]), n)
        self._last: np.ndarray | None = None

    @property
    def free(self) -> np.ndarray:
        """The pixels in the graph (bool, the grid's shape)."""
        return self._free

    def cut(self, excess: np.ndarray) -> np.ndarray:
        """The labelling of least energy for ``excess`` (see ``min_cut``); fixed pixels keep their label."""
        return self.cut_free(excess[self._free])

    def cut_free(self, excess: np.ndarray) -> np.ndarray:
        """``cut`` given ``excess`` of the free pixels only, in row-major order: the
        evidence of a fixed pixel is never read, so it need not be computed."""
        cost = excess.astype(np.float64) + self._bias
        moved: np.ndarray
        if self._last is None:
            moved, change = np.arange(cost.size), cost
        else:
            moved = np.flatnonzero(cost != self._last)
            change = cost[moved] - self._last[moved]
        if moved.size:
            # Source side = object: a pixel left on the sink side cuts its source link.
            # Capacities added to a cut graph add to its residual ones (its flow stays valid).
            self._graph.add_grid_tedges(self._nodes[moved], np.maximum(-change, 0), np.maximum(change, 0))
            if self._last is None:
                self._graph.maxflow()
            else:
                self._graph.mark_grid_nodes(self._nodes[moved])
                self._graph.maxflow(reuse_trees=True)
        self._last = cost
        out = self._labels.copy()
        if cost.size:
            out[self._free] = ~self._graph.get_grid_segments(self._nodes)
        return out
