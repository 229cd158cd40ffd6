"""Annotator effort: how many frames must a person fix before every frame of a clip is right?

A simulated annotator, on the real sequences of ``../shared/davis16`` first and the
synthetic set second:

1. Frame 0 gets its true masks as a human annotation and is submitted. Propagation
   fills the clip the way a submit in Label Studio does: the same ``tracker.bridge.plan``
   and ``track_stretch`` that ``Propagator.run`` calls, with the frames held in memory.
2. The annotator reviews frames one at a time, in one of four orders (``--orders``):
   ``score``, lowest prediction score first, re-sorted after every correction, as Label
   Studio's Data Manager sorted by "Prediction score" is; ``frame``, the control; and
   ``flagged``, the frames whose score is under the threshold first, in frame order (the
   Data Manager filtered on "Prediction score" < 0.85 and sorted by frame), then the rest
   by score. ``oracle`` knows the truth and opens the earliest bad frame: a yardstick, not
   an order an annotator can follow.
3. A frame whose mean IoU against the truth is below ``--threshold`` (0.85) is
   corrected and submitted, which recomputes what a submit recomputes: the frames after
   it up to the next human frame, and with bridging the stretch before it too (both
   tracked from both ends where a human frame bounds them). A frame changed
   by a recomputation is due for review again. Review ends when every frame has been
   reviewed since it last changed: every frame is then at the threshold or better.

Corrections are the true masks (a perfect brush stroke) or, with ``--clicks``, clicks
through the weight-free ``classic`` segmenter by the DAVIS interactive protocol (first
click at the object's innermost pixel, each next one in the largest error region, at
most 20, then a brush stroke that stops at the aim, counted). ``--aim`` clicks on past
the threshold, as an annotator does who wants tracking to start from a better mask.

Reported, per sequence and on average, for every engine with bridging on and off:
frames corrected per 100 frames, frames reviewed until the last bad one was found,
the share of the corrections made within the first 30% of the frames opened, clicks per
100 frames (``--clicks``) and compute seconds. Also the score's quality on
the first propagation: Spearman correlation of score and IoU, and the share of the bad
frames found in the first 30% reviewed. ``--plot`` saves mean J&F against corrections.

    python bench/bench_effort.py                               # real + synthetic, masks
    python bench/bench_effort.py --engines copy flow-preview --clicks --no-synthetic
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from machine import describe
from scipy.stats import spearmanr
from synthetic import BENCHMARK_SET, SyntheticVideo, as_jpeg

from samvid.core.prompts import Prompt
from samvid.core.segmenter import Segmenter
from samvid.models.classic import ClassicSegmenter
from samvid.tracker.bridge import plan, track_stretch
from samvid.tracker.davis import JpegFolder, frames_dir, masks_of, sequences
from samvid.tracker.engines import engine_choices, is_engine, make_engine
from samvid.tracker.masks import FrameMasks, iou, read_label_png
from samvid.tracker.metrics import annotations_dir, first_frame_objects, score_sequence

try:  # run as ``python bench/bench_effort.py``: bench/ is on the path
    from bench_classic import corrective_click, innermost_point
except ImportError:  # pragma: no cover - imported as bench.bench_effort
    from bench.bench_classic import corrective_click, innermost_point

HERE = Path(__file__).resolve().parent
DAVIS = HERE.parent.parent / "shared" / "davis16"
MAX_CLICKS = 20
# "bad frames found in the first 30% reviewed"; a fraction, so that counting frames with it is exact
FIRST_SHARE = Fraction(3, 10)
ORDERS = ("score", "frame", "flagged", "oracle")
FOLLOWABLE = ORDERS[:3]  # the orders an annotator can follow in the Data Manager


@dataclass
class Clip:
    name: str
    frames: list[np.ndarray]
    truth: list[dict[int, np.ndarray]]  # frame -> object id -> true mask (absent: empty)

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(sorted(self.truth[0]))

    def quality(self, k: int, masks: dict[int, np.ndarray]) -> float:
        """Mean IoU over the clip's objects (absent from both: 1, as DAVIS scores it)."""
        h, w = self.frames[k].shape[:2]
        empty = np.zeros((h, w), bool)
        return float(np.mean([iou(masks.get(o, empty), self.truth[k].get(o, empty)) for o in self.ids]))


