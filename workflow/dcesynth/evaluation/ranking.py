"""Ranking synthesis models as the MAMA-SYNTH challenge does: the mean of per-metric ranks (Borda),
with a case bootstrap that says how stable each model's rank is.

For each metric, the models (the pre-contrast baseline is a model like any other) are ranked by
their mean over the cases, 1 = best (the lower value for error metrics, the higher for similarity
metrics); tied models (means equal to 10 significant digits) share the mean of the ranks they span,
and a model without a value (NaN) ranks last. A model's score is the mean of its per-metric ranks; its rank is the competition rank
of that score (``1, 2, 2, 4``: tied scores share the best rank they span).

The bootstrap draws the cases with replacement ``n`` times (seeded), ranks the models on each draw
as above and counts how often each model holds each rank.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def metric_ranks(means: pd.DataFrame, higher_is_better: Iterable[str]) -> pd.DataFrame:
    """Per-metric ranks of the models (rows) for every metric (column) of ``means``."""
    higher = set(higher_is_better)
    # compared to 10 significant digits: the order in which a mean was summed cannot split a tie
    means = means.map(lambda v: float(f"{v:.10g}"))
    return pd.DataFrame(
        {m: means[m].rank(ascending=m not in higher, method="average", na_option="bottom") for m in means.columns},
        index=means.index,
    )


def borda(means: pd.DataFrame, higher_is_better: Iterable[str]) -> pd.DataFrame:
    """``means`` (models x metrics) with ``rank_<metric>`` columns, ``mean_rank`` and ``rank``."""
    if means.empty:
        raise ValueError("no model to rank")
    ranks = metric_ranks(means, higher_is_better)
    out = means.copy()
    for m in ranks.columns:
        out[f"rank_{m}"] = ranks[m]
    out["mean_rank"] = ranks.mean(axis=1)
    out["rank"] = out["mean_rank"].rank(method="min").astype(int)
    return out


def _case_means(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    return table.groupby("model", sort=False)[metrics].mean()


def check_cases(table: pd.DataFrame) -> list[str]:
    """The case ids, after checking that every model was scored on the same cases."""
    cases = {model: frozenset(part["case"]) for model, part in table.groupby("model", sort=False)}
    first = next(iter(cases.values()))
    odd = [model for model, c in cases.items() if c != first]
    if odd:
        raise ValueError(f"models scored on other cases than {next(iter(cases))}: {', '.join(map(str, odd))}")
    if table.duplicated(["model", "case"]).any():
        raise ValueError("a model has two rows for one case")
    return sorted(first)


def rank_models(
    table: pd.DataFrame, metrics: list[str], higher_is_better: Iterable[str], n_bootstrap: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """The ranking table of per-case scores ``table`` (columns ``model``, ``case`` and ``metrics``).

    One row per model, best first: the metric means, per-metric ranks, ``mean_rank``, ``rank``,
    and ``p_rank_<k>`` (the share of bootstrap draws in which the model holds rank k, k = 1..models)
    with ``p_same_rank`` (the share in which it holds its own rank).
    """
    higher = list(higher_is_better)
    cases = check_cases(table)
    models = list(dict.fromkeys(table["model"]))
    result = borda(_case_means(table, metrics), higher)
    # one (models x cases x metrics) array, so a draw is an index of cases
    values = np.stack([
        table[table["model"] == model].set_index("case").loc[cases, metrics].to_numpy(dtype=float) for model in models
    ])  # fmt: skip
    rng = np.random.default_rng(seed)
    counts = np.zeros((len(models), len(models)), dtype=np.int64)
    for _ in range(n_bootstrap):
        draw = rng.integers(0, len(cases), len(cases))
        # a case without a value (NaN) makes the model's mean NaN: it ranks last on that metric
        means = pd.DataFrame(values[:, draw, :].mean(axis=1), index=models, columns=metrics)
        ranks = borda(means, higher)["rank"].to_numpy()
        counts[np.arange(len(models)), ranks - 1] += 1
    for k in range(len(models)):
        result[f"p_rank_{k + 1}"] = counts[:, k] / max(1, n_bootstrap)
    result["p_same_rank"] = [result.loc[m, f"p_rank_{result.loc[m, 'rank']}"] for m in result.index]
    result["n_cases"] = len(cases)
    result["n_bootstrap"] = n_bootstrap
    return result.sort_values(["rank", "mean_rank"], kind="stable").rename_axis("model").reset_index()
