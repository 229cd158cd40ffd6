"""The frames a tracker engine walks over: a stretch's frame tasks' own images
(``TaskFrames``) or every frame of their source video between them (``VideoSpan``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samvid.errors import ImageError, ImageUnreachable
from samvid.images import ImageSource
from samvid.studio.client import Studio, Task


class TaskFrames:
    """The frames of a walk over frame tasks, fetched lazily (engines stream them).

    A frame whose host is unreachable (Label Studio restarting) is fetched again with the
    retry policy of ``studio``; only then does the engine see it as unreadable."""

    def __init__(self, tasks: list[Task], images: ImageSource, image_key: str, studio: Studio) -> None:
        self.tasks, self.images, self.image_key = tasks, images, image_key
        self.studio = studio

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, i: int) -> np.ndarray:
        task = self.tasks[i]
        if self.image_key not in task.data:
            # A KeyError here read as a bug of samvid's: the job failed with "'image'".
            raise ImageError(f"task {task.id} has no {self.image_key!r} in its data, which the labeling "
                             f"config's image reads (${self.image_key}): import the clip with samvid import, "
                             "or give the config the key its tasks have")
        data = self.studio.retrying(
            f"cannot read the frame of task {task.id}", lambda exc: isinstance(exc, ImageUnreachable),
            lambda: self.images.fetch(task.data[self.image_key], task.id),
        )
        return self.images.decode(data)


class VideoSpan:
    """Frames ``indices`` of a source video, in that order, decoded as the engine walks."""

    def __init__(self, path: Path, indices: list[int]) -> None:
        from samvid.tracker.frames import open_frames

        self.reader = open_frames(path)
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.reader[self.indices[i]]
