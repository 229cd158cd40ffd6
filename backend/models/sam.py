"""The SAM family through ``transformers``: SAM ViT-B/L/H, SAM 2.1, EdgeTAM.

Frames are preprocessed by hand (resize + ImageNet normalisation) because the
``transformers`` image processors need torchvision, which cannot be imported
next to the CPU torch wheel. Weights are loaded from safetensors only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from typing import Any

import numpy as np

from samvid.core.prompts import Prompt, encoder_points
from samvid.core.segmenter import Embedding, MaskPrediction, Segmenter, rgb8
from samvid.errors import ConfigError, ModelUnavailable
from samvid.models.registry import DEFAULT_MODEL, MODELS, model_path, no_model_folder
from samvid.postprocess import area_threshold, clean_mask

log = logging.getLogger(__name__)

INPUT_SIZE = 1024
MIN_REGION = 0.0005  # holes and islands under 0.05 % of the image are noise
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)

# Hiera geometries of the SAM 2.1 checkpoints (from the SAM 2 model cards), used
# to build random-weight models of each size for tests and benchmarks.
SAM2_BACKBONES: dict[str, dict[str, Any]] = {
    "tiny": {},
    "small": {"blocks_per_stage": [1, 2, 11, 2], "global_attention_blocks": [7, 10, 13]},
    "base-plus": {
        "hidden_size": 112,
        "num_attention_heads": 2,
        "blocks_per_stage": [2, 3, 16, 3],
        "embed_dim_per_stage": [112, 224, 448, 896],
        "global_attention_blocks": [12, 16, 20],
        "window_positional_embedding_background_size": [14, 14],
    },
    "large": {
        "hidden_size": 144,
        "num_attention_heads": 2,
        "blocks_per_stage": [2, 6, 36, 4],
        "embed_dim_per_stage": [144, 288, 576, 1152],
        "window_size_per_stage": [8, 4, 16, 8],
        "global_attention_blocks": [23, 33, 43],
    },
}
SAM1_ENCODERS: dict[str, dict[str, Any]] = {
    "base": {},
    "large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
              "global_attn_indexes": [5, 11, 17, 23]},
    "huge": {"hidden_size": 1280, "num_hidden_layers": 32, "num_attention_heads": 16,
             "global_attn_indexes": [7, 15, 23, 31]},
}


MEMORY_FAMILIES = ("sam2", "edgetam")  # families with a video memory tracker
# Values of each weight tensor that its fingerprint reads (evenly spread; all of a smaller
# one): training moves nearly every value of a tensor it changes, and a few thousand per
# tensor are milliseconds for SAM ViT-H, where hashing all 2.5 GB held the start for seconds.
FINGERPRINT_VALUES = 4096


class UnsupportedDevice(ConfigError):
    """SAMVID_DEVICE names a device this machine does not have, or no device at all."""


def _precision_name(dtype: Any) -> str:
    return {"torch.bfloat16": "bf16", "torch.float16": "fp16"}.get(str(dtype), "fp32")


def pick_device(requested: str = "auto") -> str:
    """The device to run on: this machine's best for ``auto``; ``cpu:N`` and ``mps:0``, which
    torch takes, as ``cpu`` and ``mps`` (one device each), the names precision and the
    engines compare. Anything else as given, for ``check_device`` to judge."""
    import torch

    if requested != "auto":
        parsed = _parsed_device(requested)
        if parsed is not None and (parsed.type == "cpu" or (parsed.type == "mps" and not parsed.index)):
            return parsed.type
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _parsed_device(device: str) -> Any:
    """``device`` as a ``torch.device``, or None where torch takes no such device."""
    import torch

    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        return None


def check_device(device: str) -> None:
    """Refuse a device this machine lacks at load, naming it, not with torch's assertion
    at the first ``.to()``. Spellings are torch's (``cpu:0`` as well as ``cpu``)."""
    import torch

    parsed = _parsed_device(device)
    kind, index = (parsed.type, parsed.index) if parsed is not None else ("", None)
    if kind == "cpu":
        return
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count and (index or 0) < count:
            return
        have = f"{count} CUDA GPU(s), numbered from 0" if count else "no CUDA GPU that this torch can use"
        raise UnsupportedDevice(f"SAMVID_DEVICE={device}: this machine has {have}; use auto or cpu")
    if kind == "mps" and not index:  # an Apple GPU is always mps:0
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return
        raise UnsupportedDevice(f"SAMVID_DEVICE={device}: this machine has no Apple GPU (MPS); use auto or cpu")
    raise UnsupportedDevice(f"SAMVID_DEVICE={device!r} is not a device; give auto, cpu, cuda, cuda:N or mps")


