"""A temporal neural cellular automaton after TeNCA (Lang, Osuala et al., MICCAI 2025): tens of
thousands of parameters, many small local update steps.

Each pixel is a cell with ``channels`` state channels: the first ``input_nc`` start as the
pre-contrast image, the others at zero. A step perceives every channel (the channel itself and
two learned depthwise 3x3 filters with reflecting borders, as TeNCA; or, ``perception: fixed``,
the fixed identity, Sobel and Laplacian filters of the first version), maps each cell's perception
through a two-layer 1x1 MLP to a residual update of every channel, image included (the image
evolves from the pre-contrast image towards the post-contrast one), and applies it to a random
``fire_rate`` share of the cells: in training and at synthesis alike, as TeNCA does, so the
steps synthesis takes are those training learnt. At synthesis the update masks of a slice come
from a seed of its content (:mod:`.noise`), so translation is deterministic per slice.

The image channels are read out after ``steps`` steps when the model has as many output channels as
image channels: one target on the grey slice stacked to ``channels``, or, with ``channels`` equal to
the number of post-contrast phases, image channel k becoming phase k. With one image channel and K
phases, the phases are read along its trajectory, at ``steps x k / K`` for phase k: points on one
trajectory, as TeNCA reads its acquisitions at their times. After ``steps`` steps information has
travelled ``steps`` pixels.

Where this still differs from TeNCA (``config/README.md``): L1 (ours) against MSE, evenly spaced
read-out steps against acquisition times, 2D slices of the pipeline's size against 168² patches,
and the step count (128 in TeNCA; the demo's is chosen for a CPU).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .noise import per_slice, slice_generators
from .unet import regression_loss

_FILTERS = torch.tensor([
    [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    [[1, 2, 1], [2, -12, 2], [1, 2, 1]],
], dtype=torch.float32) / torch.tensor([1.0, 8.0, 8.0, 16.0]).view(4, 1, 1)  # fmt: skip

PERCEPTIONS = ("learned", "fixed")


class NCA(nn.Module):
    """Family ``nca``. ``evolve_image: false`` and ``stochastic_inference: false`` are the first
    version's (a frozen image channel, every cell updated at synthesis), kept so that its model
    files still load."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, channels: int = 24, hidden: int = 128, steps: int = 32,
                 fire_rate: float = 0.5, perception: str = "learned", evolve_image: bool = True,
                 stochastic_inference: bool = True, seed: int = 0):  # fmt: skip
        super().__init__()
        if channels < input_nc + (0 if evolve_image else output_nc):
            raise ValueError(f"nca: channels ({channels}) must hold the input ({input_nc}) and output ({output_nc})")
        if perception not in PERCEPTIONS:
            raise ValueError(f"nca: perception must be one of {', '.join(PERCEPTIONS)}, not {perception!r}")
        if not 0 < fire_rate <= 1:
            raise ValueError(f"nca: fire_rate must be in (0, 1], not {fire_rate}")
        if evolve_image and output_nc != input_nc and output_nc > steps:
            raise ValueError(f"nca: {output_nc} phases need at least as many steps (steps: {steps})")
        self.input_nc, self.output_nc, self.channels = input_nc, output_nc, channels
        self.steps, self.fire_rate, self.seed = steps, fire_rate, seed
        self.perception, self.evolve_image, self.stochastic_inference = perception, evolve_image, stochastic_inference
        if perception == "fixed":
            self.register_buffer("filters", _FILTERS.repeat(channels, 1, 1)[:, None], persistent=False)
            n_seen = 4 * channels
        else:
            self.p0 = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, padding_mode="reflect")
            self.p1 = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, padding_mode="reflect")
            n_seen = 3 * channels
        updated = channels if evolve_image else channels - input_nc
        self.update = nn.Sequential(nn.Conv2d(n_seen, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, updated, 1))
        nn.init.zeros_(self.update[-1].weight)  # start as the identity map: no update
        nn.init.zeros_(self.update[-1].bias)

    def _perceive(self, state: torch.Tensor) -> torch.Tensor:
        if self.perception == "fixed":
            return F.conv2d(F.pad(state, (1, 1, 1, 1), mode="replicate"), self.filters, groups=self.channels)
        return torch.cat([state, self.p0(state), self.p1(state)], 1)

    def _readout_steps(self) -> list[int]:
        """The steps after which the output is read: the last, or one per phase (evenly spaced)."""
        if not self.evolve_image or self.output_nc == self.input_nc:
            return [self.steps]
        k = self.output_nc
        return [round(self.steps * (i + 1) / k) for i in range(k)]

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``generator``: the update masks of a training batch; None: each slice's own masks
        (synthesis), or every cell where ``stochastic_inference`` is off."""
        n, _, h, w = x.shape
        state = torch.cat([x, x.new_zeros(n, self.channels - self.input_nc, h, w)], 1)
        stochastic = self.fire_rate < 1 and (self.training or self.stochastic_inference)
        own = slice_generators(x, self.seed) if stochastic and generator is None else None
        reads, outputs = self._readout_steps(), []
        for step in range(1, self.steps + 1):
            delta = self.update(self._perceive(state))
            if stochastic:
                # drawn on the CPU and moved, so CPU and CUDA draw the same cells
                if own is None:
                    fire = torch.rand(n, 1, h, w, generator=generator).to(x.device, x.dtype)
                else:
                    fire = per_slice(own, torch.rand, (1, h, w), x)
                delta = delta * (fire < self.fire_rate).to(delta.dtype)
            if self.evolve_image:
                state = state + delta
            else:
                state = torch.cat([x, state[:, self.input_nc :] + delta], 1)
            if self.evolve_image and step in reads:
                outputs.append(state[:, : self.input_nc] if self.output_nc == self.input_nc else state[:, :1])
        if not self.evolve_image:
            return torch.tanh(state[:, -self.output_nc :])
        out = torch.cat(outputs, 1)
        return out if self.training else out.clamp(-1.0, 1.0)

    def training_loss(self, x, y, perceptual=None, lambda_perceptual: float = 0.0, generator=None):
        return regression_loss(self(x, generator=generator), y, perceptual, lambda_perceptual)
