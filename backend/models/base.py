"""The segmenter interface's home is ``samvid.core.segmenter`` (shared with the tracker);
this name stays for the models' and the backend's imports."""

from samvid.core.segmenter import Embedding, MaskPrediction, Segmenter

__all__ = ["Embedding", "MaskPrediction", "Segmenter"]
