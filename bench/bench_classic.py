"""Quality and speed of the classic (weight-free) segmenter, real frames first.

1. **Real frames** (``../shared/davis16``: DAVIS 2016 frames with human masks, every
   ``--stride``-th frame of each sequence): mean IoU from a box (the mask's bounding
   box), from one click (the mask pixel farthest from its boundary) and from the box
   plus one corrective click; the clicks needed to reach 0.85 and 0.90 IoU, capped
   at 20, by the DAVIS interactive protocol (each new click at the pixel farthest
   from the boundary of the largest error region, positive on a miss, negative on
   a false alarm, all earlier clicks kept); and ms per click. Per sequence too.
2. **Speed at 720p**: the same prompts on those frames resized to 1280x720.
3. **Synthetic stills** with exact masks (``bench/synthetic.py: render_still``).
4. With ``--media``: hand-drawn boxes on ``../shared/media`` clips
   (``classic_real_boxes.json``, no ground truth): speed and mask/box fill.
5. With ``--variants`` (alone): box, one click and box + click on the real frames
   mirrored, resized, cut by the image's edge, dulled and JPEG-compressed.

    python bench/bench_classic.py                       # the tables of docs/classic.md
    python bench/bench_classic.py --stride 15 --seeds 5  # quick look
    python bench/bench_classic.py --variants             # the same real frames, changed

Times are wall clock per ``segment`` call after ``embed`` (cached per image by the
server), with this process's CPU time beside it: on a shared machine the wall time
includes waiting for a core. As in the server, one segmenter answers every call, so
the n-th click of a sequence reuses the answer to the first n - 1 (the classic
segmenter caches click prefixes) and costs one edit.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from machine import describe
from PIL import Image
from synthetic import render_still
from variants import dull, jpeg, mirror, resize_image, resize_labels

from samvid.commands.arguments import at_least_one
from samvid.core.prompts import Prompt
from samvid.models.classic import ClassicSegmenter
from samvid.models.classic_ops import innermost

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
DAVIS = SHARED / "davis16"
MEDIA = SHARED / "media"
SIZES = {"480p": (480, 854), "720p": (720, 1280)}
MIN_OBJECT_FRACTION = 0.005  # objects covering less of the image are skipped
MAX_CLICKS = 20
TARGETS = (0.85, 0.90)

Point = tuple[float, float]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


def innermost_point(mask: np.ndarray) -> Point:
    """The protocol's first click: the pixel centre farthest from the mask's boundary
    (image border counts), with the 5x5 distance mask the figures were measured with."""
    return innermost(mask, cv2.DIST_MASK_5)


def corrective_click(pred: np.ndarray, truth: np.ndarray) -> tuple[Point, int]:
    """Where an annotator clicks to fix ``pred``: inside the largest error region."""
    regions = []
    for err, label in ((truth & ~pred, 1), (pred & ~truth, 0)):
        n, labels, stats, _ = cv2.connectedComponentsWithStats(err.astype(np.uint8), connectivity=8)
        if n > 1:
            k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            regions.append((int(stats[k, cv2.CC_STAT_AREA]), labels == k, label))
    if not regions:
        return innermost_point(truth), 1
    _, region, label = max(regions, key=lambda r: r[0])
    return innermost_point(region), label


def bbox(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


@dataclass
class Result:
    ious: dict[str, list[float]] = field(default_factory=lambda: {"box": [], "click": [], "box+click": []})
    noc: dict[float, list[int]] = field(default_factory=lambda: {t: [] for t in TARGETS})
    curve: list[list[float]] = field(default_factory=list)  # IoU after each click, per object
    ms: list[float] = field(default_factory=list)  # wall clock per segment call
    cpu_ms: list[float] = field(default_factory=list)  # this process's CPU time per call
    kinds: list[str] = field(default_factory=list)  # which prompt each call was (``PROMPTS``)

    def extend(self, other: Result) -> None:
        for k in self.ious:
            self.ious[k] += other.ious[k]
        for t in self.noc:
            self.noc[t] += other.noc[t]
        self.curve += other.curve
        self.ms += other.ms
        self.cpu_ms += other.cpu_ms
        self.kinds += other.kinds

    def lowered(self) -> float:
        """Share of clicks (second and later) that lowered the IoU by more than 0.01."""
        steps = [b - a for c in self.curve for a, b in zip(c, c[1:])]
        return sum(d < -0.01 for d in steps) / max(1, len(steps))


# The kinds of call ``evaluate`` times: they cost differently (a first click probes its
# extent; a later click is a local edit), and the speed target holds for each.
PROMPTS = ("box", "box + click", "one click", "later click")


def timed(fn: Callable[[], np.ndarray], res: Result, kind: str = "") -> np.ndarray:
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    res.ms.append(1000 * (time.perf_counter() - t))
    res.cpu_ms.append(1000 * (time.process_time() - c))
    res.kinds.append(kind)
    return out


def evaluate(
    seg: ClassicSegmenter, image: np.ndarray, truth: np.ndarray, res: Result, max_clicks: int = MAX_CLICKS
) -> None:
    """Box, one click, box + corrective click and the click sequence on one object."""
    emb = seg.embed(image)

    def run(prompt: Prompt, kind: str) -> np.ndarray:
        return timed(lambda: seg.segment(emb, prompt).mask, res, kind)

    box = bbox(truth)
    by_box = run(Prompt(box=box), "box")
    fix, label = corrective_click(by_box, truth)
    fixed = run(Prompt(points=(fix,), labels=(label,), box=box), "box + click")
    points: list[Point] = [innermost_point(truth)]
    labels = [1]
    curve: list[float] = []
    reached: dict[float, int] = {}
    while True:
        pred = run(Prompt(points=tuple(points), labels=tuple(labels)), "one click" if len(points) == 1 else "later click")
        curve.append(iou(pred, truth))
        for t in TARGETS:
            if t not in reached and curve[-1] >= t:
                reached[t] = len(points)
        if len(reached) == len(TARGETS) or len(points) == max_clicks:
            break
        p, lab = corrective_click(pred, truth)
        points.append(p)
        labels.append(lab)
    for t in TARGETS:
        res.noc[t].append(reached.get(t, max_clicks))
    res.curve.append(curve)
    for name, value in (("box", iou(by_box, truth)), ("click", curve[0]), ("box+click", iou(fixed, truth))):
        res.ious[name].append(value)


def read_davis(seq_dir: Path, stride: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(RGB image, object mask) for every ``stride``-th annotated frame of a sequence."""
    for ann in sorted((seq_dir.parent.parent / "Annotations" / seq_dir.name).glob("*.png"))[::stride]:
        truth = np.asarray(Image.open(ann)) == 1
        if truth.mean() < MIN_OBJECT_FRACTION:
            continue
        bgr = cv2.imread(str(seq_dir / f"{ann.stem}.jpg"))
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), truth