@dataclass
class Outcome:
    corrections: int = 0
    reviews: int = 0
    reviews_to_last_bad: int = 0
    clicks: int = 0
    brushed: int = 0  # objects the clicks could not bring to the aim
    track_s: float = 0.0
    curve: list[float] = field(default_factory=list)  # clip J&F after 0, 1, ... corrections
    first: list[tuple[float, float]] = field(default_factory=list)  # (score, IoU) after frame 0
    corrected_at: list[int] = field(default_factory=list)  # the review (1, 2, ...) of each correction


def frame_score(fm: FrameMasks) -> float:
    """The task's prediction score as samvid writes it: the mean over visible objects."""
    return float(fm.scores[fm.visible].mean()) if fm.visible.any() else 0.0


class Session:
    """One clip being annotated: human frames, samvid's predictions, propagation on submit."""

    def __init__(self, clip: Clip, engine: str, bridge: bool) -> None:
        self.clip, self.engine, self.bridge = clip, engine, bridge
        self.human: dict[int, dict[int, np.ndarray]] = {}
        self.pred: dict[int, FrameMasks] = {}
        self.track_s = 0.0

    def submit(self, k: int, masks: dict[int, np.ndarray]) -> set[int]:
        """A human annotation on frame ``k``; the frames whose prediction changed."""
        self.human[k] = {o: m for o, m in masks.items() if m.any()}
        self.pred.pop(k, None)
        n = len(self.clip.frames)
        changed: set[int] = set()
        t = time.perf_counter()
        for st in plan([f in self.human for f in range(n)], k, bridge=self.bridge):
            first = self.human[st.lo] if st.from_lo else {}
            last = self.human[st.hi] if st.from_hi else {}
            if not first and not last:  # every object left the view: samvid's masks go
                for f in st.written:
                    changed.update([f] if self.pred.pop(f, None) is not None else [])
                continue
            window = self.clip.frames[st.lo : st.hi + 1]
            for fm in track_stretch(lambda: make_engine(self.engine), window, first, last,
                                    given_ends=(st.from_lo, st.from_hi)):
                self.pred[st.lo + fm.frame] = fm
                changed.add(st.lo + fm.frame)
        self.track_s += time.perf_counter() - t
        return changed

    def masks(self, k: int) -> dict[int, np.ndarray]:
        if k in self.human:
            return self.human[k]
        fm = self.pred.get(k)
        if fm is None:
            return {}
        return {o: fm.masks[i] for i, o in enumerate(fm.object_ids) if fm.visible[i]}

    def score(self, k: int) -> float:
        fm = self.pred.get(k)
        return frame_score(fm) if fm is not None else 0.0

    def jf(self) -> float:
        h, w = self.clip.frames[0].shape[:2]
        pred = [_labels(self.masks(k), (h, w)) for k in range(len(self.clip.frames))]
        gt = [_labels(t, (h, w)) for t in self.clip.truth]
        return score_sequence(self.clip.name, pred, gt, object_ids=self.clip.ids).jf


def _labels(masks: dict[int, np.ndarray], hw: tuple[int, int]) -> np.ndarray:
    out = np.zeros(hw, np.uint8)
    for o, m in sorted(masks.items()):
        out[m] = o
    return out


Corrector = Callable[[Clip, int, dict[int, np.ndarray], Outcome], dict[int, np.ndarray]]


def by_brush(clip: Clip, k: int, _: dict[int, np.ndarray], out: Outcome) -> dict[int, np.ndarray]:
    return dict(clip.truth[k])


def by_clicks(segmenter: Segmenter, threshold: float, aim: float | None = None) -> Corrector:
    """Objects below ``threshold`` redrawn with clicks (DAVIS interactive protocol).

    The annotator clicks until the mask reaches ``aim`` (default: the threshold). An
    object not at the aim after ``MAX_CLICKS`` clicks is finished with the brush
    (``brush_to``), counted in ``brushed``. The brush stops at the aim too: a true mask
    there would track better than any click-made one at the aim, so a click model that
    reached the aim less often would gain by it."""
    aim = threshold if aim is None else aim

    def correct(clip: Clip, k: int, shown: dict[int, np.ndarray], out: Outcome) -> dict[int, np.ndarray]:
        emb = segmenter.embed(clip.frames[k])
        fixed = {}
        for o, truth in clip.truth[k].items():
            if not truth.any():  # absent here: a region shown for it is deleted, not kept
                fixed[o] = truth
                continue
            kept = shown.get(o, np.zeros_like(truth))
            if iou(kept, truth) >= threshold:
                fixed[o] = kept
                continue
            points, labels = [innermost_point(truth)], [1]
            while True:
                mask = segmenter.segment(emb, Prompt(points=tuple(points), labels=tuple(labels))).mask
                out.clicks += 1
                if iou(mask, truth) >= aim:
                    break
                if len(points) == MAX_CLICKS:
                    mask, out.brushed = brush_to(mask, truth, aim), out.brushed + 1
                    break
                p, lab = corrective_click(mask, truth)
                points.append(p)
                labels.append(lab)
            fixed[o] = mask
        return fixed

    return correct


