"""Conditional flow matching (rectified flow): the diffusion-family entry that runs on a CPU at
demo size.

Training draws noise ``z`` and a time ``t`` in [0, 1] per pair and regresses the velocity
``y - z`` of the straight path ``x_t = (1 - t) z + t y`` with a U-Net that sees ``x_t``, the
pre-contrast image and ``t`` (a constant channel). Synthesis integrates the velocity from noise
at ``t = 0`` to ``t = 1`` in ``sample_steps`` Euler steps (1-8), from one seeded noise field shared
by every slice, so a slice gives the same image whenever and in whichever batch it is translated. Noise is drawn on the CPU and moved, so CPU and CUDA
draw the same.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .unet import UNet


class RectifiedFlow(nn.Module):
    """Family ``flow``."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 32, depth: int = 3, sample_steps: int = 4,
                 seed: int = 0):  # fmt: skip
        super().__init__()
        if not 1 <= sample_steps <= 64:
            raise ValueError(f"flow: sample_steps must be 1..64, not {sample_steps}")
        self.input_nc, self.output_nc, self.sample_steps, self.seed = input_nc, output_nc, sample_steps, seed
        self.net = UNet(input_nc + output_nc + 1, output_nc, ngf, depth, bounded=False)

    def velocity(self, xt: torch.Tensor, cond: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tt = t.view(-1, 1, 1, 1).expand(-1, 1, *cond.shape[-2:]).to(cond.dtype)
        return self.net(torch.cat([xt, cond, tt], 1))

    def _noise(self, n: int, like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, self.output_nc, *like.shape[-2:], generator=generator)
        return z.to(like.device, like.dtype)

    def forward(self, cond: torch.Tensor, steps: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        steps = int(steps or self.sample_steps)
        generator = generator or torch.Generator().manual_seed(self.seed)
        # one noise field for every slice: a slice's image depends on the slice alone, not on the
        # batch it was translated in
        x = self._noise(1, cond, generator).expand(cond.shape[0], -1, -1, -1)
        for k in range(steps):
            t = torch.full((cond.shape[0],), k / steps, device=cond.device)
            x = x + self.velocity(x, cond, t) / steps
        return x.clamp(-1.0, 1.0)

    def training_loss(self, x, y, perceptual=None, lambda_perceptual: float = 0.0, generator=None):
        generator = generator or torch.Generator().manual_seed(self.seed)
        z = self._noise(y.shape[0], y, generator)
        t = torch.rand(y.shape[0], generator=generator).to(y.device)
        tb = t.view(-1, 1, 1, 1)
        mse = F.mse_loss(self.velocity((1 - tb) * z + tb * y, x, t), y - z)
        return mse, {"velocity_MSE": mse}
