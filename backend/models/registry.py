"""Model names -> segmenters. The one place that knows which names exist."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samvid.core.errors import ModelUnavailable
from samvid.core.segmenter import Segmenter
from samvid.homes import NoSuchHome, expand_home


@dataclass(frozen=True)
class ModelInfo:
    name: str
    family: str  # "sam", "sam2", "edgetam", "classic", "standin"
    params_m: float | None  # parameters in millions, where known
    video: bool  # can propagate through video with its own memory
    note: str = ""


MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in [
        ModelInfo("facebook/sam2.1-hiera-tiny", "sam2", 38.9, True, "default; fastest SAM on CPU"),
        ModelInfo("facebook/sam2.1-hiera-small", "sam2", 46.0, True),
        ModelInfo("facebook/sam2.1-hiera-base-plus", "sam2", 80.8, True),
        ModelInfo("facebook/sam2.1-hiera-large", "sam2", 224.4, True),
        ModelInfo("yonigozlan/EdgeTAM-hf", "edgetam", 13.9, True, "EdgeTAM, on-device SAM 2"),
        ModelInfo("facebook/sam-vit-base", "sam", 93.7, False),
        ModelInfo("facebook/sam-vit-large", "sam", 312.3, False),
        ModelInfo("facebook/sam-vit-huge", "sam", 641.1, False),
        ModelInfo("classic", "classic", None, False, "weight-free OpenCV segmenter"),
        ModelInfo("standin", "standin", None, False, "deterministic test double: boxes and disks"),
    ]
}

DEFAULT_MODEL = "facebook/sam2.1-hiera-tiny"


def looks_like_a_path(name: str) -> bool:
    """A folder name, never a hub id (``org/name``): absolute, ``~``, ``./`` or ``../``."""
    return name.startswith(("/", "~", "./", "../")) or name in (".", "..")


def model_path(name: str) -> Path:
    """``name`` as a local path, ``~`` expanded: as given where it names no known user's home
    (``~nosuchuser/m`` raised RuntimeError, a traceback from every loader)."""
    try:
        return expand_home(name)
    except NoSuchHome:
        return Path(name)


def no_model_folder(name: str) -> str | None:
    """Why ``name`` names no model folder where it is a file (SAM's own ``.pt`` checkpoint,
    most likely) or a path to nothing, the start of a message; None for a folder or a hub id.
    Every loader says the same: a checkpoint file was told "no such folder" though it is there.
    """
    local = model_path(name)
    if local.is_file():
        # Callers go on with what else they take (", or a Hugging Face id ...").
        return (f"{name} is a file, not a model folder: samvid loads a model in the Hugging Face "
                "format, a folder holding its config.json and safetensors weights")
    if looks_like_a_path(name) and not local.is_dir():
        return f"{name}: no such folder; give the folder that holds the model's config.json"
    return None


def standin_radius(name: str) -> float:
    """The click radius ``standin:R`` names (20 for plain ``standin``); ModelUnavailable
    unless it is a number of pixels above 0."""
    given = name.split(":", 1)[1] if ":" in name else "20"
    try:
        radius = float(given)
    except ValueError:
        radius = math.nan
    if not (math.isfinite(radius) and radius > 0):
        raise ModelUnavailable(f"the stand-in's click radius {given!r} must be a number of pixels above 0, "
                               "as in standin:20")
    return radius


def load_segmenter(name: str, device: str = "auto", **options: Any) -> Segmenter:
    """Build the segmenter called ``name``: a key of ``MODELS``, ``standin:R``, or a local folder.

    Raises ``ModelUnavailable`` (with what to do) when SAM weights cannot be had.
    """
    if not name.strip():
        # ``--model "$UNSET"``: Path("") is the working directory, which would be loaded as
        # the model's folder and refused as "the folder  holds no model".
        raise ModelUnavailable(f"no model named (the name is blank): give one of {', '.join(MODELS)}, "
                               "another Hugging Face id (org/name), or the folder that holds the "
                               "model's config.json")
    if name == "classic":
        from samvid.models.classic import ClassicSegmenter

        return ClassicSegmenter()
    if name == "standin" or name.startswith("standin:"):
        from samvid.models.standin import StandInSegmenter

        return StandInSegmenter(radius=standin_radius(name))
    from samvid.models.sam import load_sam

    return load_sam(name, device=device, **options)
