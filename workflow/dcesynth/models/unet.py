"""The U-Net regressor: a plain encoder-decoder with skip connections, trained with L1 (and an
optional VGG19 perceptual term), the pixel-fidelity baseline of the MAMA-SYNTH comparison (the
31 M-parameter U-Net of TeNCA's table is ``ngf: 64, depth: 4``).

:class:`UNet` also serves the flow model (:mod:`.flow`), which conditions every block on the
flow time: with ``embedding`` > 0 each block takes an embedding and turns it into a per-channel
scale and shift after each of its instance norms (FiLM), so that what the norm removes (a constant
channel) cannot be how time enters.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class Block(nn.Sequential):
    """conv → instance norm → LeakyReLU, twice (the children 0..5, so that the state-dict keys
    are those of the plain block); with ``embedding`` > 0, a linear map of an embedding to a
    scale and shift after each norm."""

    def __init__(self, c_in: int, c_out: int, embedding: int = 0):
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="reflect"), nn.InstanceNorm2d(c_out), nn.LeakyReLU(0.2),
            nn.Conv2d(c_out, c_out, 3, padding=1, padding_mode="reflect"), nn.InstanceNorm2d(c_out), nn.LeakyReLU(0.2),
        )  # fmt: skip
        if embedding:
            self.film = nn.Linear(embedding, 4 * c_out)
            nn.init.zeros_(self.film.weight)  # starts as the plain block
            nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        film = getattr(self, "film", None)
        if film is None:
            return super().forward(x)
        if emb is None:
            raise ValueError("a block conditioned on an embedding needs one")
        s1, b1, s2, b2 = (v[..., None, None] for v in film(emb).chunk(4, dim=1))
        x = self[2](self[1](self[0](x)) * (1 + s1) + b1)
        return self[5](self[4](self[3](x)) * (1 + s2) + b2)


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """The sinusoidal embedding of times ``t`` (N,) in [0, 1] (of diffusion models, scaled by 1000)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class UNet(nn.Module):
    """``depth`` poolings, widths ``ngf x 2^k`` (capped at ``ngf x 16``); any input size divisible
    by ``2^depth``. Output in [-1, 1] (tanh), or unbounded with ``bounded=False``. ``embedding``:
    the size of an embedding every block is conditioned on (``forward(x, emb)``); 0: none."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 32, depth: int = 4, bounded: bool = True,
                 embedding: int = 0):  # fmt: skip
        super().__init__()
        self.input_nc, self.bounded = input_nc, bounded
        widths = [ngf * min(2**k, 16) for k in range(depth + 1)]
        e = embedding
        self.down = nn.ModuleList([Block(input_nc, widths[0], e)] + [Block(widths[k - 1], widths[k], e) for k in range(1, depth + 1)])
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[k], widths[k - 1], 2, stride=2) for k in range(depth, 0, -1))
        self.merge = nn.ModuleList(Block(2 * widths[k - 1], widths[k - 1], e) for k in range(depth, 0, -1))
        self.head = nn.Conv2d(widths[0], output_nc, 1)
        self.depth = depth

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        m = 2**self.depth
        if x.shape[-1] % m or x.shape[-2] % m:
            raise ValueError(f"U-Net of depth {self.depth}: slice size {tuple(x.shape[-2:])} is not a multiple of {m}")
        skips = []
        for k, block in enumerate(self.down):
            x = block(x if k == 0 else F.max_pool2d(x, 2), emb)
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat([up(x), skips.pop()], 1), emb)
        out = self.head(x)
        return torch.tanh(out) if self.bounded else out


class Regressor(UNet):
    """Family ``unet``: the U-Net, trained to regress the target. Its last layer starts at zero, so
    an untrained model predicts no enhancement on the subtraction target (the pre-contrast image
    itself) and mid-grey on the post-contrast one, not a random image."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def training_loss(self, x, y, perceptual=None, lambda_perceptual: float = 0.0, generator=None):
        return regression_loss(self(x), y, perceptual, lambda_perceptual)


def regression_loss(fake, y, perceptual=None, lambda_perceptual: float = 0.0):
    """L1, plus ``lambda_perceptual x`` a perceptual loss (the VGG19 term of pix2pixHD) when given."""
    terms = {"L1": F.l1_loss(fake, y)}
    if perceptual is not None and lambda_perceptual > 0:
        terms["VGG"] = perceptual(fake, y) * lambda_perceptual
    return sum(terms.values()), terms
