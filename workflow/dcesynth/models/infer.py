"""Inference: translate slices with a generator, in batches, on CPU or CUDA."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from tqdm import tqdm

from ..training.data import to_model_range, to_uint8


@torch.inference_mode()
def translate(
    generator: torch.nn.Module,
    slices: np.ndarray,
    batch_size: int = 8,
    channels: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Translate uint8 slices ``(n, H, W)`` → uint8 ``(n, C_out, H, W)``.

    Grey slices are stacked to the generator's input channels (3 in the paper). For a
    single-target model with 3 output channels, callers usually take channel 0 (all equal up to
    the network's output); for a multi-phase model each channel is one phase.
    """
    param = next(generator.parameters())
    device = param.device
    # a model's own input channel count where it states one (an NCA's or a flow model's first
    # convolution sees more channels than the image); else that of its first convolution
    in_nc = channels or getattr(generator, "input_nc", None) or next(
        m for m in generator.modules() if isinstance(m, torch.nn.Conv2d)).in_channels
    cuda = device.type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext()
    out = []
    for s in tqdm(range(0, len(slices), batch_size), disable=not progress, desc="slices", ascii=True, mininterval=2):
        x = to_model_range(slices[s : s + batch_size])[:, None].expand(-1, in_nc, -1, -1).to(device)
        if cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast:
            y = generator(x)
        out.append(to_uint8(y))
    return np.concatenate(out) if out else np.zeros((0, 1, *slices.shape[1:]), np.uint8)
