"""The Scaled Aggregate Measure (SAMe) that chooses a run's epoch: the paper's min-max version and
a rank version that one outlier epoch cannot dominate."""

from __future__ import annotations

import pandas as pd

# The pixel metrics that are better higher (SAMe reverses them), ours and the authors' arithmetic.
HIGHER_IS_BETTER = {"ssim", "ms_ssim", "psnr", "ssim_authors", "ms_ssim_authors", "psnr_authors"}


def same(table: pd.DataFrame, metrics: list[str], higher_is_better: set[str] | frozenset[str]) -> pd.Series:
    """Scaled Aggregate Measure: per metric, min-max scale over the rows (epochs) to [0, 1] so that
    lower is better (higher-is-better metrics reversed after scaling); the mean over metrics.
    A metric that is constant over the rows contributes 0."""
    scaled = [_scaled(table[m].astype(float), m in higher_is_better) for m in metrics]
    return pd.concat(scaled, axis=1).mean(axis=1).rename("same")


def same_rank(table: pd.DataFrame, metrics: list[str], higher_is_better: set[str] | frozenset[str]) -> pd.Series:
    """SAMe on ranks: each metric's rank among the rows scaled to [0, 1] (best 0), averaged.
    One outlier epoch moves the others' ranks by at most one place, not their scale."""
    n = len(table)
    parts = []
    for m in metrics:
        r = table[m].astype(float).rank(method="average", ascending=m not in higher_is_better)
        parts.append((r - 1) / (n - 1) if n > 1 else r * 0)
    return pd.concat(parts, axis=1).mean(axis=1).rename("same_rank")


def _scaled(v: pd.Series, higher_is_better: bool) -> pd.Series:
    span = v.max() - v.min()
    s = (v - v.min()) / span if span > 0 else v * 0
    return 1 - s if higher_is_better and span > 0 else s