def brush_to(mask: np.ndarray, truth: np.ndarray, aim: float) -> np.ndarray:
    """``mask`` painted right by a brush, its largest error region first, each one whole,
    until it reaches ``aim`` against ``truth``: an annotator paints the worst mistake
    and stops at the aim, as the clicks do."""
    out = mask.copy()
    count, regions, stats, _ = cv2.connectedComponentsWithStats((mask != truth).astype(np.uint8), connectivity=8)
    for r in sorted(range(1, count), key=lambda r: -stats[r, cv2.CC_STAT_AREA]):
        if iou(out, truth) >= aim:
            break
        painted = regions == r
        out[painted] = truth[painted]
    return out


def next_to_review(order: str, todo: list[int], score: Callable[[int], float], flag: float,
                   bad: Callable[[int], bool] | None = None) -> int:
    """The frame an annotator opens next among ``todo`` (ascending), in ``order`` (``ORDERS``).

    ``oracle`` knows the truth (``bad``) and opens the earliest bad frame: frame order's
    corrections (the earliest bad frame's mends the most frames after it) with no good
    frame opened in between. It is the yardstick for the orders an annotator can follow,
    not one of them."""
    if order == "frame":
        return todo[0]
    if order == "oracle":
        assert bad is not None, "the oracle order needs the truth"
        return next((k for k in todo if bad(k)), todo[0])
    if order == "flagged":
        flagged = [k for k in todo if score(k) < flag]
        if flagged:
            return flagged[0]
    return min(todo, key=lambda f: (score(f), f))


def annotate(clip: Clip, engine: str, bridge: bool, order: str, correct: Corrector,
             threshold: float, flag: float, curve: bool) -> Outcome:
    """Review and correct until every frame is at ``threshold`` or better; ``flag``: the
    score under which the ``flagged`` order flags a frame."""
    out = Outcome()
    session = Session(clip, engine, bridge)
    session.submit(0, clip.truth[0])
    n = len(clip.frames)
    out.first = [(session.score(k), clip.quality(k, session.masks(k))) for k in range(1, n)]
    if curve:
        out.curve.append(session.jf())
    reviewed: set[int] = set()
    while True:
        todo = [k for k in range(n) if k not in session.human and k not in reviewed]
        if not todo:
            break
        k = next_to_review(order, todo, session.score, flag,
                           bad=lambda f: clip.quality(f, session.masks(f)) < threshold)
        out.reviews += 1
        shown = session.masks(k)
        if clip.quality(k, shown) >= threshold:
            reviewed.add(k)
            continue
        out.corrections += 1
        out.reviews_to_last_bad = out.reviews
        out.corrected_at.append(out.reviews)
        reviewed -= session.submit(k, correct(clip, k, shown, out))
        if curve:
            out.curve.append(session.jf())
    out.track_s = session.track_s
    return out


# ---------------------------------------------------------------- data
def davis_clips(root: Path, names: Collection[str] | None = None) -> list[Clip]:
    """The real sequences under ``root`` (only ``names`` when given)."""
    clips = []
    for name in sequences(root):
        if names is not None and name not in names:
            continue
        folder = JpegFolder.of(frames_dir(root) / name)
        anns = annotations_dir(root) / name
        labels = [read_label_png(anns / (f.stem + ".png")) for f in folder.files]
        objects = first_frame_objects(labels[0])  # not DAVIS's void (255) beside them
        truth = [{o: lab == o for o in objects if (lab == o).any()} for lab in labels]  # as masks_of
        clips.append(Clip(name, list(folder), truth))
    return clips


