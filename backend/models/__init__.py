"""Segmenters: image + prompt -> mask, behind one interface (``base.Segmenter``).

``load_segmenter`` picks one by name; heavy libraries are imported only by the
segmenter that needs them.
"""

from samvid.models.base import Embedding, MaskPrediction, Segmenter
from samvid.models.registry import load_segmenter

__all__ = ["Embedding", "MaskPrediction", "Segmenter", "load_segmenter"]
