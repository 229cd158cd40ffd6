"""SAM 2.1-tiny at each precision (SAMVID_PRECISION), speed and fidelity against fp32, in one run.

Clicks (``SamSegmenter``, the click path of ``samvid serve``) on real DAVIS 2016 frames
upscaled to 1280x720, and propagation (``MemoryEngine``) on the same sequences at their
native 854x480. Every precision starts from the SAME random weights (one fp32 model, copied
then cast or quantized), so the fidelity columns compare numerics only: weights are random
here (none can be downloaded), so masks are noise and IoU against fp32 is a numerical proxy
for what a precision does to a real model, not a quality figure.

  encoder       median s of one 1280x720 frame through the image encoder (``embed``)
  cold click    median s of the first click on a frame never seen (encoder + decoder)
  cached        p50 ms of a click on an embedded frame (decoder + post-processing)
  frame         median s of one propagated frame, one object, 480p (after the prompt frame)
  IoU / logit   click masks against fp32 over every prompt: mean and worst IoU, largest
                absolute difference of the mask logits (and the largest fp32 logit, for scale);
                relative L2 error of the image embeddings; propagated masks: mean IoU
  breakdown     s per propagated frame in the image encoder, memory attention, mask decoder
                and memory encoder (forward hooks)

On CUDA (``--device cuda``) int8 is refused, as the product refuses it, and ``--compile
fp16`` adds a row for fp16 with the image encoder compiled by ``torch.compile`` (its first
call, the compile, is reported apart and left out of the medians).

    python bench/bench_precision.py [--frames 5] [--track 4] [--onnx] [--device cuda] [--compile fp16]
"""

from __future__ import annotations

import argparse
import copy
import logging
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from machine import describe

from samvid.core.prompts import Prompt
from samvid.models.precision import Precision, UnsupportedPrecision, apply_precision, resolve_precision
from samvid.models.sam import SamSegmenter
from samvid.tracker.masks import iou as mask_iou

log = logging.getLogger("bench_precision")
DAVIS = Path(__file__).resolve().parents[2] / "shared" / "davis16"
SEQUENCES = ("dog-agility", "surf", "motorbike", "tennis", "drift-turn", "rollerblade", "motocross-bumps")
PRECISIONS = ("fp32", "bf16", "fp16", "int8")
HOOKED = ("vision_encoder", "memory_attention", "mask_decoder", "memory_encoder")


@dataclass
class Row:
    precision: str
    encoder: float = float("nan")
    cold: float = float("nan")
    cached_ms: float = float("nan")
    decoder_ms: float = float("nan")  # the model's prompt decoder alone, logits at image size
    frame: float = float("nan")
    iou_mean: float = float("nan")
    iou_min: float = float("nan")
    logit_diff: float = float("nan")
    logit_scale: float = float("nan")  # largest |fp32 logit|: what the difference is out of
    embed_error: float = float("nan")  # largest relative L2 error of an image embedding vs fp32
    track_iou: float = float("nan")
    breakdown: dict[str, float] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Variant:
    """One row: a precision, optionally with the image encoder compiled."""

    precision: Precision
    compiled: bool = False

    @property
    def name(self) -> str:
        return self.precision.name + (" + compile" if self.compiled else "")


