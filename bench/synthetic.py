"""Synthetic video with exact masks, for measuring trackers where no labelled video exists.

Every sequence is a pure function of its ``SequenceSpec`` (and so of its seed): textured
objects composited back to front over a textured background seen by a panning camera.
The ground truth is exact because the renderer owns it: an object's mask is its own
alpha >= 0.5, minus what objects in front of it cover. Motion blur smears the image,
never the mask (as annotators label the object, not the smear).

Frames are rendered on demand (``SyntheticVideo[i]``), so a long 1080p video costs one
frame of memory; ``write_sequence`` writes the DAVIS layout::

    ROOT/JPEGImages/<seq>/00000.jpg ...
    ROOT/Annotations/<seq>/00000.png ...   (palette PNG, pixel value = object id)

Command line: ``python bench/synthetic.py OUT [--size 480x854] [--seq NAME]...`` writes the
benchmark set (``BENCHMARK_SET``) under ``OUT``.

Bench and test support, not part of the installed ``samvid`` package: the bench scripts
import it from their folder, the tests through pytest's ``pythonpath`` (pyproject.toml).
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from samvid.tracker.flow import motion_blur_kernel
from samvid.tracker.masks import write_label_png

log = logging.getLogger(__name__)

DEFAULT_SIZE = (480, 854)  # (height, width): DAVIS 480p
BLUR_MIN_SPEED = 6.0  # px/frame above which an object's image is motion-blurred
SHUTTER = 0.7  # fraction of the frame interval the virtual shutter is open


@dataclass(frozen=True)
class Key:
    """Pose of an object at time ``t`` (0 = first frame, 1 = last), linearly interpolated.

    ``x``, ``y``: centre as a fraction of frame width / height (outside [0, 1] = off screen);
    ``scale`` multiplies the object's ``size``; larger ``depth`` is nearer the camera.
    """

    t: float
    x: float
    y: float
    scale: float = 1.0
    angle: float = 0.0  # degrees
    depth: float = 0.0


@dataclass(frozen=True)
class ObjectSpec:
    """One object: ``shape`` in {"ellipse", "blob", "rect"}; ``texture`` is a texture seed,
    or ``"background"`` for camouflage (a patch of the background's own texture)."""

    obj_id: int
    keys: tuple[Key, ...]
    shape: str = "blob"
    size: float = 0.25  # height as a fraction of frame height, at scale 1
    aspect: float = 1.0  # width / height
    texture: int | str = 0
    shape_seed: int = 0


@dataclass(frozen=True)
class SequenceSpec:
    name: str
    seed: int
    objects: tuple[ObjectSpec, ...]
    n_frames: int = 48
    # Camera offset over the background, (t, dx, dy) as fractions of the frame size in [0, 0.5].
    camera: tuple[tuple[float, float, float], ...] = ((0.0, 0.1, 0.1), (1.0, 0.3, 0.2))
    # Global light gain over time, (t, gain); a tint follows the gain (darker = bluer).
    lighting: tuple[tuple[float, float], ...] = ((0.0, 1.0), (1.0, 1.0))
    note: str = ""


# ---------------------------------------------------------------- textures and shapes


def value_noise(rng: np.random.Generator, h: int, w: int, cell: int, octaves: int = 4) -> np.ndarray:
    """Smooth noise in [0, 1], (h, w) float32: octaves of upsampled random grids."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        grid = rng.random((max(2, h // cell + 2), max(2, w // cell + 2)), dtype=np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp, cell = amp * 0.5, max(1, cell // 2)
    out /= total
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def texture(seed: int, h: int, w: int) -> np.ndarray:
    """A colourful, strongly structured RGB uint8 texture (flow needs structure to lock on)."""
    rng = np.random.default_rng([seed, 7])
    kind = int(rng.integers(3))
    n = value_noise(rng, h, w, cell=int(rng.integers(12, 48)))
    if kind == 1:  # stripes bent by noise
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        a = rng.uniform(0, math.pi)
        period = rng.uniform(8, 24)
        n = 0.5 + 0.5 * np.sin((xx * math.cos(a) + yy * math.sin(a)) / period * 2 * math.pi + 6 * n)
    elif kind == 2:  # spots
        n = (n > 0.55).astype(np.float32) * 0.7 + 0.3 * value_noise(rng, h, w, cell=6)
    stops = rng.integers(20, 236, size=(4, 3)).astype(np.float32)
    pos = np.linspace(0, 1, len(stops))
    rgb = np.stack([np.interp(n, pos, stops[:, c]) for c in range(3)], axis=-1)
    rgb += (value_noise(rng, h, w, cell=3, octaves=1)[..., None] - 0.5) * 30  # fine grain
    return np.clip(rgb, 0, 255).astype(np.uint8)


def shape_alpha(shape: str, h: int, w: int, seed: int) -> np.ndarray:
    """Anti-aliased alpha in [0, 1] of a shape filling an (h, w) box, float32."""
    sub = 8  # fillPoly sub-pixel bits
    rng = np.random.default_rng([seed, 11])
    theta = np.linspace(0, 2 * math.pi, 180, endpoint=False)
    if shape == "ellipse":
        r = np.ones_like(theta)
    elif shape == "blob":
        r = np.ones_like(theta)
        for k in range(2, 6):
            r += rng.uniform(0.03, 0.14) * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
        r /= r.max()
    elif shape == "rect":
        # Superellipse: a rounded rectangle.
        c, s = np.cos(theta), np.sin(theta)
        r = (np.abs(c) ** 6 + np.abs(s) ** 6) ** (-1 / 6)
        r /= r.max()
    else:
        raise ValueError(f"unknown shape {shape!r}")
    x = (w - 1) / 2 + r * np.cos(theta) * (w - 2) / 2
    y = (h - 1) / 2 + r * np.sin(theta) * (h - 2) / 2
    pts = np.round(np.stack([x, y], 1) * (1 << sub)).astype(np.int32)
    img = np.zeros((h, w), np.uint8)
    cv2.fillPoly(img, [pts], 255, lineType=cv2.LINE_AA, shift=sub)
    return img.astype(np.float32) / 255.0


# ---------------------------------------------------------------- rendering


@dataclass
class _Sprite:
    spec: ObjectSpec
    rgb: np.ndarray  # float32 (th, tw, 3), the object's texture at its largest scale
    alpha: np.ndarray  # float32 (th, tw)
    base_scale: float  # template pixels -> frame pixels at key scale 1


@dataclass(frozen=True)
class Pose:
    x: float  # px
    y: float  # px
    scale: float
    angle: float
    depth: float


def _interp(keys: Sequence[Key], t: float) -> Key:
    ts = [k.t for k in keys]
    vals = [np.interp(t, ts, [getattr(k, f) for k in keys]) for f in ("x", "y", "scale", "angle", "depth")]
    return Key(t, *(float(v) for v in vals))


@dataclass
class SyntheticVideo:
    """Frames of one ``SequenceSpec`` at ``size``, rendered on demand.

    A frames source: ``len(video)``, ``video[i]`` -> RGB uint8 (H, W, 3), iteration.
    ``labels(i)`` is the exact ground truth, uint8 (H, W), pixel value = object id.
    """

    spec: SequenceSpec
    size: tuple[int, int] = DEFAULT_SIZE
    noise: bool = True
    _bg: np.ndarray = field(init=False, repr=False)
    _sprites: list[_Sprite] = field(init=False, repr=False)
    _grain: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        h, w = self.size
        self._bg = texture(self.spec.seed * 1000 + 1, int(h * 1.6), int(w * 1.6))
        self._sprites = [self._make_sprite(o) for o in self.spec.objects]
        rng = np.random.default_rng([self.spec.seed, 3])
        # A fixed grain field shifted per frame: sensor noise at the cost of one roll.
        self._grain = rng.normal(0, 2.5, (h + 32, w + 32, 1)).astype(np.float32)

    def _make_sprite(self, o: ObjectSpec) -> _Sprite:
        h, _ = self.size
        max_scale = max(k.scale for k in o.keys)
        th = max(8, int(round(o.size * h * max_scale)))
        tw = max(8, int(round(th * o.aspect)))
        alpha = shape_alpha(o.shape, th, tw, o.shape_seed)
        if o.texture == "background":
            # Camouflage: a patch of the background texture itself, from near its centre.
            bh, bw = self._bg.shape[:2]
            y0, x0 = (bh - th) // 2, (bw - tw) // 3
            rgb = self._bg[y0 : y0 + th, x0 : x0 + tw].astype(np.float32)
        else:
            rgb = texture(int(o.texture), th, tw).astype(np.float32)
        return _Sprite(o, rgb, alpha, 1.0 / max_scale)

    def __len__(self) -> int:
        return self.spec.n_frames

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, i: int) -> np.ndarray:
        return self.render(i)[0]

    def labels(self, i: int) -> np.ndarray:
        return self.render(i)[1]

    def _t(self, i: int) -> float:
        return i / max(1, self.spec.n_frames - 1)

    def pose(self, obj_index: int, i: float) -> Pose:
        """Pose of an object at (possibly fractional) frame ``i``, in frame pixels."""
        h, w = self.size
        k = _interp(self.spec.objects[obj_index].keys, i / max(1, self.spec.n_frames - 1))
        return Pose(k.x * w, k.y * h, k.scale, k.angle, k.depth)

    def render(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(RGB uint8 image, uint8 label map) of frame ``i``."""
        if not 0 <= i < len(self):
            raise IndexError(f"frame {i} outside 0..{len(self) - 1}")
        h, w = self.size
        t = self._t(i)
        cams = self.spec.camera
        dx = np.interp(t, [c[0] for c in cams], [c[1] for c in cams]) * w
        dy = np.interp(t, [c[0] for c in cams], [c[2] for c in cams]) * h
        m = np.float32([[1, 0, -dx], [0, 1, -dy]])
        img = cv2.warpAffine(self._bg, m, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)
        labels = np.zeros((h, w), np.uint8)
        order = sorted(range(len(self._sprites)), key=lambda j: self.pose(j, i).depth)
        for j in order:
            self._composite(img, labels, j, i)
        gain = float(np.interp(t, [c[0] for c in self.spec.lighting], [c[1] for c in self.spec.lighting]))
        tint = np.float32([gain, gain, gain + 0.25 * (1 - gain)])  # darker light turns bluish
        # A slow vertical light gradient that moves with the gain, so the change is not global.
        ramp = np.linspace(1.0, 1.0 - 0.4 * abs(1 - gain), h, dtype=np.float32)[:, None, None]
        img *= tint * ramp
        if self.noise:
            oy, ox = (i * 7) % 32, (i * 13) % 32
            img += self._grain[oy : oy + h, ox : ox + w]
        return np.clip(img, 0, 255).astype(np.uint8), labels

    def _composite(self, img: np.ndarray, labels: np.ndarray, j: int, i: int) -> None:
        sp = self._sprites[j]
        p = self.pose(j, i)
        th, tw = sp.alpha.shape
        s = p.scale * sp.base_scale
        m = cv2.getRotationMatrix2D(((tw - 1) / 2, (th - 1) / 2), p.angle, s)
        m[0, 2] += p.x - (tw - 1) / 2
        m[1, 2] += p.y - (th - 1) / 2
        # Velocity over the exposure decides the blur; mask uses the pose at the frame time.
        q = self.pose(j, max(0, i - 1)) if i > 0 else self.pose(j, min(len(self) - 1, 1))
        vx, vy = (p.x - q.x, p.y - q.y) if i > 0 else (q.x - p.x, q.y - p.y)
        speed = math.hypot(vx, vy)
        margin = int(speed) + 2
        # Work on the object's bounding box only: cheap at 1080p.
        corners = np.array([[0, 0, 1], [tw, 0, 1], [0, th, 1], [tw, th, 1]], np.float32) @ m.T
        x0 = max(0, int(corners[:, 0].min()) - margin)
        y0 = max(0, int(corners[:, 1].min()) - margin)
        x1 = min(img.shape[1], int(math.ceil(corners[:, 0].max())) + margin)
        y1 = min(img.shape[0], int(math.ceil(corners[:, 1].max())) + margin)
        if x1 <= x0 or y1 <= y0:
            return  # off screen
        m[0, 2] -= x0
        m[1, 2] -= y0
        size = (x1 - x0, y1 - y0)
        rgb = cv2.warpAffine(sp.rgb, m, size, flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(sp.alpha, m, size, flags=cv2.INTER_LINEAR)
        mask = alpha >= 0.5
        if speed > BLUR_MIN_SPEED:
            k = motion_blur_kernel(vx * SHUTTER, vy * SHUTTER)
            prem = cv2.filter2D(rgb * alpha[..., None], -1, k, borderType=cv2.BORDER_CONSTANT)
            alpha = cv2.filter2D(alpha, -1, k, borderType=cv2.BORDER_CONSTANT)
            rgb = prem / np.maximum(alpha, 1e-4)[..., None]
        roi = img[y0:y1, x0:x1]
        a = alpha[..., None]
        roi *= 1 - a
        roi += rgb * a
        labels[y0:y1, x0:x1][mask] = sp.spec.obj_id


# ---------------------------------------------------------------- the benchmark set


def _k(t: float, x: float, y: float, s: float = 1.0, a: float = 0.0, d: float = 0.0) -> Key:
    return Key(t, x, y, s, a, d)


def _benchmark() -> dict[str, SequenceSpec]:
    pan = ((0.0, 0.05, 0.05), (1.0, 0.35, 0.25))
    specs = [
        SequenceSpec(
            "basic", 1, note="two textured objects, slow motion, rotation, panning camera",
            camera=pan,
            objects=(
                ObjectSpec(1, (_k(0, 0.25, 0.4), _k(1, 0.45, 0.6, 1.1, 30)), "blob", 0.3, 1.2, 11, 1),
                ObjectSpec(2, (_k(0, 0.75, 0.6), _k(1, 0.7, 0.35, 0.9, -20)), "rect", 0.25, 0.8, 12, 2),
            ),
        ),
        SequenceSpec(
            "crossing", 2, note="three objects cross; which one is in front changes",
            objects=(
                ObjectSpec(1, (_k(0, 0.2, 0.5, d=0), _k(0.5, 0.5, 0.5, d=2), _k(1, 0.8, 0.5, d=2)), "blob", 0.35, 1.1, 21, 3),
                ObjectSpec(2, (_k(0, 0.8, 0.45, d=1), _k(0.4, 0.5, 0.5, d=1), _k(1, 0.2, 0.55, d=3)), "ellipse", 0.3, 1.3, 22, 4),
                ObjectSpec(3, (_k(0, 0.5, 0.15, d=3), _k(0.6, 0.5, 0.55, d=0), _k(1, 0.5, 0.85, d=0)), "rect", 0.22, 1.0, 23, 5),
            ),
        ),
        SequenceSpec(
            "exit_return", 3, note="an object leaves the frame on the right and comes back",
            objects=(
                ObjectSpec(1, (_k(0, 0.5, 0.5), _k(0.35, 1.3, 0.45), _k(0.6, 1.3, 0.55), _k(1, 0.6, 0.5)), "blob", 0.3, 1.0, 31, 6),
                ObjectSpec(2, (_k(0, 0.2, 0.3), _k(1, 0.25, 0.7)), "ellipse", 0.2, 1.0, 32, 7),
            ),
        ),
        SequenceSpec(
            "fast", 4, note="47-52 px/frame zig-zag with motion blur (slower only at its 3 turns)",
            objects=(
                ObjectSpec(1, (_k(0, 0.15, 0.3), _k(0.25, 0.85, 0.5), _k(0.5, 0.15, 0.7), _k(0.75, 0.85, 0.4), _k(1, 0.2, 0.3)), "blob", 0.25, 1.0, 41, 8),
            ),
        ),
        SequenceSpec(
            "scale", 5, note="object grows 3x while approaching, then shrinks back",
            objects=(
                ObjectSpec(1, (_k(0, 0.4, 0.5, 0.33), _k(0.6, 0.55, 0.5, 1.0, 20), _k(1, 0.5, 0.45, 0.5, 0)), "blob", 0.6, 1.0, 51, 9),
            ),
        ),
        SequenceSpec(
            "camouflage", 6, note="object textured with the background's own texture",
            camera=((0.0, 0.2, 0.2), (1.0, 0.28, 0.24)),
            objects=(
                ObjectSpec(1, (_k(0, 0.3, 0.5), _k(1, 0.7, 0.45, 1.0, 25)), "ellipse", 0.3, 1.3, "background", 10),
            ),
        ),
        SequenceSpec(
            "twins", 7, note="two identical objects cross (one passes in front)",
            objects=(
                ObjectSpec(1, (_k(0, 0.2, 0.45, d=1), _k(1, 0.8, 0.55, d=1)), "blob", 0.3, 1.0, 71, 11),
                ObjectSpec(2, (_k(0, 0.8, 0.5, d=0), _k(1, 0.2, 0.5, d=0)), "blob", 0.3, 1.0, 71, 11),
            ),
        ),
        SequenceSpec(
            "lighting", 8, note="light dims to 40% then recovers; bluish tint and gradient",
            lighting=((0.0, 1.0), (0.5, 0.4), (1.0, 1.1)),
            objects=(
                ObjectSpec(1, (_k(0, 0.3, 0.4), _k(1, 0.6, 0.6, 1.0, 15)), "rect", 0.3, 1.0, 81, 12),
                ObjectSpec(2, (_k(0, 0.75, 0.6), _k(1, 0.6, 0.3)), "blob", 0.22, 1.0, 82, 13),
            ),
        ),
    ]
    return {s.name: s for s in specs}


#: The fixed benchmark: names -> specs. Changing any of these changes every reported number.
BENCHMARK_SET: dict[str, SequenceSpec] = _benchmark()


# ---------------------------------------------------------------- stills and writing


def render_still(
    seed: int, size: tuple[int, int] = (480, 640), n_objects: int | None = None
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """One textured image and the exact visible mask of each object (ids from 1).

    Objects may overlap (the nearer one covers the other); all are fully inside the image.
    Returns (RGB uint8 (H, W, 3), {obj_id: bool (H, W)}).
    """
    rng = np.random.default_rng([seed, 5])
    n = int(rng.integers(1, 5)) if n_objects is None else n_objects
    objs = []
    for j in range(n):
        sz = float(rng.uniform(0.15, 0.4))
        asp = float(rng.uniform(0.6, 1.6))
        half_w = sz * asp * size[0] / size[1] / 2 + 0.02
        x = float(rng.uniform(half_w, 1 - half_w)) if half_w < 0.5 else 0.5
        y = float(rng.uniform(sz / 2 + 0.02, 1 - sz / 2 - 0.02))
        shape = ("blob", "ellipse", "rect")[int(rng.integers(3))]
        key = _k(0, x, y, 1.0, 0.0, float(j))
        objs.append(ObjectSpec(j + 1, (key,), shape, sz, asp, seed * 10 + j, seed * 10 + j))
    spec = SequenceSpec(f"still{seed}", seed, tuple(objs), n_frames=1, camera=((0.0, 0.1, 0.1),))
    img, labels = SyntheticVideo(spec, size).render(0)
    return img, {o.obj_id: labels == o.obj_id for o in objs}


JPEG_QUALITY = 92  # of the DAVIS folders written here (what DAVIS ships)


def as_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    """``rgb`` after a JPEG round trip: in memory, the frames ``write_sequence`` stores."""
    ok, data = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]


def write_sequence(
    spec: SequenceSpec, root: Path | str, size: tuple[int, int] = DEFAULT_SIZE, quality: int = JPEG_QUALITY
) -> Path:
    """Write ``spec`` in DAVIS layout under ``root``; returns the JPEGImages folder."""
    root = Path(root)
    img_dir = root / "JPEGImages" / spec.name
    ann_dir = root / "Annotations" / spec.name
    img_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    video = SyntheticVideo(spec, size)
    for i in range(len(video)):
        img, labels = video.render(i)
        cv2.imwrite(str(img_dir / f"{i:05d}.jpg"), img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        write_label_png(ann_dir / f"{i:05d}.png", labels)
    return img_dir


def write_benchmark(
    root: Path | str, names: Sequence[str] | None = None, size: tuple[int, int] = DEFAULT_SIZE
) -> list[str]:
    names = list(BENCHMARK_SET) if not names else list(names)
    for name in names:
        write_sequence(BENCHMARK_SET[name], root, size)
    return names


def with_frames(spec: SequenceSpec, n_frames: int) -> SequenceSpec:
    """The same motion spread over ``n_frames`` (fewer frames = faster motion)."""
    return replace(spec, n_frames=n_frames)


def parse_size(text: str) -> tuple[int, int]:
    """A ``--size`` value, ``HxW`` (``480x854``): argparse's one-line error when it is not one."""
    h, _, w = text.lower().partition("x")
    if not (h.isdigit() and w.isdigit() and int(h) > 0 and int(w) > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size HxW, such as 480x854")
    return int(h), int(w)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python bench/synthetic.py",
        description="Write the synthetic benchmark set in DAVIS layout.",
    )
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", type=parse_size, default=DEFAULT_SIZE, help="HxW, default 480x854")
    # One name per --seq, repeated for more: a list option (nargs) would swallow OUT after it.
    ap.add_argument("--seq", action="append", choices=sorted(BENCHMARK_SET), metavar="NAME",
                    help="a sequence to write, repeat for more (default: all): " + ", ".join(sorted(BENCHMARK_SET)))
    args = ap.parse_args(argv)
    names = write_benchmark(args.out, args.seq, args.size)
    print(f"wrote {len(names)} sequences to {args.out}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
