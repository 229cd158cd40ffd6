"""samvid: a Label Studio ML backend for video segmentation with Segment Anything.

The package is deliberately light to import: Flask, torch and transformers are
loaded only by the modules that need them.
"""

__version__ = "0.1.0"
