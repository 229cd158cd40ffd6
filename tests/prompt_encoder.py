"""Where a SAM-family model's prompt encoder receives clicks: the tests of the image
segmenter and of the SAM 2 tracker check the same thing, that a click arrives at the
pixel centre it names."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def recorded_clicks(model: torch.nn.Module) -> Iterator[list[torch.Tensor]]:
    """The coordinates each call of ``model``'s prompt encoder was given, as float32 tensors,
    in the order of the calls, while the block runs."""
    seen: list[torch.Tensor] = []

    def record(module, args, kwargs):
        if len(args) > 1 or kwargs.get("input_shape") is not None:  # points, not the image grid
            seen.append(args[0].detach().float().clone())

    hook = model.prompt_encoder.shared_embedding.register_forward_pre_hook(record, with_kwargs=True)
    try:
        yield seen
    finally:
        hook.remove()