def read_frame(root: Path, seq: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    image = cv2.cvtColor(cv2.imread(str(root / "JPEGImages" / seq / f"{k:05d}.jpg")), cv2.COLOR_BGR2RGB)
    mask = cv2.imread(str(root / "Annotations" / seq / f"{k:05d}.png"), cv2.IMREAD_GRAYSCALE) > 0
    return image, mask


def missing_davis_file(root: Path, clicks: int, seqs: list[str], track: int) -> Path | None:
    """The first file this run reads from ``root`` that is not there, or None: frame 0 and its
    mask of each click sequence, frames 0..``track`` and the first mask of each tracked one.
    Checked before the models are built, so a wrong folder costs seconds, not a minute."""
    needed = [(seq, 0) for seq in SEQUENCES[:clicks]] + [(seq, k) for seq in seqs for k in range(track + 1)]
    for seq, k in needed:
        for path in (root / "JPEGImages" / seq / f"{k:05d}.jpg", root / "Annotations" / seq / f"{k:05d}.png"):
            if k > 0 and path.suffix == ".png":
                continue  # only the first frame's mask is read
            if not path.is_file():
                return path
    return None


def prompts_for(mask: np.ndarray) -> list[Prompt]:
    """Four prompts an annotator would give: a click deep inside, two clicks, a box, a box
    and a negative click outside the object."""
    ys, xs = np.nonzero(mask)
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    cy, cx = np.unravel_index(int(np.argmax(inside)), inside.shape)
    box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    far = (float(xs[len(xs) // 3]) + 0.5, float(ys[len(ys) // 3]) + 0.5)
    outside = (max(1.0, box[0] - 10.0), max(1.0, box[1] - 10.0))
    centre = (cx + 0.5, cy + 0.5)
    return [Prompt(points=(centre,), labels=(1,)), Prompt(points=(centre, far), labels=(1, 1)),
            Prompt(box=box), Prompt(points=(outside,), labels=(0,), box=box)]


def scaled(prompt: Prompt, s: tuple[float, float]) -> Prompt:
    box = None if prompt.box is None else (prompt.box[0] * s[0], prompt.box[1] * s[1],
                                          prompt.box[2] * s[0], prompt.box[3] * s[1])
    return Prompt(tuple((x * s[0], y * s[1]) for x, y in prompt.points), prompt.labels, box)


def click_data(root: Path, n: int) -> list[tuple[np.ndarray, list[Prompt]]]:
    """``n`` real frames at 1280x720 with four prompts each, from the ground-truth masks."""
    out = []
    for seq in SEQUENCES[:n]:
        image, mask = read_frame(root, seq, 0)
        big = cv2.resize(image, (1280, 720), interpolation=cv2.INTER_LINEAR)
        out.append((big, [scaled(p, (1280 / 854, 720 / 480)) for p in prompts_for(mask)]))
    return out


def prepared(model: Any, variant: Variant, device: str) -> Any:
    """A copy of the fp32 ``model`` on ``device`` at the variant's precision (encoder compiled)."""
    out = apply_precision(copy.deepcopy(model).to(device), variant.precision)
    if variant.compiled:
        import torch

        out.vision_encoder = torch.compile(out.vision_encoder)
    return out


def click_segmenters(model: Any, variants: list[Variant], device: str) -> dict[str, SamSegmenter]:
    """One segmenter per variant, all from the same fp32 weights."""
    return {v.name: SamSegmenter(prepared(model, v, device), "sam2", "bench", device, v.precision.dtype,
                                 precision=v.precision.name) for v in variants}


def bench_clicks(segs: dict[str, SamSegmenter], data) -> dict[str, Row]:
    """Every frame goes through every precision in turn (round-robin), so a burst of load
    from other work on the machine slows all of them alike and the ratios hold."""
    times: dict[str, dict[str, list[float]]] = {n: defaultdict(list) for n in segs}
    results: dict[str, list] = {n: [] for n in segs}
    embeddings: dict[str, list] = {n: [] for n in segs}
    warm: dict[str, float] = {}
    for name, seg in segs.items():  # warm-up: the first run pays one-off costs (a compile, CUDA set-up)
        t0 = time.perf_counter()
        seg.embed(data[0][0])
        warm[name] = time.perf_counter() - t0
    for image, prompts in data:
        for name, seg in segs.items():
            t0 = time.perf_counter()
            emb = seg.embed(image)
            times[name]["encoder"].append(time.perf_counter() - t0)
            embeddings[name].append(emb)
            for k, prompt in enumerate(prompts):
                s = time.perf_counter()
                mask = seg.segment(emb, prompt).mask
                done = time.perf_counter()
                times[name]["cold" if k == 0 else "cached"].append(done - (t0 if k == 0 else s))
                s = time.perf_counter()
                logits = seg.decode(emb, prompt)[0]
                times[name]["decoder"].append(time.perf_counter() - s)
                results[name].append((logits, mask))
    rows = {}
    reference = results["fp32"]
    for name, t in times.items():
        row = Row(name, encoder=statistics.median(t["encoder"]), cold=statistics.median(t["cold"]),
                  cached_ms=statistics.median(t["cached"]) * 1000, decoder_ms=statistics.median(t["decoder"]) * 1000)
        if "compile" in name:
            row.note = f"first call, compiling: {warm[name]:.0f} s"
        if name != "fp32":
            pairs = list(zip(results[name], reference))
            ious = [mask_iou(m, rm) for (_, m), (_, rm) in pairs]
            row.iou_mean, row.iou_min = float(np.mean(ious)), float(np.min(ious))
            row.logit_diff = max(float(np.abs(lg - rl).max()) for (lg, _), (rl, _) in pairs)
            row.logit_scale = max(float(np.abs(rl).max()) for rl, _ in reference)
            row.embed_error = max(relative_error(e, r) for e, r in zip(embeddings[name], embeddings["fp32"]))
        rows[name] = row
    return rows


def relative_error(emb: Any, ref: Any) -> float:
    """Largest ||emb - ref|| / ||ref|| over the embedding's feature maps."""
    return max(float(np.linalg.norm(emb.tensors[k].astype(np.float32) - ref.tensors[k]) / np.linalg.norm(ref.tensors[k]))
               for k in ref.tensors)


def hooked_times(model: Any, device: str) -> tuple[dict[str, list[float]], list[Any]]:
    """Seconds spent in each of ``HOOKED`` per call. On CUDA each hook waits for the GPU,
    so a part is charged its kernels, not only their launch."""
    import torch

    def now() -> float:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter()

    spent: dict[str, list[float]] = defaultdict(list)
    handles = []
    for name in HOOKED:
        module = getattr(model, name)
        started: list[float] = []
        handles.append(module.register_forward_pre_hook(lambda *_, st=started: st.append(now())))
        handles.append(module.register_forward_hook(
            lambda *_, st=started, n=name: spent[n].append(now() - st.pop())))
    return spent, handles


def bench_tracking(video_model: Any, variants: list[Variant], root: Path, seqs: list[str], frames: int,
                   rows: dict[str, Row], device: str) -> None:
    """Each variant propagates the same frames; the engines step in turn, frame by frame."""
    from samvid.tracker.memory_engine import MemoryEngine

    engines = {v.name: MemoryEngine(prepared(video_model, v, device), device=device) for v in variants}
    hooks = {n: hooked_times(e.model, device) for n, e in engines.items()}
    per_frame: dict[str, list[float]] = defaultdict(list)
    parts: dict[str, dict[str, list[float]]] = {n: defaultdict(list) for n in engines}
    masks: dict[str, list[np.ndarray]] = defaultdict(list)
    for seq in seqs:
        images = [read_frame(root, seq, k)[0] for k in range(frames + 1)]
        walks = {}
        for name, engine in engines.items():
            state = engine.init_state(images)
            engine.add_mask(state, 0, 1, read_frame(root, seq, 0)[1])
            walks[name] = engine.propagate(state, start=0)
        for step in range(frames + 1):
            for name, walk in walks.items():
                spent = hooks[name][0]
                spent.clear()
                t = time.perf_counter()
                fm = next(walk)
                if step > 0:
                    took = time.perf_counter() - t
                    per_frame[name].append(took)
                    masks[name].append(fm.masks[0])
                    for part in HOOKED:
                        parts[name][part].append(sum(spent[part]))
                    parts[name]["rest"].append(took - sum(sum(spent[part]) for part in HOOKED))
    for spent_handles in hooks.values():
        for h in spent_handles[1]:
            h.remove()
    for name, row in rows.items():
        row.frame = statistics.median(per_frame[name])
        row.breakdown = {part: statistics.median(v) for part, v in parts[name].items()}
        if name != "fp32":
            row.track_iou = float(np.mean([mask_iou(a, b) for a, b in zip(masks[name], masks["fp32"])]))


def onnx_encoder(model: Any, image: np.ndarray, repeats: int = 3) -> tuple[float, float, float] | None:
    """Median s of the fp32 image encoder in PyTorch and in ONNX Runtime, timed alternately,
    and their largest output difference; None when onnxruntime is not installed."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    import tempfile

    import torch

    seg = SamSegmenter(copy.deepcopy(model), "sam2", "bench", "cpu", torch.float32)  # ONNX: the CPU path
    pixels = torch.from_numpy(seg.preprocess(image))

    class Encoder(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return tuple(self.m.get_image_embeddings(x))

    encoder = Encoder(seg.model).eval()
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        path = str(Path(tmp) / "encoder.onnx")
        torch.onnx.export(encoder, (pixels,), path, opset_version=17, dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: pixels.numpy()}
        out = session.run(None, feed)  # warm-up
        torch_times, ort_times = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            ref = encoder(pixels)
            torch_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            out = session.run(None, feed)
            ort_times.append(time.perf_counter() - t)
    diff = max(float(np.abs(o - r.numpy()).max()) for o, r in zip(out, ref))
    return statistics.median(torch_times), statistics.median(ort_times), diff


def variants(precisions: list[str], device: str, compiled: list[str]) -> tuple[list[Variant], list[Row]]:
    """The variants to measure, fp32 first whatever the order given (the table's speed ratios
    are taken against its first row, and every other row is compared with fp32), then those
    in ``compiled`` again with the encoder compiled; and a row for each precision ``device``
    refuses."""
    chosen, refused = [], []
    for name in sorted(dict.fromkeys(precisions), key=lambda name: name != "fp32"):
        try:
            chosen.append(Variant(resolve_precision(name, device)))
        except UnsupportedPrecision as exc:
            refused.append(Row(name, note=f"refused on {device}: {exc.message.split(': ', 2)[-1]}"))
    chosen += [Variant(v.precision, compiled=True) for v in chosen if v.precision.name in compiled]
    return chosen, refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=5, help="real frames for clicks (4 prompts each)")
    parser.add_argument("--track", type=int, default=4, help="propagated frames per sequence")
    parser.add_argument("--track-seqs", type=int, default=2, help="sequences to propagate through")
    parser.add_argument("--onnx", action="store_true", help="also time the encoder in ONNX Runtime")
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS,
                        help="must include fp32: the others are compared with it")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--compile", nargs="*", default=[], choices=PRECISIONS, metavar="PRECISION",
                        help="also run these precisions with the image encoder compiled (torch.compile)")
    parser.add_argument("--davis", type=Path, default=DAVIS, help="a DAVIS 2016 folder (JPEGImages, Annotations)")
    args = parser.parse_args()
    if "fp32" not in args.precisions:
        parser.error("--precisions must include fp32: every other precision is compared with it")
    missing = missing_davis_file(args.davis, args.frames, list(SEQUENCES[: args.track_seqs]), args.track)
    if missing is not None:
        parser.error(f"needs the DAVIS 2016 frames (../shared/davis16, or --davis DIR holding JPEGImages/ and "
                     f"Annotations/): {missing} is missing")
    print(describe(), flush=True)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch
    import transformers as tf

    torch.manual_seed(0)
    click_model = tf.Sam2Model(tf.Sam2Config()).eval()
    video_model = tf.Sam2VideoModel(tf.Sam2VideoConfig()).eval()
    data = click_data(args.davis, args.frames)
    seqs = list(SEQUENCES[: args.track_seqs])
    log.info("torch %s on %s, %d threads, %d prompts on %d frames; tracking %s x %d frames", torch.__version__,
             args.device, torch.get_num_threads(), sum(len(p) for _, p in data), len(data), seqs, args.track)
    chosen, refused = variants(args.precisions, args.device, args.compile)
    by_name = bench_clicks(click_segmenters(click_model, chosen, args.device), data)
    log.info("clicks done")
    bench_tracking(video_model, chosen, args.davis, seqs, args.track, by_name, args.device)
    rows = [*by_name.values(), *refused]
    print_table(rows, args)
    if args.onnx:
        got = onnx_encoder(click_model, data[0][0])
        if got is None:
            print("\nONNX Runtime: not installed (pip install onnxruntime)")
        else:
            print(f"\nImage encoder, fp32, timed alternately: PyTorch {got[0]:.2f} s, ONNX Runtime "
                  f"{got[1]:.2f} s ({got[0] / got[1]:.2f}x); largest output difference {got[2]:.2g}")


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    base = rows[0]
    print("\n| precision | encoder s | cold click s | cached click ms p50 (decoder alone) | propagated frame s "
          "(frames/s) | speed vs fp32: encoder / cold / cached / frame | click IoU vs fp32, mean (worst) "
          "| largest logit diff (largest fp32 logit) | embedding error vs fp32 | tracked IoU vs fp32 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r.note and r.encoder != r.encoder:  # NaN: refused, nothing measured
            print(f"| {r.precision} | {r.note} | | | | | | | | |")
            continue
        ratios = " / ".join(f"{getattr(base, k) / getattr(r, k):.2f}x" for k in ("encoder", "cold", "cached_ms", "frame"))
        fid = "(reference)" if r is base else f"{r.iou_mean:.3f} ({r.iou_min:.3f})"
        diff = "0" if r is base else f"{r.logit_diff:.3g} ({r.logit_scale:.3g})"
        tiou = "(reference)" if r is base else f"{r.track_iou:.3f}"
        err = "0" if r is base else f"{100 * r.embed_error:.1f}%"
        print(f"| {r.precision} | {r.encoder:.2f} | {r.cold:.2f} | {r.cached_ms:.0f} ({r.decoder_ms:.0f}) | "
              f"{r.frame:.2f} ({1 / r.frame:.2f}) | {ratios} | {fid} | {diff} | {err} | {tiou} |")
    for r in rows:
        if r.note and r.encoder == r.encoder:
            print(f"\n{r.precision}: {r.note}")
    print("\nPer propagated frame (s, median), where the time goes:")
    print("| precision | " + " | ".join(HOOKED) + " | rest |")
    print("|---|" + "---:|" * (len(HOOKED) + 1))
    for r in rows:
        if r.encoder == r.encoder:
            print(f"| {r.precision} | " + " | ".join(f"{r.breakdown.get(n, 0):.2f}" for n in (*HOOKED, "rest")) + " |")


if __name__ == "__main__":
    main()
