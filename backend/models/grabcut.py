"""GrabCut (Rother et al., 2004) with the weight of its edge term as a parameter.

OpenCV's ``cv2.grabCut`` fixes that weight at the paper's 50, chosen for whole
photographs. The classic segmenter cuts crops brought down to a few hundred
pixels (260 for a box, 96 for a click's probes). There an outline is short in
pixels against the area it encloses, so the same weight smooths more: it fills
a thin gap of background, such as the court between a player's legs
(``test_grabcut.py`` shows it on two legs 2 px apart). Half the weight
(``SMOOTHNESS``) gives better masks on real frames, above all from one click
(docs/lab/classic.md has the figures).

The colour models are not OpenCV's 5 Gaussians a side but 3 for the object and 12
for the background. A box starts with its whole inside as object, and the inside of
a box around a person, an animal or an object partly hidden by another is half
background or more. With 5 components the object's model keeps one for such a colour
(the occluder, the court between the legs), so it stays object; with 3 it spends them
on the object's own colours. The background is whatever surrounds the box, many
colours, which 12 components follow more closely than 5. The box on real frames went
from 0.796 to 0.840 IoU; more components on both sides had lost (docs/lab/classic.md has
the figures, for other counts too).

The object's first model can be fit to part of its side (``start``): the classic segmenter
fits it to a box's middle, which holds mostly object where the box's corners hold mostly
background.

The colours can be modelled in several colour spaces at once (``spaces``), each with its
own models, a pixel's cost being their mean; the edge term stays RGB's. GrabCut finds a
local optimum, and which one depends on where k-means starts the models, a distance in
the colour space: on real frames a box's IoU spreads from 0.841 (Lab) to 0.850 (YCrCb)
across single spaces, and the best on davis16 is not the best on the same frames dulled
or cut by the image's edge. The mean of RGB, Lab and YCrCb gains on both (docs/lab/classic.md)
for one graph cut per iteration, not three.

Everything else is OpenCV's: full-covariance Gaussians started by k-means, each pixel
assigned to its likeliest component; the contrast-sensitive Potts term on the
8-neighbourhood; hard labels that no link can overturn. The graph and its cut are the
tracker's (``samvid.tracker.cut``): built once per call and cut again each iteration,
with the hard pixels left out of it.

Several cuts of one image can share a ``CutCache``: a box's second cut starts its colour
models from the same pixels as its first, and k-means is a quarter of a cut's time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from samvid.tracker.cut import EIGHT, GridCut, Links, contrast_links

SMOOTHNESS = 25.0  # OpenCV's weight is 50 (the paper's)
OBJECT_COMPONENTS = 3  # OpenCV's is 5 a side (see above)
BACKGROUND_COMPONENTS = 12
# The colour spaces a cut can model colours in (OpenCV's conversions from RGB).
COLOUR_SPACES: dict[str, int | None] = {"rgb": None, "lab": cv2.COLOR_RGB2Lab, "ycrcb": cv2.COLOR_RGB2YCrCb}


@dataclass
class CutCache:
    """What cuts of one ``image`` share: its contrast links, its colours' moments in each
    space, and the colour models k-means starts from, by the pixels they were fit to.
    Every entry is a pure function of the image and its key, so sharing changes no cut."""

    image: np.ndarray
    _links: dict[float, Links] = field(default_factory=dict)
    _views: dict[str, np.ndarray] = field(default_factory=dict)
    _starts: dict[tuple[str, int, bytes], np.ndarray] = field(default_factory=dict)

    def links(self, smoothness: float) -> Links:
        if smoothness not in self._links:
            self._links[smoothness] = contrast_links(self.image.astype(np.float64), smoothness, EIGHT)
        return self._links[smoothness]

    def moments(self, space: str) -> np.ndarray:
        if space not in self._views:
            self._views[space] = _moments(_colours(self.image, space))
        return self._views[space]

    def start(self, space: str, pixels: np.ndarray, components: int) -> np.ndarray:
        """The first model of ``components`` Gaussians of the colours of ``pixels`` (bool, flat)."""
        key = (space, components, np.packbits(pixels).tobytes())
        if key not in self._starts:
            self._starts[key] = _start(self.moments(space)[:, pixels], components)
        return self._starts[key]


def grabcut(image: np.ndarray, fg: np.ndarray, hard: np.ndarray, iterations: int,
            smoothness: float = SMOOTHNESS, start: np.ndarray | None = None,
            spaces: tuple[str, ...] = ("rgb",), cache: CutCache | None = None) -> np.ndarray:
    """The object mask of ``image`` (H, W, 3) uint8 RGB, starting from the object pixels
    ``fg`` (bool), with ``hard`` (bool) pixels keeping their starting label. Both
    sides must have pixels. The object's first colour model is fit to ``start`` (bool,
    within ``fg``; default ``fg`` itself), the background's to the rest of the image.
    With several colour ``spaces`` (names in ``COLOUR_SPACES``), each has its own
    colour models and a pixel's cost is their mean. Deterministic (k-means is seeded).
    A ``cache`` (of this ``image``) shares work with other cuts of it."""
    if cache is None:
        cache = CutCache(image)
    elif cache.image is not image:
        raise ValueError("a CutCache serves cuts of its own image only")
    h, w = fg.shape
    links = cache.links(smoothness)
    views = [cache.moments(space) for space in spaces]
    labels = fg.ravel().copy()
    first = labels if start is None else start.ravel() & labels
    if np.count_nonzero(first) < 10:  # too few to fit a model to: the whole object side
        first = labels
    models = [
        (cache.start(space, first, OBJECT_COMPONENTS), cache.start(space, ~labels, BACKGROUND_COMPONENTS))
        for space in spaces
    ]
    # A pixel's eight links weigh at most 8 * smoothness together, so a cost difference
    # beyond that already fixes its side: capping it there changes no cut and keeps
    # infinite costs out of the graph.
    cap = 8 * smoothness + 1
    graph = GridCut(links, hard, fg)
    # Only the free pixels' costs reach the cut: a box's fixed margin is about two
    # fifths of its crop, and the costs are most of an iteration's arithmetic.
    free = graph.free.ravel()
    free_views = [m[:, free] for m in views]
    for _ in range(iterations):
        if labels.all() or not labels.any():
            break  # the last cut took every pixel to one side: no colours left to learn from
        models = [(_refit(m[:, first], obj), _refit(m[:, ~labels], bg)) for m, (obj, bg) in zip(views, models, strict=True)]
        excess = sum(_cost(m, obj) - _cost(m, bg) for m, (obj, bg) in zip(free_views, models, strict=True)) / len(views)
        labels = first = graph.cut_free(np.clip(excess, -cap, cap)).ravel()
    return labels.reshape(h, w)


def _colours(image: np.ndarray, space: str) -> np.ndarray:
    """Each pixel's colour in ``space``, one row per pixel."""
    if space not in COLOUR_SPACES:
        raise ValueError(f"unknown colour space {space!r}: use one of {', '.join(COLOUR_SPACES)}")
    code = COLOUR_SPACES[space]
    converted = image if code is None else cv2.cvtColor(image, code)
    return converted.reshape(-1, 3).astype(np.float64)