def family_of(name: str) -> str:
    """"sam", "sam2" or "edgetam", from the registry, a local folder's config, or the name."""
    if name in MODELS:
        return MODELS[name].family
    kind = name.lower()
    config = model_path(name) / "config.json"
    if config.is_file():
        try:
            data = json.loads(config.read_text())
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict):  # valid JSON of another shape is as malformed as broken JSON
            kind = str(data.get("model_type", kind))
    if "edgetam" in kind:
        return "edgetam"
    if "sam2" in kind:
        return "sam2"
    return "sam"


def _random_model(name: str, family: str):
    """A model of the named size with random weights: real code paths, noise masks."""
    import transformers as tf

    check_random_name(name)
    size = name.rsplit("-", 1)[-1] if "/" in name else ""
    if family == "sam":
        vision = {**SAM1_ENCODERS.get(size, {})}
        if "hidden_size" in vision:
            vision["output_channels"] = 256
        return tf.SamModel(tf.SamConfig(vision_config=vision))
    if family == "edgetam":
        return tf.EdgeTamModel(tf.EdgeTamConfig())
    return tf.Sam2Model(sized_sam2_config(tf.Sam2Config(), name))


def _sam_names() -> str:
    """The registry's SAM-family names, for messages that list the choices."""
    return ", ".join(n for n, info in MODELS.items() if info.family in ("sam", "sam2", "edgetam"))


def check_random_name(name: str) -> None:
    """Refuse a name outside the registry for random weights: their geometry comes from the
    registry's name alone, and any other name (a typo above all) would give the default size."""
    if name not in MODELS:
        what = "a folder" if model_path(name).is_dir() else "unknown model"
        raise ModelUnavailable(f"{what} {name!r}: give one of {_sam_names()} "
                               "(random weights are built only for these)")


def sized_sam2_config(config: Any, name: str) -> Any:
    """``config`` (a SAM 2 image or video config) with the Hiera backbone of ``name``'s size."""
    key = name.split("hiera-")[-1] if "hiera-" in name else "tiny"
    backbone = SAM2_BACKBONES.get(key, {})
    if backbone:
        bb = config.vision_config.backbone_config
        for field, value in backbone.items():
            setattr(bb, field, value)
        config.vision_config.backbone_channel_list = list(reversed(bb.embed_dim_per_stage))
    return config


def _pretrained_model(name: str, family: str):
    import transformers as tf

    cls = {"sam": tf.SamModel, "sam2": tf.Sam2Model, "edgetam": tf.EdgeTamModel}[family]
    local = model_path(name)
    source = str(local) if local.is_dir() else name
    if problem := no_model_folder(name):  # no hub id either: asking the hub would be minutes of retries
        raise ModelUnavailable(f"{problem}, or a Hugging Face id such as {DEFAULT_MODEL}")
    if not local.is_dir() and name not in MODELS and "/" not in name:
        # Every SAM checkpoint on the hub is ``org/name``: a bare name is a typo, which the
        # hub would answer only after a minute of retries, as weights that cannot be had.
        raise ModelUnavailable(f"unknown model {name!r}: give one of {_sam_names()}, another Hugging Face "
                               "id (org/name), or the folder that holds the model's config.json")
    try:
        # Cached or local weights first: no network call when they are here.
        return cls.from_pretrained(source, local_files_only=True, use_safetensors=True)
    except OSError:
        from huggingface_hub import constants

        # The hub library's own reading (HF_HUB_OFFLINE=true too), and transformers' variable.
        offline = getattr(constants, "is_offline_mode", lambda: constants.HF_HUB_OFFLINE)()
        if local.is_dir() or offline or os.environ.get("TRANSFORMERS_OFFLINE", "").lower() in ("1", "true"):
            raise
    _reach_hub(name)
    return cls.from_pretrained(source, use_safetensors=True)


class HubUnreachable(OSError):
    """The Hugging Face hub did not answer one request in time."""


def _reach_hub(name: str) -> None:
    """Say that ``name`` is fetched, and ask the hub once, within its ETag timeout
    (HF_HUB_ETAG_TIMEOUT, 10 s): the hub library retries each of its requests five times with
    growing pauses, which offline was 35 s of retry warnings before the error, and against a hub
    that takes connections but never answers, minutes without a word."""
    import httpx2  # the hub library's HTTP client
    from huggingface_hub import constants, hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session

    log.info("fetching %s from the Hugging Face hub (%s)", name, constants.ENDPOINT)
    try:
        get_session().head(hf_hub_url(name, "config.json"), headers=build_hf_headers(),
                           timeout=constants.HF_HUB_ETAG_TIMEOUT)
    except httpx2.TimeoutException as exc:
        raise HubUnreachable(f"{constants.ENDPOINT} did not answer within {constants.HF_HUB_ETAG_TIMEOUT:g} s "
                             "(HF_HUB_ETAG_TIMEOUT)") from exc
    except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
        raise HubUnreachable(f"{constants.ENDPOINT}: {str(exc) or type(exc).__name__}") from exc


