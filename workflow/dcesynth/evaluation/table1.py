"""The paper's Table 1 (and its extensions) on the validation and test pairs, and the published table."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import metrics as M
from ..devices import resolve_device
from .feature_cache import PairValues
from .features import distribution_distance, distribution_extractors, lpips_network
from .sampling import gather, largest, mean_sd, sample_slices


def _metrics_code() -> str:
    """A digest of the code the per-pair values come from (metrics and LPIPS): a new version of it
    is another cache entry."""
    from . import features

    return hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in (M, features))).hexdigest()[:16]


def _pair_values(real, fake, cfg, lpips_net, size) -> dict:
    """Per-pair pixel metrics, the authors' (their metrics.py under torchmetrics 1.2, beside the
    paper's values) and LPIPS."""
    vals = M.pixel_metrics(real, fake, int(cfg["batch_size"]), cfg["normalize_per_image"])
    authors = M.authors_metrics(fake, real, batch_size=int(cfg["batch_size"]), size=size)
    vals |= {f"{k}_authors": v for k, v in authors.items()}
    if lpips_net is not None:
        vals["lpips"] = lpips_net(real, fake, int(cfg["batch_size"]), cfg["normalize_per_image"])
        vals["lpips_authors"] = lpips_net.authors(fake, real, int(cfg["batch_size"]), size)
    return vals


def _pair_row(comparison, dataset, real, fake, cfg, extractors, pixel=True, lpips_net=None, n_fid=None,
              fake_is_real=False, pair_cache=None) -> dict:  # fmt: skip
    """One Table 1 row: pixel metrics (and LPIPS) on the first ``n_pixel_pairs`` pairs (``n_pairs``),
    distribution metrics on the first ``n_fid`` (default ``n_fid_pairs``; ``<metric>_n``) of the
    (seeded, shuffled) sample. ``fake_is_real``: the second set is real slices too (their
    features cached as the first's, and the per-pair values in ``pair_cache``)."""
    n_pix = min(cfg["n_pixel_pairs"] or len(real), len(real))
    row: dict[str, Any] = {"comparison": comparison, "dataset": dataset, "n_pairs": int(n_pix if pixel else 0)}
    if pixel and len(real):
        size = int(cfg.get("authors_size", M.AUTHORS_SIZE))
        a, b = real[:n_pix], fake[:n_pix]
        compute = lambda: _pair_values(a, b, cfg, lpips_net, size)  # noqa: E731
        vals = pair_cache.values(a, b, compute) if fake_is_real and pair_cache is not None else compute()
        row["authors_size"] = size
        if lpips_net is not None:
            row["lpips_provenance"] = lpips_net.provenance
        for k, v in vals.items():
            row[k], row[f"{k}_sd"] = mean_sd(v)
    for name, extractor in extractors.items():
        if len(real) > 1:
            n = (n_fid if n_fid is not None else cfg["n_fid_pairs"]) or len(real)
            row[name] = distribution_distance(extractor, real[:n], fake[:n], fake_is_real)
            row[f"{name}_n"] = min(n, len(real))
            row[f"{name}_provenance"] = extractor.provenance
    return row