def _moments(x: np.ndarray) -> np.ndarray:
    """Each colour's monomials up to degree 2, one row each: (x0^2, x1^2, x2^2, x0x1,
    x0x2, x1x2, x0, x1, x2, 1). A Gaussian's log-density is linear in them, and their
    sums are a component's sufficient statistics, so a whole model is one matrix
    product. One row per monomial keeps each contiguous for ``np.bincount``."""
    a, b, c = x.T
    return np.stack([a * a, b * b, c * c, a * b, a * c, b * c, a, b, c, np.ones_like(a)])


def _start(moments: np.ndarray, components: int) -> np.ndarray:
    """A colour model of up to ``components`` Gaussians from k-means clusters, as OpenCV starts one."""
    k = min(components, moments.shape[1])
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_MAX_ITER, 10, 0.0)
    colours = np.ascontiguousarray(moments[6:9].T, np.float32)  # the degree-1 monomials
    _, assign, _ = cv2.kmeans(
        colours, k, np.zeros((len(colours), 1), np.int32), criteria, 1, cv2.KMEANS_PP_CENTERS
    )
    return _fit(moments, assign.ravel(), k)


def _refit(moments: np.ndarray, model: np.ndarray) -> np.ndarray:
    """Assign each pixel to its likeliest component and fit the components again."""
    return _fit(moments, (model.T @ moments).argmax(0), model.shape[1])


# Where each pair of colour axes (i, j) has its second moment among the monomials.
_SECOND = np.array([[0, 3, 4], [3, 1, 5], [4, 5, 2]])


def _fit(moments: np.ndarray, assign: np.ndarray, k: int) -> np.ndarray:
    """The model of the components ``assign`` names, as a (10, k) matrix: the
    moments of a colour times it are that colour's log-density under each weighted
    component. An empty component gets -inf for every colour."""
    sums = np.stack([np.bincount(assign, row, k) for row in moments])  # (10, k)
    model = np.zeros((moments.shape[0], k))
    model[9] = -np.inf
    live = np.flatnonzero(sums[9])
    if live.size == 0:
        return model
    n = sums[9, live]
    mean = (sums[6:9, live] / n).T  # (live, 3)
    # A component of one flat colour has a singular covariance: OpenCV adds 0.01 too.
    cov = (sums[_SECOND][:, :, live] / n).transpose(2, 0, 1) - mean[:, :, None] * mean[:, None, :] + 0.01 * np.eye(3)
    prec = np.linalg.inv(cov)
    pm = (prec * mean[:, None, :]).sum(-1)
    log_norm = np.log(n / moments.shape[1]) - 0.5 * np.log(np.linalg.det(cov)) - 1.5 * np.log(2 * np.pi)
    model[:, live] = -0.5 * np.stack([
        prec[:, 0, 0], prec[:, 1, 1], prec[:, 2, 2], 2 * prec[:, 0, 1], 2 * prec[:, 0, 2], 2 * prec[:, 1, 2],
        -2 * pm[:, 0], -2 * pm[:, 1], -2 * pm[:, 2], (mean * pm).sum(-1),
    ])
    model[9, live] += log_norm
    return model


def _cost(moments: np.ndarray, model: np.ndarray) -> np.ndarray:
    """-log of the mixture's density of each colour."""
    # Components along the first axis: reducing over a few long rows is several
    # times faster than over many short ones, and this runs on every pixel, every
    # iteration.
    logs = model.T @ moments
    top = logs.max(0)
    logs -= top
    np.exp(logs, out=logs)
    return -(top + np.log(logs.sum(0)))