def load_sam(
    name: str, device: str = "auto", random_weights: bool = False, precision: str = "auto", **_: object
) -> SamSegmenter:
    """Load ``name`` (a hub id or a local folder saved with ``save_pretrained``) at ``precision``
    (``samvid.models.precision``; a precision the device lacks is refused before loading)."""
    from safetensors import SafetensorError

    from samvid.models.precision import apply_precision, resolve_precision

    family = family_of(name)
    dev = pick_device(device)
    check_device(dev)
    chosen = resolve_precision(precision, dev)
    try:
        model = _random_model(name, family) if random_weights else _pretrained_model(name, family)
    except ImportError as exc:  # EdgeTAM's backbone comes through timm (and torchvision)
        raise ModelUnavailable(
            f"{name!r} needs a library that is not installed here: {exc}. "
            "Install it (pip install timm torchvision) or choose another model."
        ) from exc
    except (OSError, ValueError, SafetensorError) as exc:  # SafetensorError: weights cut short
        if model_path(name).is_dir():  # nothing was to be downloaded: the folder is at fault
            detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise ModelUnavailable(
                f"the folder {name} holds no model that loads ({detail}); it needs a config.json and "
                f"safetensors weights, as `samvid models pull {DEFAULT_MODEL} --dir D` leaves them in D"
            ) from exc
        raise WeightsUnavailable.of(name, str(exc) if isinstance(exc, HubUnreachable) else type(exc).__name__) \
            from exc
    # Read before the move to the device: the values as loaded, on the CPU. Random weights
    # are named by their geometry alone, as before (a fingerprint would change every load).
    weights = "" if random_weights else weights_fingerprint(model)
    model = apply_precision(model.to(dev).eval(), chosen)
    tag = "random-weights" if random_weights else "pretrained"
    return SamSegmenter(model, family, f"{name}@{tag}", dev, chosen.dtype,
                        source=name, pretrained=not random_weights, precision=chosen.name, weights=weights)


