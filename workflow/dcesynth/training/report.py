"""Training log, loss curves and a validation preview of the final generator, for the report."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..io import atomic_path, write_table  # noqa: E402
from ..models.pix2pixhd import LOSS_COLUMNS  # noqa: E402

log = logging.getLogger("dcesynth")


def training_log(paths: list[str | Path]) -> pd.DataFrame:
    """All per-epoch loss tables, in epoch order."""
    table = pd.concat([pd.read_csv(p, sep="\t") for p in paths], ignore_index=True)
    return table.sort_values(["epoch", "iteration"], kind="stable").reset_index(drop=True)


def plot_losses(table: pd.DataFrame, out_png: str | Path) -> None:
    """Per-epoch mean of every loss term (with the learning rate on a second axis): pix2pixHD's
    generator and discriminator terms, or a further family's loss and its named terms."""
    terms = [c for c in table.columns if c not in ("epoch", "iteration", "lr")]
    per_epoch = table.groupby("epoch")[[*terms, "lr"]].mean()
    gan = set(LOSS_COLUMNS) <= set(terms)
    panels = ((("G_GAN", "G_feat", "G_VGG"), "generator losses (weighted)"), (("D_real", "D_fake"), "discriminator losses"))
    if not gan:
        panels = (([t for t in terms if t != "loss"] or ["loss"], "loss terms"), (["loss"], "training loss"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (cols, title) in zip(axes, panels):
        for col in cols:
            ax.plot(per_epoch.index, per_epoch[col], marker="o", ms=3, label=col)
        ax.set_title(title)
    lr_ax = axes[1].twinx()
    lr_ax.plot(per_epoch.index, per_epoch["lr"], color="grey", ls="--", label="lr")
    lr_ax.set_ylabel("learning rate", color="grey")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def preview(
    generator_path: str | Path,
    files: dict[str, dict[str, str]],
    input_seq: str,
    targets: list[str],
    out_table: str | Path,
    out_png: str | Path,
    n_figure_pairs: int = 4,
    batch_size: int = 16,
    device: str = "auto",
    threads: int = 1,
) -> dict[str, float]:
    """MAE (0–255) of synthetic vs real and of pre vs real per validation case, and a figure."""
    import torch  # here, not above: the training log's job needs no torch

    from ..devices import resolve_device
    from ..models.infer import translate
    from .checkpoints import load_generator

    torch.set_num_threads(max(1, threads))
    G = load_generator(generator_path, device=resolve_device(device))
    rows, examples = [], []
    for case in sorted(files):
        pre = np.load(files[case][input_seq])
        syn = translate(G, pre, batch_size)
        for k, t in enumerate(targets):
            real = np.load(files[case][t]).astype(np.float32)
            fake = syn[:, k if len(targets) > 1 else 0].astype(np.float32)
            rows.append(
                {
                    "case_id": case,
                    "target": t,
                    "n_slices": len(pre),
                    "mae_synthetic_vs_real": float(np.abs(fake - real).mean()),
                    "mae_pre_vs_real": float(np.abs(pre.astype(np.float32) - real).mean()),
                }
            )
            if k == 0 and len(examples) < n_figure_pairs:
                i = int(np.argmax(np.abs(real - pre).sum((1, 2))))  # the slice that enhances most
                examples.append((case, i, pre[i], real[i], fake[i]))
    table = pd.DataFrame(rows)
    write_table(table, out_table)
    _plot_pairs(examples, out_png)
    return {
        "cases": int(table["case_id"].nunique()) if len(table) else 0,
        "mae_synthetic_vs_real": float(table["mae_synthetic_vs_real"].mean()) if len(table) else float("nan"),
        "mae_pre_vs_real": float(table["mae_pre_vs_real"].mean()) if len(table) else float("nan"),
    }


def _plot_pairs(examples, out_png) -> None:
    cols = ["pre", "real post", "synthetic post", "|synthetic − real|"]
    fig, axes = plt.subplots(max(1, len(examples)), 4, figsize=(8, 2.1 * max(1, len(examples))), squeeze=False)
    for r, (case, i, pre, real, fake) in enumerate(examples):
        for c, img in enumerate((pre, real, fake, np.abs(fake - real))):
            axes[r, c].imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(cols[c], fontsize=9)
        axes[r, 0].set_ylabel(f"{case}\nslice {i}", fontsize=8)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
