"""Segmenters: image + prompt -> mask, behind one interface (``samvid.core.segmenter.Segmenter``).

``load_segmenter`` picks one by name; heavy libraries are imported only by the
segmenter that needs them.
"""

from samvid.core.segmenter import Embedding, MaskPrediction, Segmenter
from samvid.models.registry import load_segmenter

__all__ = ["Embedding", "MaskPrediction", "Segmenter", "load_segmenter"]