class WeightsUnavailable(ModelUnavailable):
    """A hub model whose weights are neither here nor to be had from the hub. ``reason``: that
    alone, for a caller that falls back to a weight-free model and says what to do itself."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message

    @classmethod
    def of(cls, name: str, why: str) -> WeightsUnavailable:
        reason = f"no weights for {name!r} on this machine and they could not be downloaded ({why})"
        return cls(f"{reason}. Fetch them on a connected machine with `samvid models pull {name}` and "
                   "point SAMVID_MODEL at the folder, or run with `--fallback classic` to use the "
                   "weight-free segmenter.", reason)


def weights_fingerprint(model: Any) -> str:
    """A short hash of the weights ``model`` holds: each tensor's name, type, shape and
    ``FINGERPRINT_VALUES`` of its values. The name alone kept the embeddings of weights saved
    again under it (a model fine-tuned into its folder, a hub id whose revision moved) in
    the cache shared through Redis; the same weights on another machine hash the same, so
    its workers still share their embeddings."""
    import torch

    digest = hashlib.blake2b(digest_size=8)
    for key, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().reshape(-1)
        sample = flat[:: max(1, flat.numel() // FINGERPRINT_VALUES)][:FINGERPRINT_VALUES]
        digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(sample.contiguous().view(torch.uint8).cpu().numpy().tobytes())  # any dtype's bytes
    return digest.hexdigest()


class SamSegmenter(Segmenter):
    supports_everything = True

    def __init__(self, model: Any, family: str, version: str, device: str, dtype: Any, *,
                 source: str = "", pretrained: bool = False, precision: str = "", weights: str = "") -> None:
        """``source``: the name or folder the weights came from; ``pretrained``: whether they
        are real weights (not a random-weight model built from a config); ``weights``: their
        ``weights_fingerprint``, part of the cache key ("" for none)."""
        self.model = model
        self.weights = weights
        self.family = family
        self.version = version if precision in ("", "fp32") else f"{version}+{precision}"
        self.device = device
        self.dtype = dtype
        self.source = source
        self.pretrained = pretrained
        self.precision = precision or _precision_name(dtype)
        if pretrained and family in MEMORY_FAMILIES:
            self.tracking_model = source
        # Two requests must not run the encoder at once on a small CPU: it would
        # only slow both down. The decoder is cheap and shares the lock.
        self._lock = threading.Lock()

    def cache_key(self) -> str:
        """The version (what Label Studio is told) and the fingerprint of the weights: other
        weights under the same name must not find these embeddings, nor these theirs."""
        return f"{self.version}#{self.weights}" if self.weights else self.version

    # -- geometry: original pixels <-> the model's 1024 input ------------------
    def _scale(self, height: int, width: int) -> tuple[float, float]:
        """Factors (sx, sy) from original pixels to model-input pixels."""
        if self.family == "sam":  # longest side to 1024, aspect kept, padded
            s = INPUT_SIZE / max(height, width)
            return s, s
        return INPUT_SIZE / width, INPUT_SIZE / height  # SAM 2: plain resize

    def model_points(self, points: Any, height: int, width: int) -> Any:
        """Clicks in an image's pixels as the prompt encoder takes them (``encoder_points``),
        an (N, 2) tensor. float32 whatever the model's dtype: bf16 spaces numbers of 512-1024
        model pixels 4 apart, and the encoder rounds only once they are in [-1, 1]."""
        import torch

        return torch.from_numpy(encoder_points(points, *self._scale(height, width))).to(self.device, torch.float32)

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        import cv2

        h, w = image.shape[:2]
        sx, sy = self._scale(h, w)
        size = (max(1, round(w * sx)), max(1, round(h * sy)))  # a side of over 2048:1 rounds to 0
        resized = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR).astype(np.float32)
        normalised = (resized / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
        canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.float32)
        canvas[: size[1], : size[0]] = normalised
        return canvas.transpose(2, 0, 1)[None]

    def embed(self, image: np.ndarray) -> Embedding:
        import torch

        image = rgb8(image)
        pixels = torch.from_numpy(self.preprocess(image)).to(self.device, self.dtype)
        with self._lock, torch.inference_mode():
            out = self.model.get_image_embeddings(pixels)
        maps = out if isinstance(out, (list, tuple)) else [out]
        store = np.float16 if self.dtype == torch.float16 else np.float32
        tensors = {f"level{i}": m.float().cpu().numpy().astype(store) for i, m in enumerate(maps)}
        return Embedding(self.cache_key(), image.shape[:2], tensors)

    def segment(self, embedding: Embedding, prompt: Prompt) -> MaskPrediction:
        logits, scores = self.decode(embedding, prompt)
        best = int(np.argmax(scores))
        # As SAM's own tools do: fill specks of holes, drop stray islands, and keep the
        # part(s) the annotator clicked.
        mask = logits[best] > 0
        min_area = area_threshold(mask.shape, MIN_REGION)
        mask = clean_mask(mask, prompt.positive_points, min_area, min_area, prompt.negative_points)
        # SAM's IoU head is a plain regression: it can stray out of [0, 1], a score may not.
        return MaskPrediction(mask=mask, score=float(np.clip(scores[best], 0.0, 1.0)))

    def decode(self, embedding: Embedding, prompt: Prompt) -> tuple[np.ndarray, np.ndarray]:
        """Mask logits at original size (K, H, W) and SAM's predicted IoU (K,).

        One click is ambiguous (part, object, whole), so SAM's authors ask for three
        masks and keep the best scored; several clicks or a box ask for one.
        """
        import torch
        import torch.nn.functional as F

        h, w = embedding.image_size
        sx, sy = self._scale(h, w)
        maps = [
            torch.from_numpy(embedding.tensors[f"level{i}"]).to(self.device, self.dtype)
            for i in range(len(embedding.tensors))
        ]
        kwargs: dict[str, Any] = {"image_embeddings": maps if len(maps) > 1 else maps[0]}
        if prompt.points:
            kwargs["input_points"] = self.model_points(prompt.points, h, w)[None, None]
            kwargs["input_labels"] = torch.tensor([[list(prompt.labels)]], device=self.device)
        if prompt.box is not None:
            box = np.asarray(prompt.box, np.float32) * [sx, sy, sx, sy]
            kwargs["input_boxes"] = torch.from_numpy(box)[None, None].to(self.device, torch.float32)  # as model_points
        multimask = len(prompt.points) == 1 and prompt.box is None
        with self._lock, torch.inference_mode():
            out = self.model(multimask_output=multimask, **kwargs)
            low_res = out.pred_masks[0, 0].float()  # (K, 256, 256)
            if self.family == "sam":  # undo the padding of the longest-side resize
                up = F.interpolate(low_res[None], (INPUT_SIZE, INPUT_SIZE), mode="bilinear")
                up = up[..., : max(1, round(h * sy)), : max(1, round(w * sx))]
            else:
                up = low_res[None]
            logits = F.interpolate(up, (h, w), mode="bilinear", align_corners=False)[0]
            scores = out.iou_scores[0, 0].float()
        return logits.cpu().numpy(), scores.cpu().numpy()