def run_davis(seg: ClassicSegmenter, stride: int) -> dict[str, Result]:
    out = {}
    for seq_dir in sorted((DAVIS / "JPEGImages").iterdir()):
        res = Result()
        for image, truth in read_davis(seq_dir, stride):
            evaluate(seg, image, truth, res)
        out[seq_dir.name] = res
    return out


def run_davis_720p(seg: ClassicSegmenter, stride: int, clicks: int = 5) -> Result:
    """Timing only: box, box + click and the first ``clicks`` clicks on frames resized to 720p."""
    res = Result()
    for seq_dir in sorted((DAVIS / "JPEGImages").iterdir()):
        for image, truth in read_davis(seq_dir, stride):
            evaluate(seg, *_resized(image, truth, (1280, 720)), res, max_clicks=clicks)
    return res


def run_synthetic(seg: ClassicSegmenter, seeds: int, size: tuple[int, int]) -> Result:
    res = Result()
    for seed in range(seeds):
        image, masks = render_still(seed, size)
        for truth in masks.values():
            if truth.mean() >= MIN_OBJECT_FRACTION:
                evaluate(seg, image, truth, res)
    return res


def _cut_at(truth: np.ndarray, axis: int, share: float) -> int:
    """The row (axis 0) or column (axis 1) ``share`` of the way across the object."""
    idx = np.nonzero(truth.any(axis=1 - axis))[0]
    return int(idx[0] + share * (idx[-1] - idx[0])) + 1


