"""A stand-in model loader for the benches' seeding tests: it draws weights as a
random-weight model initialises its own, and stops the bench there."""

from __future__ import annotations

import torch


class Built(Exception):
    """Raised by ``draw_weights`` with the weights it drew: the tests need the model, not
    the timings."""

    def __init__(self, weights: torch.Tensor) -> None:
        super().__init__("built")
        self.weights = weights


def draw_weights(*args: object, **kwargs: object) -> None:
    raise Built(torch.rand(4))