def synthetic_clips(size: tuple[int, int] = (480, 854), names: Collection[str] | None = None) -> list[Clip]:
    """The synthetic benchmark set, JPEG-compressed (only ``names`` when given)."""
    clips = []
    for name, spec in BENCHMARK_SET.items():
        if names is not None and name not in names:
            continue
        video = SyntheticVideo(spec, size)
        labels = [video.labels(i) for i in range(len(video))]
        ids = sorted(masks_of(labels[0]))
        truth = [{o: lab == o for o in ids} for lab in labels]
        clips.append(Clip(name, [as_jpeg(video[i]) for i in range(len(video))], truth))
    return clips


# ---------------------------------------------------------------- report
def first_share_of(frames: int) -> int:
    """How many frames are "the first 30%" of ``frames`` opened: at most 30% of them, at
    least one. Both of the report's first-30% figures count with it."""
    return max(1, int(FIRST_SHARE * frames))


def bad_found_early(first: Sequence[tuple[float, float]], order: str, threshold: float,
                    flag: float) -> float | None:
    """Share of the bad frames among the first 30% reviewed, on the first propagation."""
    todo, seen = list(range(len(first))), []
    while todo:
        seen.append(next_to_review(order, todo, lambda i: first[i][0], flag))
        todo.remove(seen[-1])
    bad = {i for i, (_, q) in enumerate(first) if q < threshold}
    if not bad:
        return None
    head = seen[: first_share_of(len(first))]
    return len(bad.intersection(head)) / len(bad)


def found_early_in_review(out: Outcome, frames: int) -> float | None:
    """Share of the review's corrections made by the time it had opened 30% of the clip's frames."""
    if not out.corrected_at:
        return None
    return sum(r <= first_share_of(frames) for r in out.corrected_at) / len(out.corrected_at)


def spearman(pairs: Sequence[tuple[float, float]]) -> float | None:
    s, q = zip(*pairs, strict=True)
    if len(set(s)) < 2 or len(set(q)) < 2:
        return None
    return float(spearmanr(s, q).statistic)


