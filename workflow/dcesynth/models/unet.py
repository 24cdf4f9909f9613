"""The U-Net regressor: a plain encoder-decoder with skip connections, trained with L1 (and an
optional VGG19 perceptual term), the pixel-fidelity baseline of the MAMA-SYNTH comparison (the
31 M-parameter U-Net of TeNCA's table is ``ngf: 64, depth: 4``)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="reflect"), nn.InstanceNorm2d(c_out), nn.LeakyReLU(0.2),
        nn.Conv2d(c_out, c_out, 3, padding=1, padding_mode="reflect"), nn.InstanceNorm2d(c_out), nn.LeakyReLU(0.2),
    )  # fmt: skip


class UNet(nn.Module):
    """``depth`` poolings, widths ``ngf x 2^k`` (capped at ``ngf x 16``); any input size divisible
    by ``2^depth``. Output in [-1, 1] (tanh), or unbounded with ``bounded=False``."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 32, depth: int = 4, bounded: bool = True):
        super().__init__()
        self.input_nc, self.bounded = input_nc, bounded
        widths = [ngf * min(2**k, 16) for k in range(depth + 1)]
        self.down = nn.ModuleList([_block(input_nc, widths[0])] + [_block(widths[k - 1], widths[k]) for k in range(1, depth + 1)])
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[k], widths[k - 1], 2, stride=2) for k in range(depth, 0, -1))
        self.merge = nn.ModuleList(_block(2 * widths[k - 1], widths[k - 1]) for k in range(depth, 0, -1))
        self.head = nn.Conv2d(widths[0], output_nc, 1)
        self.depth = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = 2**self.depth
        if x.shape[-1] % m or x.shape[-2] % m:
            raise ValueError(f"U-Net of depth {self.depth}: slice size {tuple(x.shape[-2:])} is not a multiple of {m}")
        skips = []
        for k, block in enumerate(self.down):
            x = block(x if k == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat([up(x), skips.pop()], 1))
        out = self.head(x)
        return torch.tanh(out) if self.bounded else out


class Regressor(UNet):
    """Family ``unet``: the U-Net, trained to regress the target."""

    def training_loss(self, x, y, perceptual=None, lambda_perceptual: float = 0.0, generator=None):
        return regression_loss(self(x), y, perceptual, lambda_perceptual)


def regression_loss(fake, y, perceptual=None, lambda_perceptual: float = 0.0):
    """L1, plus ``lambda_perceptual x`` a perceptual loss (the VGG19 term of pix2pixHD) when given."""
    terms = {"L1": F.l1_loss(fake, y)}
    if perceptual is not None and lambda_perceptual > 0:
        terms["VGG"] = perceptual(fake, y) * lambda_perceptual
    return sum(terms.values()), terms
