"""The segmenter interface every model (SAM family, classic, stand-in) implements.

A segmenter works in two steps, as SAM does: ``embed`` runs the expensive image
encoder once per image, ``segment`` turns a prompt into a mask cheaply. The
embedding is a plain value (named NumPy arrays) so it can be cached in memory
or in Redis and shared between processes.
"""

from __future__ import annotations

import io
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from samvid.core.prompts import Prompt


def rgb8(image: np.ndarray) -> np.ndarray:
    """``image`` as the (H, W, 3) uint8 RGB array the encoders take: grey (H, W) or (H, W, 1)
    is repeated to three channels, an alpha channel dropped, 16-bit levels brought to 8.

    Raises ValueError for anything else: float images have no one agreed range, and an
    encoder reading 16-bit levels as 8-bit ones sees a white image, with no error.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype not in (np.uint8, np.uint16) or 0 in image.shape:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.shape} {image.dtype}; "
                         "grey, RGBA and 16-bit images are converted")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    return np.ascontiguousarray(image)


@dataclass
class Embedding:
    """What ``Segmenter.segment`` needs of one image, computed once by ``embed``."""

    model: str
    image_size: tuple[int, int]  # (height, width) of the original image
    tensors: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.tensors.values())

    def to_bytes(self) -> bytes:
        """Serialise without pickle: a JSON header line, then an ``.npz`` archive."""
        header = json.dumps({"model": self.model, "image_size": list(self.image_size)})
        buf = io.BytesIO()
        np.savez(buf, **self.tensors)  # type: ignore[arg-type]  # numpy types **kwds as if they could be allow_pickle
        return header.encode() + b"\n" + buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Embedding:
        header, _, payload = data.partition(b"\n")
        meta = json.loads(header)
        with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
            tensors = {name: npz[name] for name in npz.files}
        h, w = meta["image_size"]
        return cls(model=meta["model"], image_size=(int(h), int(w)), tensors=tensors)


@dataclass(frozen=True)
class MaskPrediction:
    """A boolean mask at the original image size, with the model's own quality score.
    An empty mask found nothing, so it scores 0 whatever the model said: a box's score
    outlives the negative clicks that emptied its mask, and SAM scores its logits before
    cleaning empties them."""

    mask: np.ndarray  # bool, (height, width)
    score: float

    def __post_init__(self) -> None:
        if self.score and not self.mask.any():
            object.__setattr__(self, "score", 0.0)


class Segmenter(ABC):
    """Image encoder + prompt decoder. Implementations must be thread-safe for ``segment``."""

    #: Reported to Label Studio as ``model_version``; names the model honestly.
    version: str = "unknown"
    #: Whether ``segment_everything`` is supported (SAM's automatic masks).
    supports_everything: bool = False
    #: The model a memory tracker can load to propagate with this segmenter's own weights
    #: (a SAM 2-family model loaded from real weights), or None. ``SAMVID_TRACKER=auto``
    #: tracks with it when set, and with the weight-free engine otherwise.
    tracking_model: str | None = None

    @abstractmethod
    def embed(self, image: np.ndarray) -> Embedding:
        """Encode an RGB uint8 image of shape (H, W, 3)."""

    @abstractmethod
    def segment(self, embedding: Embedding, prompt: Prompt) -> MaskPrediction:
        """Turn a prompt in original-image pixels into a mask at original size."""

    def cache_key(self) -> str:
        """Embeddings are cached per model identity; two models never share entries."""
        return self.version
