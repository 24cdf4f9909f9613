"""Paired slices (pre → post) read by memory map from the slice arrays of ``extract_slices``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def to_model_range(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 0–255 → float32 in [-1, 1]."""
    return torch.from_numpy(np.array(x, dtype=np.float32)) / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[-1, 1] → uint8 0–255 (rounded, clipped)."""
    return ((x.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).cpu().numpy()


# gan.augment: what a drawn pair undergoes. rot90 is the paper's text (a 90-degree rotation with
# p = 0.5); flip is what the authors' code did (NVIDIA's dataset with no_flip: False flips each pair
# left-right with p = 0.5).
AUGMENTATIONS = ("rot90", "flip", "none")


class SlicePairs:
    """All (case, slice) pairs of the given cases; input_seq and targets are sequence names.

    ``files[case][seq]`` is the path of the ``.npy`` stack. Arrays are opened lazily with
    ``mmap_mode='r'``, so the dataset costs no memory up front whatever the cohort size.
    ``augment`` (:data:`AUGMENTATIONS`) is what a pair drawn for augmentation undergoes.
    """

    def __init__(self, files: dict[str, dict[str, str | Path]], input_seq: str, targets: list[str], channels: int = 3,
                 augment: str = "rot90"):  # fmt: skip
        if channels not in (1, 3):
            raise ValueError("channels must be 1 or 3")
        if augment not in AUGMENTATIONS:
            raise ValueError(f"gan.augment must be one of {', '.join(AUGMENTATIONS)}, not {augment!r}")
        self.files, self.input_seq, self.targets, self.channels = files, input_seq, list(targets), channels
        self.augment = augment
        self._arrays: dict[tuple[str, str], np.ndarray] = {}
        self.index: list[tuple[str, int]] = []
        for case in sorted(files):
            n = self._array(case, input_seq).shape[0]
            for t in self.targets:
                if self._array(case, t).shape != self._array(case, input_seq).shape:
                    raise ValueError(f"case {case}: {t} slices {self._array(case, t).shape} differ from {input_seq}")
            self.index += [(case, i) for i in range(n)]

    def _array(self, case: str, seq: str) -> np.ndarray:
        key = (case, seq)
        if key not in self._arrays:
            self._arrays[key] = np.load(self.files[case][seq], mmap_mode="r")
        return self._arrays[key]

    def __len__(self) -> int:
        return len(self.index)

    @property
    def input_nc(self) -> int:
        return self.channels

    @property
    def output_nc(self) -> int:
        return self.channels if len(self.targets) == 1 else len(self.targets)

    def pair(self, k: int, augment: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Input (C, H, W) and target (C', H, W) in [-1, 1]; both rotated 90° (``rot90``) or
        flipped left-right (``flip``) when ``augment``."""
        case, i = self.index[k]
        x = to_model_range(self._array(case, self.input_seq)[i])[None]
        ys = [to_model_range(self._array(case, t)[i])[None] for t in self.targets]
        x = x.expand(self.channels, -1, -1)
        y = ys[0].expand(self.channels, -1, -1) if len(ys) == 1 else torch.cat(ys)
        if augment and self.augment == "rot90":
            x, y = torch.rot90(x, 1, (1, 2)), torch.rot90(y, 1, (1, 2))
        elif augment and self.augment == "flip":
            x, y = torch.flip(x, (2,)), torch.flip(y, (2,))
        return x.contiguous(), y.contiguous()

    def batch_indices(self, batch_size: int, generator: torch.Generator, augment_probability: float,
                      limit: int | None = None) -> list[list[tuple[int, bool]]]:
        """One epoch's batches as (pair index, augment) lists, drawn from ``generator`` (so an epoch is
        reproducible): a shuffled order, cut to ``limit``, then one augmentation draw per pair
        (drawn whatever ``augment`` is, so that the order does not depend on it)."""
        order = torch.randperm(len(self), generator=generator).tolist()
        if limit:
            order = order[:limit]
        drawn = (torch.rand(len(order), generator=generator) < augment_probability).tolist()
        items = list(zip(order, drawn))
        return [items[s : s + batch_size] for s in range(0, len(items), batch_size)]

    def load(self, items: list[tuple[int, bool]]) -> tuple[torch.Tensor, torch.Tensor]:
        """The input and target batches (N, C, H, W) of (pair index, augment) items."""
        pairs = [self.pair(k, r) for k, r in items]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])

    def batches(self, batch_size: int, generator: torch.Generator, augment_probability: float, limit: int | None = None):
        """Shuffled batches for one epoch (see :meth:`batch_indices`)."""
        for items in self.batch_indices(batch_size, generator, augment_probability, limit):
            yield self.load(items)


def training_pairs(files: dict[str, dict[str, str | Path]], cfg: dict) -> SlicePairs:
    """The pairs one model trains on, as its training keys say (``input``, ``targets``, ``channels``,
    ``augment``): one place for the training job and the distributed workers."""
    return SlicePairs(files, cfg["input"], cfg["targets"], cfg["channels"], cfg.get("augment", "rot90"))