def _resized(image: np.ndarray, truth: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return resize_image(image, size), resize_labels(truth, size)


Variant = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
# The same real frames as other footage differs from them (``--variants``, see variants.py).
VARIANTS: dict[str, Variant] = {
    "as they are": lambda im, t: (im, t),
    "mirrored": lambda im, t: (mirror(im), mirror(t)),
    "half size (427x240)": lambda im, t: _resized(im, t, (427, 240)),
    "1920x1080": lambda im, t: _resized(im, t, (1920, 1080)),
    "object cut by the left edge (30% of it)": lambda im, t: (
        np.ascontiguousarray(im[:, _cut_at(t, 1, 0.3):]), np.ascontiguousarray(t[:, _cut_at(t, 1, 0.3):])),
    "object cut by the bottom edge (30% of it)": lambda im, t: (im[: _cut_at(t, 0, 0.7)], t[: _cut_at(t, 0, 0.7)]),
    "dull: 30% colour, 60% contrast": lambda im, t: (dull(im), t),
    "JPEG quality 20": lambda im, t: (jpeg(im, 20), t),
}


def run_variants(seg: ClassicSegmenter, stride: int) -> Iterator[str]:
    """Table rows: box, one click and box + click on the davis16 frames changed as in ``VARIANTS``."""
    yield (
        "| davis16 frames | objects | IoU box | IoU 1 click | IoU box + 1 click | gain of the click "
        "| objects the click lowered | ms per box, median |"
    )
    yield "|---|---:|---:|---:|---:|---:|---:|---:|"
    for name, change in VARIANTS.items():
        res = Result()
        for seq_dir in sorted((DAVIS / "JPEGImages").iterdir()):
            for image, truth in read_davis(seq_dir, stride):
                image, truth = change(image, truth)
                if truth.mean() >= MIN_OBJECT_FRACTION:
                    evaluate(seg, image, truth, res, max_clicks=1)
        box, click, fixed = (res.ious[k] for k in ("box", "click", "box+click"))
        lowered = sum(b < a - 0.01 for a, b in zip(box, fixed, strict=True))
        box_ms = res.ms[0::3]  # evaluate times the box, the box + click, then the click
        yield (
            f"| {name} | {len(box)} | {mean(box):.3f} | {mean(click):.3f} | {mean(fixed):.3f} "
            f"| {mean(fixed) - mean(box):+.3f} | {lowered} | {np.median(box_ms):.0f} |"
        )


def mean(values: list[float]) -> float:
    return statistics.mean(values) if values else float("nan")


def row(name: str, res: Result, clicks_counted: bool = True) -> str:
    """One table row; ``clicks_counted`` False where the clicks stopped short of ``MAX_CLICKS``
    (the 720p timing's first 5): a count capped there is no "clicks to" figure, so none is shown."""
    means = [mean(res.ious[k]) for k in ("box", "click", "box+click")]
    noc = [mean([float(n) for n in res.noc[t]]) for t in TARGETS]
    return (
        f"| {name} | {len(res.ious['box'])} | "
        + " | ".join(f"{m:.3f}" for m in means)
        + f" | {means[2] - means[0]:+.3f} | "
        + " | ".join(f"{n:.1f}" if clicks_counted else "–" for n in noc)
        + f" | {100 * res.lowered():.0f}% | {np.median(res.ms):.0f} ({np.percentile(res.ms, 90):.0f}) "
        f"| {np.median(res.cpu_ms):.0f} |"
    )


def speed_rows(res: Result) -> Iterator[str]:
    """Wall clock per call by kind of prompt: median, p90 and the slowest call."""
    yield "| prompt at 1280x720 | calls | ms median | p90 | slowest |"
    yield "|---|---:|---:|---:|---:|"
    for kind in PROMPTS:
        ms = [m for m, k in zip(res.ms, res.kinds, strict=True) if k == kind]
        if ms:
            yield f"| {kind} | {len(ms)} | {np.median(ms):.0f} | {np.percentile(ms, 90):.0f} | {max(ms):.0f} |"


HEADER = (
    "| frames | objects | IoU box | IoU 1 click | IoU box + 1 click | gain of the click "
    "| clicks to 0.85 | clicks to 0.90 | clicks that lowered IoU | ms/call median (p90) | CPU ms median |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def read_frame(path: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, bgr = cap.read()
    cap.release()
    if not ok:
        raise SystemExit(f"cannot read frame {index} of {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def run_media(seg: ClassicSegmenter, boxes_file: Path, repeats: int) -> list[str]:
    """Speed and mask/box fill on hand-drawn boxes on real clips (no ground truth)."""
    rows = [
        "| frame | object | size | ms median | CPU ms median | mask / box area | score |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for entry in json.loads(boxes_file.read_text())["frames"]:
        image = read_frame(MEDIA / entry["video"], entry["frame"])
        prompt = Prompt(box=tuple(float(v) for v in entry["box"]))
        res = Result()
        emb = seg.embed(image)
        for _ in range(repeats):
            fresh = type(seg)(seg.settings)  # no cached answer to the same prompt
            timed(lambda: fresh.segment(emb, prompt).mask, res)  # noqa: B023
        pred = seg.segment(emb, prompt)
        x0, y0, x1, y1 = entry["box"]
        h, w = image.shape[:2]
        rows.append(
            f"| {entry['video']}#{entry['frame']} | {entry['label']} | {w}x{h} "
            f"| {np.median(res.ms):.0f} | {np.median(res.cpu_ms):.0f} "
            f"| {pred.mask.sum() / ((x1 - x0) * (y1 - y0)):.2f} | {pred.score:.2f} |"
        )
    return rows


def load_impl(path: Path) -> ClassicSegmenter:
    """``ClassicSegmenter`` from a saved copy of the module, e.g. ``git show REV:backend/models/classic.py``."""
    spec = importlib.util.spec_from_file_location("classic_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.ClassicSegmenter()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stride", type=at_least_one, default=5, help="every Nth DAVIS frame (default 5)")
    ap.add_argument("--stride-720p", type=at_least_one, default=20, help="every Nth frame for the 720p timing")
    ap.add_argument("--seeds", type=at_least_one, default=20, help="synthetic stills per size (default 20)")
    ap.add_argument("--media", action="store_true", help="also time the hand-drawn boxes on ../shared/media")
    ap.add_argument("--boxes", type=Path, default=HERE / "classic_real_boxes.json")
    ap.add_argument("--repeats", type=at_least_one, default=3, help="timed runs per media box")
    ap.add_argument("--variants", action="store_true",
                    help="only the davis16 frames changed as other footage differs (mirrored, resized, cut, dull, JPEG)")
    ap.add_argument("--impl", type=Path, help="a saved copy of classic.py to measure instead (before/after)")
    args = ap.parse_args()
    if args.media and MEDIA.is_dir() and not args.boxes.is_file():
        ap.error(f"no boxes file {args.boxes}: give --boxes FILE")
    print(describe(), flush=True)

    seg = load_impl(args.impl) if args.impl else ClassicSegmenter()
    seg.segment(seg.embed(render_still(0, (240, 320))[0]), Prompt(box=(10.0, 10.0, 200.0, 200.0)))  # warm up

    if args.variants:
        if not DAVIS.is_dir():
            raise SystemExit(f"no {DAVIS}: --variants needs the real frames")
        for line in run_variants(seg, args.stride):
            print(line, flush=True)
        return
    print(HEADER.replace("| frames |", "| real frames |"))
    if DAVIS.is_dir():
        per_seq = run_davis(seg, args.stride)
        total = Result()
        for res in per_seq.values():
            total.extend(res)
        print(row(f"**davis16, every {args.stride}th frame**", total), flush=True)
        at_720p = run_davis_720p(seg, args.stride_720p)
        print(row(f"davis16 resized to 1280x720, every {args.stride_720p}th frame (first 5 clicks)", at_720p,
                  clicks_counted=False), flush=True)
        for name, res in per_seq.items():
            print(row(f"{name}", res))
        print()
        print("\n".join(speed_rows(at_720p)))
    else:
        print(f"(no {DAVIS}: real frames skipped)")
    print()
    print(HEADER.replace("| frames |", "| synthetic stills |"))
    for size_name, size in SIZES.items():
        print(row(f"render_still seeds 0-{args.seeds - 1}, {size_name}", run_synthetic(seg, args.seeds, size)),
              flush=True)
    if args.media:
        print()
        if MEDIA.is_dir():
            print("\n".join(run_media(seg, args.boxes, args.repeats)))
        else:
            print(f"(no {MEDIA}: hand-drawn boxes skipped)")


if __name__ == "__main__":
    main()
