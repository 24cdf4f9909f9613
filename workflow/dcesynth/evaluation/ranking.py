"""Ranking synthesis models as the MAMA-SYNTH challenge does: a flat Borda count (the mean of
per-metric ranks), with a case bootstrap that says how stable each model's rank is.

For each metric, the runs are ranked by their mean over the cases, 1 = best (the lower value for
error metrics, the higher for similarity metrics); tied runs (means equal to 10 significant digits)
share the mean of the ranks they span (the challenge's code breaks ties by submission order), and a
run without a value (NaN) ranks last. A run's score is the mean of its per-metric ranks; its rank
is the competition rank of that score (``1, 2, 2, 4``: tied scores share the best rank they span).

The pre-contrast baseline is not ranked: a Borda count is not independent of irrelevant
alternatives, and a baseline sitting between two runs on some metrics can swap them. It gets a
row of its own with its metrics and no rank (``baseline``).

The bootstrap draws the cases with replacement ``n`` times (seeded), ranks the runs on each draw
as above and counts how often each run holds each rank. Set metrics (FRD, AUROC: values of a
set of cases, not of one case) are computed again on every draw.

A case that no run was scored on for a metric leaves that metric's means; a case only some runs
lack a value for makes their mean NaN, and they rank last on that metric.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

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


def case_means(values: np.ndarray) -> np.ndarray:
    """Per model and metric, the mean over the cases (``values``: models x cases x metrics) that
    any model has a value for; NaN for a model without a value on one of them."""
    scored = ~np.isnan(values).all(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scored, values, 0.0).sum(axis=1) / scored.sum(axis=0)


# A set metric: given the case ids of one draw (repeats allowed), the value of every model
SetMetric = Callable[[list[str]], Mapping[str, float]]


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
    table: pd.DataFrame,
    metrics: list[str],
    higher_is_better: Iterable[str],
    n_bootstrap: int = 1000,
    seed: int = 0,
    set_metrics: Mapping[str, SetMetric] | None = None,
    baseline: str | None = None,
) -> pd.DataFrame:
    """The ranking table of per-case scores ``table`` (columns ``model``, ``case`` and ``metrics``)
    and of ``set_metrics`` (name → function of a draw's case ids, computed on every draw).

    One row per model, best first: the metric means, per-metric ranks, ``mean_rank``, ``rank``,
    and ``p_rank_<k>`` (the share of bootstrap draws in which the model holds rank k, k = 1..models)
    with ``p_same_rank`` (the share in which it holds its own rank). ``baseline`` (a model of
    ``table``) is left out of every rank: its row, last, has its metrics and no rank.
    """
    higher, set_metrics = list(higher_is_better), dict(set_metrics or {})
    cases = check_cases(table)
    if baseline is not None:
        apart = _unranked_row(table[table["model"] == baseline], cases, metrics, set_metrics, baseline)
        ranked = rank_models(table[table["model"] != baseline], metrics, higher, n_bootstrap, seed, set_metrics)
        return pd.concat([ranked, apart], ignore_index=True).astype({"rank": "Int64"})
    models = list(dict.fromkeys(table["model"]))
    # one (models x cases x metrics) array, so a draw is an index of cases
    values = np.stack([
        table[table["model"] == model].set_index("case").loc[cases, metrics].to_numpy(dtype=float) for model in models
    ])  # fmt: skip

    def means_of(draw: np.ndarray) -> pd.DataFrame:
        means = pd.DataFrame(case_means(values[:, draw, :]), index=models, columns=metrics)
        ids = [cases[i] for i in draw]
        for name, metric in set_metrics.items():
            scores = metric(ids)
            means[name] = [scores.get(m, np.nan) for m in models]
        return means

    result = borda(means_of(np.arange(len(cases))), higher)
    rng = np.random.default_rng(seed)
    counts = np.zeros((len(models), len(models)), dtype=np.int64)
    for _ in range(n_bootstrap):
        ranks = borda(means_of(rng.integers(0, len(cases), len(cases))), higher)["rank"].to_numpy()
        counts[np.arange(len(models)), ranks - 1] += 1
    for k in range(len(models)):
        result[f"p_rank_{k + 1}"] = counts[:, k] / max(1, n_bootstrap)
    result["p_same_rank"] = [result.loc[m, f"p_rank_{result.loc[m, 'rank']}"] for m in result.index]
    result["n_cases"] = len(cases)
    result["n_bootstrap"] = n_bootstrap
    return result.sort_values(["rank", "mean_rank"], kind="stable").rename_axis("model").reset_index()


def _unranked_row(rows: pd.DataFrame, cases: list[str], metrics: list[str], set_metrics: Mapping[str, SetMetric],
                  name: str) -> pd.DataFrame:
    """A model's metrics over all ``cases`` (means, and the set metrics), with no rank."""
    if rows.empty:
        raise ValueError(f"the baseline {name!r} has no rows")
    values = rows.set_index("case").loc[cases, metrics].to_numpy(dtype=float)
    means = {m: float(np.nanmean(values[:, k])) if np.isfinite(values[:, k]).any() else np.nan
             for k, m in enumerate(metrics)}  # fmt: skip
    for m, metric in set_metrics.items():
        means[m] = metric(list(cases)).get(name, np.nan)
    return pd.DataFrame([{"model": name, **means, "n_cases": len(cases)}])
