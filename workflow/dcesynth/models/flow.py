"""Conditional flow matching (rectified flow): the diffusion-family entry that runs on a CPU at
demo size.

Training draws noise ``z`` and a time ``t`` in [0, 1] per pair and regresses the velocity
``y - z`` of the straight path ``x_t = (1 - t) z + t y`` with a U-Net ``v(x_t, pre, t)``. Time
enters through a sinusoidal embedding and an MLP that give every block of the U-Net a scale and
shift after its instance norms (FiLM): a norm cannot remove it, as it removed a constant time
channel (``time: channel``, the first version's, which made the velocity independent of ``t``;
kept only so that its model files still load).

Synthesis integrates the velocity from noise at ``t = 0`` to ``t = 1`` in ``sample_steps`` Euler
steps. Each slice draws its own noise from a seed of its content and ``seed``
(:mod:`.noise`): deterministic per slice, whichever batch it is translated in, and independent
between slices, so textures do not repeat across the slices of a volume.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .noise import per_slice, slice_generators
from .unet import UNet, time_embedding

TIME_MODES = ("film", "channel")


class RectifiedFlow(nn.Module):
    """Family ``flow``."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 32, depth: int = 3, sample_steps: int = 4,
                 seed: int = 0, time: str = "film", time_dim: int = 64):  # fmt: skip
        super().__init__()
        if not 1 <= sample_steps <= 64:
            raise ValueError(f"flow: sample_steps must be 1..64, not {sample_steps}")
        if time not in TIME_MODES:
            raise ValueError(f"flow: time must be one of {', '.join(TIME_MODES)}, not {time!r}")
        self.input_nc, self.output_nc, self.sample_steps, self.seed = input_nc, output_nc, sample_steps, seed
        self.time, self.time_dim = time, time_dim
        if time == "film":
            self.time_mlp = nn.Sequential(nn.Linear(time_dim, 2 * time_dim), nn.SiLU(), nn.Linear(2 * time_dim, 2 * time_dim))
            self.net = UNet(input_nc + output_nc, output_nc, ngf, depth, bounded=False, embedding=2 * time_dim)
        else:
            self.net = UNet(input_nc + output_nc + 1, output_nc, ngf, depth, bounded=False)

    def velocity(self, xt: torch.Tensor, cond: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.time == "film":
            return self.net(torch.cat([xt, cond], 1), self.time_mlp(time_embedding(t, self.time_dim)).to(cond.dtype))
        tt = t.view(-1, 1, 1, 1).expand(-1, 1, *cond.shape[-2:]).to(cond.dtype)
        return self.net(torch.cat([xt, cond, tt], 1))

    def forward(self, cond: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        steps = int(steps or self.sample_steps)
        x = per_slice(slice_generators(cond, self.seed), torch.randn, (self.output_nc, *cond.shape[-2:]), cond)
        for k in range(steps):
            t = torch.full((cond.shape[0],), k / steps, device=cond.device)
            x = x + self.velocity(x, cond, t) / steps
        return x.clamp(-1.0, 1.0)

    def training_loss(self, x, y, perceptual=None, lambda_perceptual: float = 0.0, generator=None):
        generator = generator or torch.Generator().manual_seed(self.seed)
        z = torch.randn(y.shape, generator=generator).to(y.device, y.dtype)
        t = torch.rand(y.shape[0], generator=generator).to(y.device)
        tb = t.view(-1, 1, 1, 1)
        mse = F.mse_loss(self.velocity((1 - tb) * z + tb * y, x, t), y - z)
        return mse, {"velocity_MSE": mse}
