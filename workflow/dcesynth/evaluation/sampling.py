"""Seeded samples of slice pairs, shared by the per-epoch tables and Table 1."""

from __future__ import annotations

import numpy as np


def sample_slices(files: dict[str, dict[str, str]], seq: str, n: int | None, seed: int) -> list[tuple[str, int]]:
    """A fixed, seeded sample of (case, slice) over the given cases (all when n is None or larger),
    in seeded random order: any prefix of it (the FID pairs within the pixel-metric pairs) is a
    random sample of every case too, not the first cases in sorted order."""
    index = []
    for case in sorted(files):
        k = np.load(files[case][seq], mmap_mode="r").shape[0]
        index += [(case, i) for i in range(k)]
    order = np.random.default_rng(seed).permutation(len(index))
    return [index[i] for i in order[:n]]


def gather(files: dict[str, dict[str, str]], seq: str, sample: list[tuple[str, int]]) -> np.ndarray:
    arrays = {c: np.load(files[c][seq], mmap_mode="r") for c in {c for c, _ in sample}}
    return np.stack([arrays[c][i] for c, i in sample]) if sample else np.zeros((0, 1, 1), np.uint8)


def mean_sd(v: np.ndarray) -> tuple[float, float]:
    with np.errstate(invalid="ignore"):  # PSNR of identical images is inf; its sd is then nan
        return float(np.mean(v)), float(np.std(v))


def largest(*counts: int | None) -> int | None:
    """The largest of some sample sizes, None (everything) if any is None."""
    return None if any(c is None for c in counts) else max(counts)

