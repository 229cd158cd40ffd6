"""A frame's masks answered for Label Studio to store, the frame's write lock held until it has.

Label Studio's labeling stream ("Label All Tasks") shows an opened task only what
``/predict``'s answer stores; it never reads the task again. Masks samvid wrote itself
were shown by the Data Manager's view only, so the frame right after a submit opened
empty in the stream. An answer is stored after ``/predict`` returns, where the propagation
job may write the frame too: the write lock (``studio.frame_locks``), taken before the
answer is decided, is therefore kept until the stored answer shows, then released. A job
waiting on it then writes over that prediction in place, as over any of samvid's: one per
frame, and the id the editor names stays.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, NamedTuple

from samvid.errors import SamvidError

# How long Label Studio gets to store an answer. It stores it as soon as /predict's reply
# arrives; one not stored by then (its request failed) is written by samvid itself, so
# the Data Manager shows the frame as it did before.
STORED_WITHIN = 10.0
POLL_SECONDS = 0.1

log = logging.getLogger("samvid.propagation")


class Answer(NamedTuple):
    """A prediction answered for Label Studio to store on an opened frame."""

    result: list[dict[str, Any]]
    score: float
    model_version: str
    copied: bool = False  # the job's masks, written first (none computed on this open)

    def as_json(self) -> dict[str, Any]:
        return {"result": self.result, "score": self.score, "model_version": self.model_version}


def hold_until_stored(hold: ExitStack, stored: Callable[[], bool], store: Callable[[], None],
                      within: float = STORED_WITHIN) -> threading.Thread:
    """Release ``hold`` (the frame's write lock) once ``stored()`` says the answer shows,
    from a thread of its own: the request thread returns the answer meanwhile. Past
    ``within`` seconds, ``store()`` writes it instead."""

    def wait() -> None:
        try:
            deadline = time.monotonic() + within
            while not stored():
                if time.monotonic() >= deadline:
                    store()
                    return
                time.sleep(POLL_SECONDS)
        except SamvidError as exc:  # Label Studio away or the task gone: the job writes the frame
            log.warning("an opened frame's answer was not checked as stored: %s", exc.message)
        finally:
            hold.close()

    thread = threading.Thread(target=wait, name="samvid-answer-stored", daemon=True)
    thread.start()
    return thread