def quality_table(
    files: dict[str, dict[str, dict[str, str]]],
    synthetic: dict[str, str],
    input_seq: str,
    target: str,
    label: str,
    cfg: dict[str, Any],
    device: str = "auto",
    provenance: dict[str, Any] | None = None,
    cache: str | Path | None = None,
) -> pd.DataFrame:
    """The rows of the paper's Table 1 (and its PSNR/MS-SSIM extension) for each split in
    ``files`` ({split: {case: {seq: path}}}): real post vs synthetic post, real post vs real pre,
    real vs synthetic subtraction (slice-based, as the paper), and on the test split the
    'split test' rows (two disjoint halves of the patients; FID only). ``provenance`` (the cohort,
    the GAN epoch and its VGG weights) is written as columns of every row. Each slice's features
    are computed once (the real ones enter several rows), the real slices' read from the feature
    cache under ``cache`` when another job computed them (:mod:`.feature_cache`)."""
    extractors = distribution_extractors(cfg, resolve_device(device), cache)
    lpips_net = lpips_network(cfg.get("lpips"))
    if lpips_net is not None:
        lpips_net = lpips_net.to(resolve_device(device))
    # the real-against-real rows' per-pair values, the same in every run's table: computed once
    settings = {k: cfg.get(k) for k in ("batch_size", "normalize_per_image", "authors_size")}
    settings["lpips"] = getattr(lpips_net, "provenance", None)
    settings["code"] = _metrics_code()
    pair_cache = None if cache is None else PairValues(cache, repr(sorted(settings.items())), resolve_device(device))
    rows, sample_order = [], cfg.get("sample_order", "seeded")
    for split, by_case in files.items():
        # the paper: 3000 FID pairs on validation, 2000 on test
        n_fid = cfg["n_fid_pairs_test"] if split == "test" else cfg["n_fid_pairs"]
        pair = dict(extractors=extractors, lpips_net=lpips_net, n_fid=n_fid, pair_cache=pair_cache)
        # only the sample's first max(pixel, FID) pairs are scored: gather no more (Duke: ~38k slices)
        sample = sample_slices(by_case, input_seq, largest(cfg["n_pixel_pairs"], n_fid), int(cfg["seed"]), sample_order)
        pre, real = gather(by_case, input_seq, sample), gather(by_case, target, sample)
        syn_files = {c: {"syn": synthetic[c]} for c in by_case}
        fake = gather(syn_files, "syn", sample)
        rows.append(_pair_row(f"real_post_vs_syn_post_{label}", split, real, fake, cfg, **pair))
        rows.append(_pair_row("real_post_vs_real_pre", split, real, pre, cfg, **pair, fake_is_real=True))
        sub = lambda a: np.clip(a.astype(np.int16) - pre.astype(np.int16), 0, 255).astype(np.uint8)  # noqa: E731
        rows.append(_pair_row(f"real_subt_vs_syn_subt_{label}", split, sub(real), sub(fake), cfg, **pair))
        if split == "test" and len(by_case) >= 2:
            cases = sorted(by_case)
            order = np.random.default_rng(int(cfg["seed"])).permutation(len(cases))
            half_a = {cases[i]: by_case[cases[i]] for i in order[: len(cases) // 2]}
            half_b = {cases[i]: by_case[cases[i]] for i in order[len(cases) // 2 :]}
            sa = sample_slices(half_a, target, n_fid, int(cfg["seed"]), sample_order)
            sb = sample_slices(half_b, target, n_fid, int(cfg["seed"]), sample_order)
            real_a = gather(half_a, target, sa)
            fake_b = gather({c: {"syn": synthetic[c]} for c in half_b}, "syn", sb)
            real_b = gather(half_b, target, sb)
            n = min(len(real_a), len(real_b))
            rows.append(_pair_row(f"real_post_vs_syn_post_{label}", "split_test", real_a[:n], fake_b[:n], cfg, extractors,
                                  pixel=False, n_fid=n_fid))  # fmt: skip
            rows.append(_pair_row("real_post_vs_real_post", "split_test", real_a[:n], real_b[:n], cfg, extractors,
                                  pixel=False, n_fid=n_fid, fake_is_real=True))  # fmt: skip
    return pd.DataFrame(rows).assign(**(provenance or {}))


# The published rows of the synthetic images are those of the epoch the authors chose.
PAPER_EPOCH_LABEL = "ep30"


def beside_paper(table: pd.DataFrame, paper: pd.DataFrame, label: str) -> pd.DataFrame:
    """``table`` with the published value of each of its rows beside ours: ``paper_<column>`` for
    every column of the published tables (named as the columns that compute them the authors'
    way), from the row of the same comparison and dataset (the synthetic rows from the authors'
    chosen epoch, :data:`PAPER_EPOCH_LABEL`); empty where the paper has no such row."""
    values = [c for c in paper.columns if c not in ("comparison", "dataset")]
    published = paper.set_index(["comparison", "dataset"])[values].add_prefix("paper_")
    suffix = f"_{label}"
    keys = [(c[: -len(suffix)] + f"_{PAPER_EPOCH_LABEL}" if c.endswith(suffix) else c, d)
            for c, d in zip(table["comparison"], table["dataset"])]  # fmt: skip
    beside = published.reindex(pd.MultiIndex.from_tuples(keys, names=["comparison", "dataset"]))
    return pd.concat([table.reset_index(drop=True), beside.reset_index(drop=True)], axis=1)


def read_paper_table(path: str | Path) -> pd.DataFrame:
    """A published table shipped in resources/ (some rows carry extra trailing tabs; lines starting
    with ``#`` are notes)."""
    lines = [ln.rstrip("\n").split("\t") for ln in Path(path).read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]  # fmt: skip
    header = lines[0]
    rows = [(r + [""] * len(header))[: len(header)] for r in lines[1:]]
    df = pd.DataFrame(rows, columns=header).replace("", np.nan)
    for c in header[2:]:
        df[c] = pd.to_numeric(df[c])
    return df

