"""Seeded samples of slice pairs, shared by the per-epoch tables and Table 1."""

from __future__ import annotations

import numpy as np


SAMPLE_ORDERS = ("seeded", "first")


def sample_slices(
    files: dict[str, dict[str, str]], seq: str, n: int | None, seed: int, order: str = "seeded"
) -> list[tuple[str, int]]:
    """A fixed sample of (case, slice) over the given cases (all when n is None or larger).

    ``order='seeded'``: in seeded random order, so that any prefix of it (the FID pairs within the
    pixel-metric pairs) is a random sample of every case too. ``'first'``: the first ``n`` in case
    order, then slice order, as the authors' scripts took the first files of a sorted folder
    (their ``--limit``): a prefix then covers the first cases only."""
    if order not in SAMPLE_ORDERS:
        raise ValueError(f"metrics.sample_order must be one of {', '.join(SAMPLE_ORDERS)}, not {order!r}")
    index = []
    for case in sorted(files):
        k = np.load(files[case][seq], mmap_mode="r").shape[0]
        index += [(case, i) for i in range(k)]
    if order == "first":
        return index[:n]
    permutation = np.random.default_rng(seed).permutation(len(index))
    return [index[i] for i in permutation[:n]]


def gather(files: dict[str, dict[str, str]], seq: str, sample: list[tuple[str, int]]) -> np.ndarray:
    arrays = {c: np.load(files[c][seq], mmap_mode="r") for c in {c for c, _ in sample}}
    return np.stack([arrays[c][i] for c, i in sample]) if sample else np.zeros((0, 1, 1), np.uint8)


def mean_sd(v: np.ndarray) -> tuple[float, float]:
    with np.errstate(invalid="ignore"):  # PSNR of identical images is inf; its sd is then nan
        return float(np.mean(v)), float(np.std(v))


def largest(*counts: int | None) -> int | None:
    """The largest of some sample sizes, None (everything) if any is None."""
    return None if any(c is None for c in counts) else max(counts)

