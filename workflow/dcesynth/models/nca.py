"""A neural cellular automaton in the spirit of TeNCA (Lang, Osuala et al., MICCAI 2025): tens of
thousands of parameters, a fixed number of local update steps.

Each pixel is a cell with ``channels`` state channels; the first ``input_nc`` hold the
pre-contrast image and stay fixed, the last ``output_nc`` are read out as the synthetic image.
A step perceives each channel through fixed 3x3 filters (identity, Sobel x, Sobel y, Laplacian),
maps the perception of every cell through a two-layer 1x1 MLP to a residual update, and applies
it to a random half of the cells during training (the stochastic update of NCAs; every cell at
inference, so translation is deterministic). After ``steps`` steps information has travelled
``steps`` pixels: the receptive field is a (2 steps + 1)^2 window.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .unet import regression_loss

_FILTERS = torch.tensor([
    [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    [[1, 2, 1], [2, -12, 2], [1, 2, 1]],
], dtype=torch.float32) / torch.tensor([1.0, 8.0, 8.0, 16.0]).view(4, 1, 1)  # fmt: skip


class NCA(nn.Module):
    """Family ``nca``."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, channels: int = 24, hidden: int = 128, steps: int = 16,
                 fire_rate: float = 0.5):  # fmt: skip
        super().__init__()
        if channels < input_nc + output_nc:
            raise ValueError(f"nca: channels ({channels}) must hold the input ({input_nc}) and output ({output_nc})")
        self.input_nc, self.output_nc, self.channels = input_nc, output_nc, channels
        self.steps, self.fire_rate = steps, fire_rate
        self.register_buffer("filters", _FILTERS.repeat(channels, 1, 1)[:, None], persistent=False)
        self.update = nn.Sequential(nn.Conv2d(4 * channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels - input_nc, 1))
        nn.init.zeros_(self.update[-1].weight)  # start as the identity map: no update
        nn.init.zeros_(self.update[-1].bias)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n, _, h, w = x.shape
        state = torch.cat([x, x.new_zeros(n, self.channels - self.input_nc, h, w)], 1)
        for _ in range(self.steps):
            seen = F.conv2d(F.pad(state, (1, 1, 1, 1), mode="replicate"), self.filters, groups=self.channels)
            delta = self.update(seen)
            if self.training:
                # drawn on the CPU and moved, so CPU and CUDA draw the same cells
                fire = (torch.rand(n, 1, h, w, generator=generator) < self.fire_rate).to(x.device)
                delta = delta * fire
            state = torch.cat([x, state[:, self.input_nc :] + delta], 1)
        return torch.tanh(state[:, -self.output_nc :])

    def training_loss(self, x, y, perceptual=None, lambda_perceptual: float = 0.0, generator=None):
        return regression_loss(self(x, generator=generator), y, perceptual, lambda_perceptual)
