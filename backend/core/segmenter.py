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
    """A boolean mask at the original image size, with the model's own quality score."""

    mask: np.ndarray  # bool, (height, width)
    score: float


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
