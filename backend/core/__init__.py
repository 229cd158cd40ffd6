"""samvid.core: what the tracker, the segmenters and the backend share.

Errors, the prompt and the segmenter interface. Neutral by rule: nothing here
imports Flask, Label Studio or an HTTP client, so ``samvid.tracker`` can depend on
it without depending on the server (tests/tracker/test_boundaries.py checks).
"""
