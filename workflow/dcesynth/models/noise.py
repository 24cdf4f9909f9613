"""Random draws of synthesis that belong to a slice, not to the batch it is translated in.

A slice's seed is a hash of its model input (its bytes, on the CPU) and the model's seed: a slice
gets the same draws in every batch, at every batch size, in evaluation and in synthesis, on the CPU
and on CUDA (draws are made on the CPU and moved), and two different slices get independent ones.
"""

from __future__ import annotations

import hashlib

import torch


def slice_seeds(x: torch.Tensor, seed: int) -> list[int]:
    """One 63-bit seed per item of the batch ``x`` (N, C, H, W), from its values and ``seed``."""
    data = x.detach().float().cpu().contiguous().numpy()
    key = int(seed).to_bytes(8, "little", signed=True)
    return [int.from_bytes(hashlib.blake2b(item.tobytes(), digest_size=8, key=key).digest(), "little") >> 1
            for item in data]  # fmt: skip


def slice_generators(x: torch.Tensor, seed: int) -> list[torch.Generator]:
    """One CPU generator per item of ``x``, seeded by :func:`slice_seeds`."""
    return [torch.Generator().manual_seed(s) for s in slice_seeds(x, seed)]


def per_slice(generators: list[torch.Generator], draw, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """``draw`` (``torch.randn`` or ``torch.rand``) of ``shape`` for each item from its own
    generator, stacked and moved to ``like``'s device and dtype."""
    return torch.stack([draw(*shape, generator=g) for g in generators]).to(like.device, like.dtype)