def fmt(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or x != x else f"{x:.{digits}f}"


def mean_of(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.fmean(kept) if kept else None


def report(title: str, clips: list[Clip], runs: dict[tuple[str, bool, str], list[Outcome]],
           clicks: bool, threshold: float, flag: float) -> None:
    per100 = lambda n, c: 100 * n / (len(c.frames) - 1)  # noqa: E731
    print(f"\n### {title}: {len(clips)} clips, {sum(len(c.frames) for c in clips)} frames, "
          f"threshold {threshold}\n")
    head = ("| engine | bridge | review order | corrected /100 frames | reviewed until the last bad /100 frames"
            " | reviewed /100 frames | corrections made in the first 30% reviewed")
    print(head + (" | clicks /100 frames | brush finishes" if clicks else "") + " | compute s |")
    print("|---|---|---|---:|---:|---:|---:|" + ("---:|---:|" if clicks else "") + "---:|")

    def mean100(pairs: list[tuple[Outcome, Clip]], count: Callable[[Outcome], int]) -> str:
        return f"{statistics.fmean(per100(count(o), c) for o, c in pairs):.1f}"

    for (engine, bridge, order), outs in runs.items():
        pairs = list(zip(outs, clips, strict=True))
        early = mean_of([found_early_in_review(o, len(c.frames) - 1) for o, c in pairs])
        cells = [mean100(pairs, lambda o: o.corrections), mean100(pairs, lambda o: o.reviews_to_last_bad),
                 mean100(pairs, lambda o: o.reviews), fmt(early)]
        if clicks:
            cells += [mean100(pairs, lambda o: o.clicks), str(sum(o.brushed for o in outs))]
        cells.append(f"{sum(o.track_s for o in outs):.0f}")
        label = f"flagged (score < {flag})" if order == "flagged" and flag != threshold else order
        print(f"| {engine} | {'on' if bridge else 'off'} | {label} | "
              + " | ".join(cells) + " |")
    first_order = next(iter(runs))[2]
    keys = [k for k in runs if k[2] == first_order]
    print(f"\nFrames corrected per 100 frames, review order {first_order}, per clip:\n")
    print("| clip | frames | " + " | ".join(f"{e} (bridge {'on' if b else 'off'})" for e, b, _ in keys) + " |")
    print("|---|---:|" + "---:|" * len(keys))
    for i, c in enumerate(clips):
        print(f"| {c.name} | {len(c.frames)} | "
              + " | ".join(f"{per100(runs[k][i].corrections, c):.1f}" for k in keys) + " |")
    print("\nThe score on the first propagation (from frame 0 alone):\n")
    print("| engine | Spearman score~IoU, mean of clips | pooled | bad frames in the first 30%, "
          + " | ".join(f"order {o}" for o in FOLLOWABLE) + " | by true IoU (the most any order finds) |")
    print("|---|---:|---:|" + "---:|" * (len(FOLLOWABLE) + 1))
    for engine in dict.fromkeys(k[0] for k in runs):
        outs = next(v for k, v in runs.items() if k[0] == engine)
        pooled = [p for o in outs for p in o.first]
        early = [fmt(mean_of([bad_found_early(o.first, order, threshold, flag) for o in outs])) for order in FOLLOWABLE]
        best = mean_of([bad_found_early([(q, q) for _, q in o.first], "score", threshold, threshold) for o in outs])
        print(f"| {engine} | {fmt(mean_of([spearman(o.first) for o in outs]))} | {fmt(spearman(pooled))} | "
              + " | ".join(early) + f" | {fmt(best)} |")


def plot(path: Path, curves: dict[str, list[list[float]]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for name, per_clip in curves.items():
        longest = max(len(c) for c in per_clip)
        padded = np.array([c + [c[-1]] * (longest - len(c)) for c in per_clip])  # a finished clip stays
        ax.plot(range(longest), padded.mean(axis=0), label=name)
    ax.set_xlabel("frames corrected")
    ax.set_ylabel("mean J&F of the clip")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"\nplot: {path}")


def engine_name(name: str) -> str:
    """An ``--engines`` value, checked before any clip is read: a typo fails at once."""
    if is_engine(name):
        return name
    raise argparse.ArgumentTypeError(f"unknown engine {name!r}; choose one of {engine_choices()}")


def unwritable(path: Path) -> str | None:
    """Why an output file ``path`` cannot be written, or None: checked before the runs,
    which would otherwise end in a traceback after hours, their outcomes unsaved."""
    if path.is_dir():
        return f"{path} is a folder: give a file name"
    if not path.parent.is_dir():
        return f"{path.parent} does not exist: create it first"
    return None


def saved_outcomes(path: Path) -> dict[str, Any] | None:
    """The outcomes a ``--json`` file holds ({} when there is none yet); None when it is not
    such a file."""
    if not path.is_file():
        return {}
    try:
        saved = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        return None
    return saved if isinstance(saved, dict) else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", nargs="+", type=engine_name, default=["copy", "flow-preview", "flow"])
    ap.add_argument("--davis", type=Path, default=DAVIS)
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--no-synthetic", action="store_true")
    ap.add_argument("--bridge", choices=["on", "off", "both"], default="both")
    ap.add_argument("--orders", nargs="+", choices=ORDERS, default=list(ORDERS), help="review orders to run")
    ap.add_argument("--clicks", action="store_true", help="correct with classic clicks, not whole masks")
    ap.add_argument("--threshold", type=float, default=0.85)
    ap.add_argument("--flag-below", type=float, help="the score under which the flagged order flags a frame "
                    "(a Data Manager filter; default: the threshold)")
    ap.add_argument("--aim", type=float, help="with --clicks: click on until this IoU (default: the threshold)")
    ap.add_argument("--clips", nargs="*", help="only these clip names")
    ap.add_argument("--plot", type=Path, help="PNG of mean J&F against corrections (real clips)")
    ap.add_argument("--json", type=Path, help="also save the outcomes here (for --plot-from)")
    ap.add_argument("--plot-from", type=Path, nargs="+", help="only plot the curves of these --json files")
    args = ap.parse_args()
    missing = [str(path) for path in args.plot_from or () if not path.is_file()]
    if missing:
        ap.error(f"no file {', '.join(missing)}: save the outcomes with --json first")
    if args.plot and not args.plot_from and ("score" not in args.orders or args.no_real):
        ap.error("--plot draws the real clips reviewed by score: keep score in --orders, drop --no-real")
    if not 0 < args.threshold <= 1:
        ap.error(f"--threshold {args.threshold} is no IoU: give one above 0 and at most 1")
    if args.aim is not None and not args.threshold <= args.aim <= 1:
        # Clicks that stopped under the threshold would leave a corrected frame bad for good:
        # a human frame is never reviewed again.
        ap.error(f"--aim {args.aim} must be at least the threshold ({args.threshold}) and at most 1")
    for option, path in (("--plot", args.plot), ("--json", args.json)):
        problem = path and unwritable(path)
        if problem:
            ap.error(f"{option}: {problem}")
    no_matplotlib = importlib.util.find_spec("matplotlib") is None
    if args.plot and not args.plot_from and no_matplotlib:
        ap.error("--plot needs matplotlib: pip install -e '.[bench]'")
    not_outcomes = [str(path) for path in (*(args.plot_from or ()), *([args.json] if args.json else ()))
                    if saved_outcomes(path) is None]
    if not_outcomes:
        ap.error(f"{', '.join(not_outcomes)} holds no saved outcomes (not a JSON object): "
                 "give another file, or remove it")
    print(describe(), flush=True)
    if args.plot_from:
        curves, bridged = {}, set()
        for path in args.plot_from:
            for key, outs in (saved_outcomes(path) or {}).get("real", {}).items():
                engine, bridge, order = key.split("|")
                if order == "score" and all(o["curve"] for o in outs):
                    curves[engine] = [o["curve"] for o in outs]
                    bridged.add(bridge.replace("=", " "))
        if not curves:  # an empty plot would pass for a result
            ap.error("no real clips reviewed by score with their J&F curve in "
                     f"{', '.join(map(str, args.plot_from))}: save them with --plot and --json together")
        if no_matplotlib:
            ap.error("--plot-from needs matplotlib: pip install -e '.[bench]'")
        title = "Real video (davis16): review by score" + (f", {bridged.pop()}" if len(bridged) == 1 else "")
        plot(args.plot or Path("effort.png"), curves, title)
        return 0
    bridges = {"on": [True], "off": [False], "both": [True, False]}[args.bridge]
    flag = args.threshold if args.flag_below is None else args.flag_below
    correct = by_clicks(ClassicSegmenter(), args.threshold, args.aim) if args.clicks else by_brush
    sets: list[tuple[str, bool, list[str]]] = []  # title, real?, clip names
    if not args.no_real:
        if not args.davis.is_dir():
            ap.error(f"{args.davis} is missing: give --davis ROOT or --no-real")
        sets.append(("Real video (davis16)", True, sequences(args.davis)))
    if not args.no_synthetic:
        sets.append(("Synthetic set (JPEG)", False, list(BENCHMARK_SET)))
    if not sets:
        ap.error("--no-real and --no-synthetic leave no clip to annotate")
    known = [name for *_, names in sets for name in names]
    unknown = [name for name in args.clips or () if name not in known]
    if unknown:  # checked before anything runs: a typo would otherwise crash the report after the runs
        ap.error(f"no clip named {', '.join(unknown)}; the clips: {', '.join(known)}")
    for title, real, names in sets:
        chosen = [name for name in names if not args.clips or name in args.clips]
        if not chosen:  # --clips names only clips of the other set
            continue
        clips = davis_clips(args.davis, chosen) if real else synthetic_clips(names=chosen)
        runs: dict[tuple[str, bool, str], list[Outcome]] = {}
        for engine in args.engines:
            for bridge in bridges:
                for order in args.orders:
                    key = (engine, bridge, order)
                    runs[key] = []
                    for clip in clips:
                        o = annotate(clip, engine, bridge, order, correct, args.threshold, flag,
                                     curve=bool(args.plot) and real and order == "score" and bridge == bridges[0])
                        runs[key].append(o)
                        print(f"  {engine:<13} bridge {'on ' if bridge else 'off'} "
                              f"{order:<7} {clip.name:<16} "
                              f"corrected {o.corrections:3d}/{len(clip.frames) - 1} reviewed {o.reviews:4d} "
                              f"(last bad {o.reviews_to_last_bad:4d}) "
                              f"clicks {o.clicks:4d} {o.track_s:6.1f}s", flush=True)
        report(title, clips, runs, args.clicks, args.threshold, flag)
        if args.json:
            saved = saved_outcomes(args.json) or {}
            saved["real" if real else "synthetic"] = {
                f"{e}|bridge={'on' if b else 'off'}|{order}": [asdict(o) for o in outs]
                for (e, b, order), outs in runs.items()}
            args.json.write_text(json.dumps(saved))
        if args.plot and real:
            curves = {e: [o.curve for o in runs[(e, bridges[0], "score")]] for e in args.engines
                      if (e, bridges[0], "score") in runs}
            if all(all(c) for cs in curves.values() for c in cs):
                plot(args.plot, curves, f"{title}: review by score, bridge {'on' if bridges[0] else 'off'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
