"""What a model learns: the post-contrast image, or the subtraction (post − pre), which synthesis
turns back into a post-contrast image."""

from __future__ import annotations

import torch
from torch import nn

TARGETS = ("post", "subtraction")


def to_target(x: torch.Tensor, y: torch.Tensor, target: str) -> torch.Tensor:
    """What the model learns from input ``x`` and post-contrast ``y`` (both in [-1, 1]): ``y``, or
    the subtraction ``(y - x) / 2`` (in [-1, 1]; every input channel is the same grey slice)."""
    return y if target == "post" else (y - x[:, :1]) / 2


def from_target(x: torch.Tensor, t: torch.Tensor, target: str) -> torch.Tensor:
    """The post-contrast image from the model's output ``t`` (the inverse of :func:`to_target`)."""
    return t if target == "post" else (x[:, :1] + 2 * t).clamp(-1.0, 1.0)


class SubtractionModel(nn.Module):
    """A model trained on post − pre, seen from outside as a post-contrast model: ``forward``
    returns the pre-contrast input plus the predicted subtraction."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.input_nc = model.input_nc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return from_target(x, self.model(x), "subtraction")
