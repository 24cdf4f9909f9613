"""One generator per evaluated epoch scored on validation pairs, SAMe, and the chosen epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..io import write_table
from .same import HIGHER_IS_BETTER, same, same_rank
from .sampling import gather, largest, mean_sd, sample_slices


TABLE_COLUMNS = ["metric", "mean", "sd", "n", "provenance"]


def _rows(values: dict[str, np.ndarray], provenance: str = "analytic") -> list[dict]:
    return [{"metric": k, "mean": mean_sd(v)[0], "sd": mean_sd(v)[1], "n": int(len(v)), "provenance": provenance}
            for k, v in values.items()]  # fmt: skip


def evaluate_generator(
    generator_path: str | Path,
    files: dict[str, dict[str, str]],
    input_seq: str,
    target: str,
    cfg: dict[str, Any],
    out_table: str | Path,
    device: str = "auto",
    threads: int = 1,
    n_targets: int = 1,
    cache: str | Path | None = None,
) -> pd.DataFrame:
    """Metrics of one generator on a seeded sample of validation pairs (``metrics`` config).

    ``target`` is the first of the model's ``n_targets`` phases (a multi-phase model is scored
    on its first output channel). The real slices' features for FID and FRD are read from the
    feature cache under ``cache`` when an earlier epoch (or run) computed them
    (:mod:`.feature_cache`; none: computed here)."""
    import torch

    from .. import metrics as M
    from ..devices import resolve_device
    from ..synthesis import synthetic_stacks
    from ..training.checkpoints import load_generator
    from .features import distribution_distance, distribution_extractors

    torch.set_num_threads(max(1, int(threads)))
    dev = resolve_device(device)
    G = load_generator(generator_path, device=dev)
    n_pix, n_fid = cfg["n_pixel_pairs"], cfg["n_fid_pairs"]
    sample = sample_slices(files, input_seq, largest(n_pix, n_fid), int(cfg["seed"]), cfg.get("sample_order", "seeded"))
    pre = gather(files, input_seq, sample)
    real = gather(files, target, sample)
    fake = synthetic_stacks(G, pre, n_targets, int(cfg["batch_size"]), progress=True)[0]
    rows = _rows(M.pixel_metrics(real[:n_pix], fake[:n_pix], int(cfg["batch_size"]), cfg["normalize_per_image"]))
    authors = M.authors_metrics(fake[:n_pix], real[:n_pix], EPOCH_AUTHORS_METRICS, int(cfg["batch_size"]),
                                int(cfg.get("authors_size", M.AUTHORS_SIZE)))  # fmt: skip
    rows += _rows({f"{k}_authors": v for k, v in authors.items()})
    for name, extractor in distribution_extractors(cfg, dev, cache).items():
        value = distribution_distance(extractor, real[:n_fid], fake[:n_fid])
        rows.append({"metric": name, "mean": value, "sd": float("nan"), "n": min(len(real), n_fid or len(real)),
                     "provenance": extractor.provenance})  # fmt: skip
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    write_table(table, out_table)
    return table


# SAMe as the paper computed it: SSIM, MAE and MSE as the authors' code did (uint8 wrap-around,
# torchmetrics 1.2's SSIM; dcesynth.metrics.authors_metrics). Every epoch is scored on them (PSNR
# and MS-SSIM the authors' way only in Table 1), so same_metrics may name them.
EPOCH_AUTHORS_METRICS = ("mae", "mse", "ssim")
PAPER_SAME_METRICS = ["ssim_authors", "mse_authors", "mae_authors", "fid_imagenet", "fid_radimagenet"]


def epoch_table(paths: dict[int, str | Path], cohort: str = "") -> pd.DataFrame:
    """One row per evaluated epoch: one column per metric mean, then the feature network behind
    each distribution metric (``<metric>_provenance``, from the per-epoch tables) and the cohort."""
    rows = []
    for epoch, p in sorted(paths.items()):
        t = pd.read_csv(p, sep="\t", keep_default_na=False, na_values=[""])
        t = t.rename(columns={"source": "provenance"})  # a table of a tree made before the column's rename
        row: dict[str, Any] = {"epoch": int(epoch), **dict(zip(t["metric"], t["mean"].astype(float)))}
        networks = t[t["provenance"] != "analytic"]
        row |= {f"{m}_provenance": v for m, v in zip(networks["metric"], networks["provenance"])}
        rows.append(row)
    table = pd.DataFrame(rows)
    provenance = [c for c in table.columns if c.endswith("_provenance")]
    table = table[[c for c in table.columns if c not in provenance] + provenance]
    table["cohort"] = cohort
    return table


def score_epochs(epoch_tables: dict[int, str | Path], same_metrics: list[str], cohort: str = "") -> pd.DataFrame:
    """The epoch table with SAMe, its rank variant and ``same_paper`` (SAMe over the paper's five
    metrics with the authors' SSIM/MAE/MSE, :data:`PAPER_SAME_METRICS`, when all were computed)."""
    table = epoch_table(epoch_tables, cohort)
    missing = [m for m in same_metrics if m not in table.columns]
    if missing:
        raise ConfigError(f"metrics.same_metrics: {missing} were not computed (is the feature extractor off?)")
    hib = HIGHER_IS_BETTER & set(same_metrics)
    scores = {"same": same(table, same_metrics, hib), "same_rank": same_rank(table, same_metrics, hib)}
    if all(m in table.columns for m in PAPER_SAME_METRICS):
        scores["same_paper"] = same(table, PAPER_SAME_METRICS, HIGHER_IS_BETTER & set(PAPER_SAME_METRICS))
    at = table.columns.get_loc("epoch") + 1
    for i, (name, values) in enumerate(scores.items()):
        table.insert(at + i, name, values.to_numpy())
    return table


def best_epoch(table: pd.DataFrame, score: str) -> int:
    """The epoch with the lowest ``score`` (a SAMe variant) in a :func:`score_epochs` table."""
    return int(table.loc[table[score].idxmin(), "epoch"])


def select_best_epoch(epoch_tables: dict[int, str | Path], same_metrics: list[str], criterion: str) -> dict[str, Any]:
    """The epoch with the lowest SAMe (``criterion``) over the evaluated epochs, as the record
    ``best_epoch.json`` holds: its SAMe values, and which epoch each SAMe variant would choose."""
    table = score_epochs(epoch_tables, same_metrics)
    best = best_epoch(table, criterion)
    row = table.loc[table["epoch"] == best].iloc[0]
    scores = [c for c in ("same", "same_rank", "same_paper") if c in table]
    return {"epoch": best, "criterion": criterion, "metrics": same_metrics, "same": float(row["same"]),
            "same_rank": float(row["same_rank"]), "epoch_by": {c: best_epoch(table, c) for c in scores},
            "paper_same_metrics": PAPER_SAME_METRICS if "same_paper" in table else None}  # fmt: skip
