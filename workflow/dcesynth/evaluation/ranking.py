"""Ranking synthesis models as the MAMA-SYNTH challenge does: the mean of per-metric ranks (Borda),
with a case bootstrap that says how stable each model's rank is.

For each metric, the models (the pre-contrast baseline is a model like any other) are ranked by
their mean over the cases, 1 = best (the lower value for error metrics, the higher for similarity
metrics); tied models (means equal to 10 significant digits) share the mean of the ranks they span,
and a model without a value (NaN) ranks last. A model's score is the mean of its per-metric ranks; its rank is the competition rank
of that score (``1, 2, 2, 4``: tied scores share the best rank they span).

The bootstrap draws the cases with replacement ``n`` times (seeded), ranks the models on each draw
as above and counts how often each model holds each rank.

Per test case the models are scored as MAMA-SYNTH does on the axial slice with the largest tumour
area: MSE and LPIPS on the whole slice, SSIM inside the tumour's region (:func:`slice_scores`), and
the Dice and HD95 of a fixed segmenter applied to the model's synthetic volume. FRD inside the
tumour region is a distance between two sets of cases, not a per-case score: it enters as a set
metric, computed again on each bootstrap draw (:func:`frd_tumour`).

A case that no model was scored on for a metric (a case the segmenter did not test, e.g. a
multifocal one) leaves that metric's means; a case only some models lack a value for makes their
mean NaN, and they rank last on that metric.
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
) -> pd.DataFrame:
    """The ranking table of per-case scores ``table`` (columns ``model``, ``case`` and ``metrics``)
    and of ``set_metrics`` (name → function of a draw's case ids, computed on every draw).

    One row per model, best first: the metric means, per-metric ranks, ``mean_rank``, ``rank``,
    and ``p_rank_<k>`` (the share of bootstrap draws in which the model holds rank k, k = 1..models)
    with ``p_same_rank`` (the share in which it holds its own rank).
    """
    higher, set_metrics = list(higher_is_better), dict(set_metrics or {})
    cases = check_cases(table)
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


# --- the MAMA-SYNTH-style scores of one test case ----------------------------------------------

# What each model is scored on, per test case, and which way is better (SSIM higher, errors lower)
SLICE_METRICS = ("mse", "lpips", "ssim_tumour")
SEGMENTER_METRICS = ("dice", "hd95_mm")
HIGHER_IS_BETTER = ("ssim_tumour", "dice")
BASELINE = "pre-contrast (as is)"
# LPIPS' backbones pool a slice down 5 times: a shorter side below this is enlarged (bilinear) first
LPIPS_MIN_SIZE = 64


def largest_tumour_slice(mask: np.ndarray) -> int:
    """The axial slice (index of the first array axis) with the largest tumour area."""
    area = mask.reshape(mask.shape[0], -1).sum(1)
    if not area.any():
        raise ValueError("the tumour mask is empty")
    return int(np.argmax(area))


def tumour_box(mask2d: np.ndarray, margin_px: tuple[int, int]) -> tuple[slice, slice]:
    """The tumour's bounding box on one slice, grown by ``margin_px`` (rows, columns)."""
    idx = np.argwhere(mask2d)
    lo, hi = idx.min(0), idx.max(0) + 1
    return tuple(slice(max(0, int(a) - m), min(n, int(b) + m)) for a, b, m, n in zip(lo, hi, margin_px, mask2d.shape))


def slice_scores(real: np.ndarray, fake: np.ndarray, box: tuple[slice, slice], lpips_net=None) -> dict[str, float]:
    """MSE and LPIPS of ``fake`` against ``real`` on the whole slice, SSIM inside ``box`` (the mean
    of the SSIM map there), both slices on the 0-255 scale (LPIPS without per-image rescaling)."""
    import torch

    from .. import metrics

    a = torch.from_numpy(np.asarray(real, dtype=np.float32))[None, None]
    b = torch.from_numpy(np.asarray(fake, dtype=np.float32))[None, None]
    ssim = metrics.ssim_map(a, b)[0, 0][box].mean()
    out = {"mse": float(((a - b) ** 2).mean()), "ssim_tumour": float(ssim), "lpips": float("nan")}
    if lpips_net is not None:
        short = min(a.shape[-2:])
        if short < LPIPS_MIN_SIZE:  # too small for the backbone's pooling: both slices enlarged alike
            size = [round(n * LPIPS_MIN_SIZE / short) for n in a.shape[-2:]]
            a, b = (torch.nn.functional.interpolate(t, size=size, mode="bilinear", align_corners=False) for t in (a, b))
        out["lpips"] = float(lpips_net(a[:, 0].clamp(0, 255).round().numpy(), b[:, 0].clamp(0, 255).round().numpy(),
                                       normalize=False)[0])  # fmt: skip
    return out


def tumour_features(plane: np.ndarray, box: tuple[slice, slice]) -> np.ndarray:
    """The radiomic features (FRD's) of the tumour box of one slice on the 0-255 scale."""
    from ..frd import image_features

    return image_features(np.clip(np.rint(plane[box]), 0, 255).astype(np.uint8))


def frd_tumour(real: Mapping[str, np.ndarray], fakes: Mapping[str, Mapping[str, np.ndarray]]) -> SetMetric:
    """FRD inside the tumour region as a set metric: ``real`` holds each case's features of the
    real slice, ``fakes`` each model's per case. A draw on which no feature varies across the real
    slices (e.g. one case drawn every time) gives every model NaN."""
    from ..frd import frd

    def metric(ids: list[str]) -> dict[str, float]:
        reference = np.stack([real[c] for c in ids])
        try:
            return {m: frd(reference, np.stack([f[c] for c in ids])) for m, f in fakes.items()}
        except ValueError:
            return {m: float("nan") for m in fakes}

    return metric


def segmenter_scores(metrics: pd.DataFrame, diagonal_mm: Mapping[str, float]) -> pd.DataFrame:
    """Per case (``case_id``) the fixed segmenter's Dice and HD95 from a segmentation metrics
    table; an empty prediction has no HD95 and gets the worst, the case's crop diagonal."""
    by_case = metrics.set_index("case_id")
    out = by_case[list(SEGMENTER_METRICS)].astype(float)
    empty = out["hd95_mm"].isna() & (by_case["predicted_voxels"] == 0)
    out.loc[empty, "hd95_mm"] = [diagonal_mm[c] for c in out.index[empty]]
    return out
