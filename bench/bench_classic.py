"""Quality and speed of the classic (weight-free) segmenter.

Synthetic stills with exact masks (``samvid.tracker.synthetic.render_still``:
textured objects on textured backgrounds) give mean IoU from a box, from one
click and from a box plus one corrective click; real frames of ../shared/media
with hand-drawn boxes (``classic_real_boxes.json``, no ground truth) give a
speed and sanity check. Prints Markdown tables; see docs/classic.md.

    python bench/bench_classic.py                  # the table of docs/classic.md
    python bench/bench_classic.py --seeds 5 --no-fullres   # quick look

Click protocol (as in interactive-segmentation benchmarks): the click goes to the
object pixel farthest from its boundary; the corrective click goes to the pixel
farthest from the boundary of the largest error region (positive on a miss,
negative on a false alarm).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from samvid.models.base import Embedding
from samvid.models.classic import ClassicSegmenter, ClassicSettings
from samvid.prompts import Prompt
from samvid.tracker.synthetic import render_still

HERE = Path(__file__).resolve().parent
MEDIA = HERE.parent.parent / "shared" / "media"
SIZES = {"480p": (480, 854), "720p": (720, 1280)}
MIN_OBJECT_FRACTION = 0.005  # objects covering less of the image are skipped


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


def innermost_point(mask: np.ndarray) -> tuple[float, float]:
    """Pixel centre farthest from the mask's boundary (image border counts as boundary)."""
    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return x + 0.5, y + 0.5


def corrective_click(pred: np.ndarray, truth: np.ndarray) -> tuple[tuple[float, float], int]:
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
    ms: list[float] = field(default_factory=list)  # wall clock
    cpu_ms: list[float] = field(default_factory=list)  # this process's CPU time
    embed_ms: list[float] = field(default_factory=list)


def timed(fn: Callable[[], np.ndarray], res: Result) -> np.ndarray:
    """Run ``fn`` and record its wall and CPU time: on a shared machine the wall
    time includes waiting for other jobs, the CPU time is what the click costs."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    res.ms.append(1000 * (time.perf_counter() - t))
    res.cpu_ms.append(1000 * (time.process_time() - c))
    return out


def stills(seeds: int, size: tuple[int, int]) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """(image, masks of its large enough objects) for the first ``seeds`` stills."""
    for seed in range(seeds):
        image, masks = render_still(seed, size)
        yield image, [m for m in masks.values() if m.mean() >= MIN_OBJECT_FRACTION]


def run_synthetic(seg: ClassicSegmenter, seeds: int, size: tuple[int, int]) -> Result:
    res = Result()
    for image, truths in stills(seeds, size):
        t = time.perf_counter()
        emb = seg.embed(image)
        res.embed_ms.append(1000 * (time.perf_counter() - t))

        def run(prompt: Prompt, emb: Embedding = emb) -> np.ndarray:
            return timed(lambda: seg.segment(emb, prompt).mask, res)

        for truth in truths:
            box = bbox(truth)
            by_box = run(Prompt(box=box))
            by_click = run(Prompt(points=(innermost_point(truth),), labels=(1,)))
            fix, label = corrective_click(by_box, truth)
            fixed = run(Prompt(points=(fix,), labels=(label,), box=box))
            for name, pred in (("box", by_box), ("click", by_click), ("box+click", fixed)):
                res.ious[name].append(iou(pred, truth))
    return res


def read_frame(path: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, bgr = cap.read()
    cap.release()
    if not ok:
        raise SystemExit(f"cannot read frame {index} of {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def run_real(boxes_file: Path, repeats: int) -> list[str]:
    """Speed, and agreement with full-resolution GrabCut, on real frames (no ground truth)."""
    fast, full = ClassicSegmenter(), ClassicSegmenter(ClassicSettings(work_side=100_000))
    header = (
        "| frame | object | size | ms median | CPU ms median | full-res GrabCut ms "
        "| IoU vs full-res | mask / box area | score |"
    )
    rows = [header, "|---|---|---|---|---|---|---|---|---|"]
    for entry in json.loads(boxes_file.read_text())["frames"]:
        image = read_frame(MEDIA / entry["video"], entry["frame"])
        prompt = Prompt(box=tuple(float(v) for v in entry["box"]))
        res = Result()
        emb = fast.embed(image)
        mask = np.zeros(0, bool)
        for _ in range(repeats):
            mask = timed(lambda: fast.segment(emb, prompt).mask, res)  # noqa: B023
        score = fast.segment(emb, prompt).score
        t = time.perf_counter()
        reference = full.segment(full.embed(image), prompt).mask
        full_ms = 1000 * (time.perf_counter() - t)
        x0, y0, x1, y1 = entry["box"]
        fill = mask.sum() / ((x1 - x0) * (y1 - y0))
        h, w = image.shape[:2]
        rows.append(
            f"| {entry['video']}#{entry['frame']} | {entry['label']} | {w}x{h} "
            f"| {np.median(res.ms):.0f} | {np.median(res.cpu_ms):.0f} | {full_ms:.0f} "
            f"| {iou(mask, reference):.2f} | {fill:.2f} | {score:.2f} |"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20, help="synthetic stills per size (default 20)")
    ap.add_argument("--no-fullres", action="store_true", help="skip the slow full-resolution reference")
    ap.add_argument("--boxes", type=Path, default=HERE / "classic_real_boxes.json")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per real frame")
    args = ap.parse_args()

    variants = [
        ("default: 200 px GrabCut + guided upsampling", ClassicSettings()),
        ("200 px GrabCut + bilinear upsampling", ClassicSettings(guide_radius=0)),
    ]
    if not args.no_fullres:
        # GrabCut at full resolution: the quality the downscaling must keep (slow).
        variants.append(("full-resolution GrabCut (reference)", ClassicSettings(work_side=100_000)))

    warm = ClassicSegmenter()
    warm.segment(warm.embed(render_still(0, (240, 320))[0]), Prompt(box=(10.0, 10.0, 200.0, 200.0)))

    print(
        "| variant | size | objects | IoU box | IoU click | IoU box + 1 click "
        "| ms/click median | p90 | CPU ms/click median | p90 | embed ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size_name, size in SIZES.items():
        for name, settings in variants:
            res = run_synthetic(ClassicSegmenter(settings), args.seeds, size)
            means = [statistics.mean(res.ious[k]) for k in ("box", "click", "box+click")]
            times = [f"{np.median(t):.0f} | {np.percentile(t, 90):.0f}" for t in (res.ms, res.cpu_ms)]
            print(
                f"| {name} | {size_name} | {len(res.ious['box'])} | "
                + " | ".join(f"{m:.3f}" for m in means)
                + f" | {times[0]} | {times[1]} | {statistics.median(res.embed_ms):.0f} |",
                flush=True,
            )
    print()
    if MEDIA.is_dir():
        print("\n".join(run_real(args.boxes, args.repeats)))
    else:
        print(f"(no {MEDIA}: real frames skipped)")


if __name__ == "__main__":
    main()
