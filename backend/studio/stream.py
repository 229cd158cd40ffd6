"""What Label Studio 1.23's labeling stream shows of samvid's stored predictions.

"Label All Tasks" (the Data Manager's ``next_task`` action, ``get_predictions_for_prelabeling``)
shows a task's stored predictions only when one of them is of the model version ``/setup``
reported. Otherwise it asks ``/predict`` (no context) and shows only what that answer stores:
a propagated frame would open empty there, though the Data Manager's own view of the task
shows its masks. So ``/setup`` reports the version samvid's propagation stores under
(``stream_version``), and a task holding a propagated prediction of another version (another
engine: frames propagated before SAMVID_TRACKER changed, or by a job that named its own) is answered
once with a copy of it under that version (``shown_copy``): Label Studio stores it and asks
no more. The copy is one of samvid's own, replaced with the rest at the next propagation.

With ``SAMVID_AUTO`` the stream shows the automatic masks instead: a task holding them is
skipped, so "Retrieve Predictions" and each open no longer store another copy.
"""

from __future__ import annotations

import math
from typing import Any

from samvid.automatic import AUTO_MODEL_PREFIX
from samvid.propagation.results import MODEL_PREFIX
from samvid.tracker.engines import resolved


def stream_version(tracker: str, segmenter_version: str, automatic: bool) -> str:
    """The model version ``/setup`` reports: that of the predictions the stream shows.

    ``automatic``: SAMVID_AUTO is on with a segmenter that has an "everything" mode."""
    if automatic:
        return f"{AUTO_MODEL_PREFIX}:{segmenter_version}"
    return f"{MODEL_PREFIX}:{resolved(tracker)}"


def shown_copy(task: Any, version: str) -> dict[str, Any] | list:
    """A task's entry in an answer without context: a copy of its newest propagated
    prediction under ``version``, or nothing (an empty list, which stores none).

    Nothing when the task holds a prediction of ``version`` already (Label Studio shows
    it), or no propagated one: Label Studio sends a task's stored predictions with it
    (``TaskSimpleSerializer``), though any JSON may be posted.
    """
    held = task.get("predictions") if isinstance(task, dict) else None
    if not isinstance(held, list):
        return []
    held = [p for p in held if isinstance(p, dict)]
    if any(p.get("model_version") == version for p in held):
        return []
    propagated = [p for p in held if str(p.get("model_version") or "").startswith(f"{MODEL_PREFIX}:")
                  and isinstance(p.get("result"), list) and p["result"]]
    if not propagated:
        return []
    newest = max(propagated, key=lambda p: p.get("id") if isinstance(p.get("id"), int) else 0)
    return {"result": newest["result"], "score": _score(newest.get("score")), "model_version": version}


def _score(value: Any) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else 0.0
