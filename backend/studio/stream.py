"""What Label Studio 1.23's labeling stream shows of samvid's stored predictions.

"Label All Tasks" (the Data Manager's ``next_task`` action, ``get_predictions_for_prelabeling``)
shows a task's stored predictions only when one of them is of the model version ``/setup``
reported. Otherwise it asks ``/predict`` (no context) and shows only what that answer
stores. So ``/setup`` reports the version samvid's propagation stores under: a frame its
job propagated before the frame was opened shows its masks there, as in the Data Manager.

With ``SAMVID_AUTO`` the stream shows the automatic masks instead: a task holding them is
skipped, so "Retrieve Predictions" and each open no longer store another copy.
"""

from __future__ import annotations

from samvid.automatic import auto_model_version
from samvid.propagation.results import track_model_version


def stream_version(tracker: str, segmenter_version: str, automatic: bool) -> str:
    """The model version ``/setup`` reports: that of the predictions the stream shows.

    ``automatic``: SAMVID_AUTO is on with a segmenter that has an "everything" mode."""
    if automatic:
        return auto_model_version(segmenter_version)
    return track_model_version(tracker)
