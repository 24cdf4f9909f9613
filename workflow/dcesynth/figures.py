"""Figures for the report (matplotlib, Agg backend, written atomically as PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import SimpleITK as sitk  # noqa: E402
from scipy import ndimage  # noqa: E402

from .io import atomic_path  # noqa: E402


VIEWS = ("axial", "sagittal", "coronal")


def view(arr: np.ndarray, spacing_zyx, centre, name: str) -> tuple[np.ndarray, float]:
    """One plane through ``centre`` of a (z, y, x) LPS array, with its display aspect.

    Axial: anterior at the top, patient right on the left (radiological). Sagittal and coronal:
    superior at the top.
    """
    z, y, x = centre
    if name == "axial":
        return arr[z], spacing_zyx[1] / spacing_zyx[2]
    if name == "sagittal":
        return arr[::-1, :, x], spacing_zyx[0] / spacing_zyx[1]
    if name == "coronal":
        return arr[::-1, y, :], spacing_zyx[0] / spacing_zyx[2]
    raise ValueError(name)


def mask_centre(mask: np.ndarray | None, shape) -> tuple[int, int, int]:
    if mask is not None and mask.any():
        return tuple(int(round(c)) for c in ndimage.center_of_mass(mask > 0))
    return tuple(s // 2 for s in shape)


def plot_cohort(cases: dict[str, dict[str, str]], out_png: str | Path) -> None:
    """Pre, every post phase, the phase-1 subtraction and the mask, axial and sagittal, per case.

    ``cases`` maps a case id to {seq: NIfTI path, ..., 'mask': path or ''}. Each row shares one
    intensity window (the 99.5th percentile of its post-contrast phase 1).
    """
    n_rows = 2 * len(cases)
    first = next(iter(cases.values()))
    seqs = [k for k in first if k != "mask"]
    cols = seqs + ["subtraction (post1 − pre)", "mask"]
    fig, axes = plt.subplots(n_rows, len(cols), figsize=(2.1 * len(cols), 2.0 * n_rows), squeeze=False)
    for r, (case, paths) in enumerate(cases.items()):
        imgs = {s: sitk.ReadImage(paths[s]) for s in seqs}
        arrs = {s: sitk.GetArrayFromImage(im).astype(np.float32) for s, im in imgs.items()}
        spacing = imgs["pre"].GetSpacing()[::-1]
        mask = sitk.GetArrayFromImage(sitk.ReadImage(paths["mask"])) if paths.get("mask") else None
        centre = mask_centre(mask, arrs["pre"].shape)
        vmax = float(np.percentile(arrs["post1"], 99.5))
        panels = {s: arrs[s] for s in seqs}
        panels[cols[-2]] = np.clip(arrs["post1"] - arrs["pre"], 0, None)
        panels["mask"] = mask if mask is not None else np.zeros_like(arrs["pre"])
        for c, name in enumerate(cols):
            for v, plane in enumerate(("axial", "sagittal")):
                img, aspect = view(panels[name], spacing, centre, plane)
                ax = axes[2 * r + v, c]
                _panel(ax, img, aspect, 1 if name == "mask" else vmax, name if r == 0 and v == 0 else None)
                if c == 0:
                    ax.set_ylabel(f"{case}\n{plane}", fontsize=7)
        if mask is None:
            axes[2 * r, len(cols) - 1].text(0.5, 0.5, "no mask", ha="center", va="center", color="w",
                                           transform=axes[2 * r, len(cols) - 1].transAxes)
    fig.tight_layout()
    _save(fig, out_png)


SYNTHESIS_COLUMNS = ("pre", "real post", "synthetic post", "real subtraction", "synthetic subtraction", "mask")


def _load(paths: dict[str, "str | sitk.Image"]) -> tuple[dict[str, np.ndarray], tuple[float, float, float]]:
    """Arrays and (z, y, x) spacing from NIfTI paths or SimpleITK images ('' = absent)."""
    imgs = {k: v if isinstance(v, sitk.Image) else sitk.ReadImage(str(v)) for k, v in paths.items() if v is not None and v != ""}
    arrs = {k: sitk.GetArrayFromImage(im).astype(np.float32) for k, im in imgs.items()}
    return arrs, imgs["pre"].GetSpacing()[::-1]


def display_windows(arrs: dict[str, np.ndarray]) -> dict[str, float]:
    """One window for the anatomical images and one for both subtractions (per case; the figures
    and the viewer): the upper bound of each, by panel name."""
    anat = max(float(np.percentile(arrs["real post"], 99.5)), float(np.percentile(arrs["pre"], 99.5))) or 1.0
    # both subtractions share one window; a floor keeps a near-empty subtraction from showing noise
    sub = max(float(np.percentile(arrs["real subtraction"], 99.9)),
              float(np.percentile(arrs["synthetic subtraction"], 99.9)), 0.2 * anat)  # fmt: skip
    return {"pre": anat, "real post": anat, "synthetic post": anat,
            "real subtraction": sub, "synthetic subtraction": sub, "mask": 1.0}  # fmt: skip


def plot_synthesis_grid(cases: dict[str, dict[str, str]], out_png: str | Path, views=VIEWS) -> None:
    """The paper's Fig. 3: per case and view, pre, real and synthetic post, both subtractions, mask.

    ``cases[case]`` maps the names of SYNTHESIS_COLUMNS to NIfTI paths (mask may be empty). The
    views cut through the tumour's centre of mass; synthetic sagittal and coronal views come
    from the 3D volume assembled from axial slices.
    """
    rows = [(c, v) for c in cases for v in views]
    fig, axes = plt.subplots(len(rows), 6, figsize=(12, 2.1 * len(rows)), squeeze=False)
    for case in cases:
        arrs, spacing = _load(cases[case])
        mask = arrs.get("mask")
        centre = mask_centre(mask, arrs["pre"].shape)
        win = display_windows(arrs)
        for v in views:
            r = rows.index((case, v))
            for c, name in enumerate(SYNTHESIS_COLUMNS):
                img, aspect = view(arrs.get(name, np.zeros_like(arrs["pre"])), spacing, centre, v)
                _panel(axes[r, c], img, aspect, win[name], name if r == 0 else None)
            axes[r, 0].set_ylabel(f"{case}\n{v}", fontsize=7)
    fig.tight_layout()
    _save(fig, out_png)


def plot_tumour_crops(cases: dict[str, dict[str, str]], out_png: str | Path, margin_mm: float = 15.0) -> None:
    """The paper's Fig. 5: the tumour region cropped in three planes, mask outline overlaid."""
    rows = [(c, v) for c in cases for v in VIEWS]
    cols = SYNTHESIS_COLUMNS[:-1]
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(10, 2.0 * len(rows)), squeeze=False)
    for case in cases:
        arrs, spacing = _load(cases[case])
        mask = arrs.get("mask")
        centre = mask_centre(mask, arrs["pre"].shape)
        if mask is not None and mask.any():
            idx = np.argwhere(mask > 0)
            pad = [int(np.ceil(margin_mm / s)) for s in spacing]
            lo = np.maximum(idx.min(0) - pad, 0)
            hi = np.minimum(idx.max(0) + pad + 1, mask.shape)
        else:
            lo, hi = np.zeros(3, int), np.array(arrs["pre"].shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        local = tuple(int(c - a) for c, a in zip(centre, lo))
        win = display_windows({k: a[box] for k, a in arrs.items()})
        for v in VIEWS:
            r = rows.index((case, v))
            outline, _ = view(mask[box], spacing, local, v) if mask is not None else (None, 1)
            for c, name in enumerate(cols):
                img, aspect = view(arrs[name][box], spacing, local, v)
                _panel(axes[r, c], img, aspect, win[name], name if r == 0 else None, outline)
            axes[r, 0].set_ylabel(f"{case}\n{v}", fontsize=7)
    fig.tight_layout()
    _save(fig, out_png)


def _panel(ax, img, aspect, vmax, title=None, outline=None, vmin=0) -> None:
    """One grey image panel without ticks, optionally titled and with a mask outline."""
    ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, aspect=aspect, interpolation="nearest")
    if outline is not None and outline.any():
        ax.contour(outline, levels=[0.5], colors="tab:red", linewidths=0.6)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def _save(fig, out_png) -> None:
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def plot_model_slices(cases: dict[str, dict], aspect: dict[str, float], out_png: str | Path, max_cases: int = 6,
                      vrange: tuple[float, float] = (0, 255)) -> None:
    """The same slice through every model: per case (a row; at most ``max_cases``) the real
    post-contrast slice, then each model's (``cases[case]['panels']``, name -> 2D array shown
    with grey levels over ``vrange``), with the tumour outline (``cases[case]['mask']``)."""
    shown = list(cases)[:max_cases]
    names = list(cases[shown[0]]["panels"]) if shown else []
    fig, axes = plt.subplots(max(1, len(shown)), max(1, len(names)), figsize=(2.0 * max(1, len(names)), 2.1 * max(1, len(shown))),
                             squeeze=False)  # fmt: skip
    for r, case in enumerate(shown):
        for c, name in enumerate(names):
            _panel(axes[r, c], cases[case]["panels"][name], aspect[case], vrange[1], name if r == 0 else None,
                   outline=cases[case]["mask"], vmin=vrange[0])  # fmt: skip
        axes[r, 0].set_ylabel(f"{case}\nslice {cases[case]['slice']}", fontsize=7)
    fig.tight_layout()
    _save(fig, out_png)


def plot_segmentation(table, out_png: str | Path) -> None:
    """Dice per experiment row (Tables 2 and 3): this run's fold ensemble beside the paper's value."""
    labels = [f"{r.experiment}: {r.train_on}\n→ {r.test_on}" for r in table.itertuples()]
    y = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(table) + 1.4))
    ax.barh(y - 0.2, table["dice"], height=0.4, color="tab:blue", label=f"this run ({table['cohort'].iloc[0]})",
            xerr=table["dice_sd"].fillna(0), error_kw={"elinewidth": 0.8})
    ax.barh(y + 0.2, table["paper_dice"], height=0.4, color="tab:grey", label="paper (Duke)")
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("Dice (mean over test cases; bars: sd)")
    ax.legend(loc="lower right", fontsize=7)
    ax.set_title("Tumour segmentation: nnU-Net fold ensemble per training set and test domain", fontsize=9)
    fig.tight_layout()
    _save(fig, out_png)


def plot_epochs(table: pd.DataFrame, same_metrics: list[str], best: int, out_png: str | Path) -> None:
    """The paper's Fig. 4: every metric and SAMe per epoch, the chosen epoch marked."""
    cols = [c for c in table.columns if c != "epoch" and pd.api.types.is_numeric_dtype(table[c])]
    ncols = min(6, len(cols))
    nrows = -(-len(cols) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.5 * nrows), squeeze=False)
    for ax in axes.flat[len(cols) :]:
        ax.set_visible(False)
    for ax, c in zip(axes.flat, cols):
        ax.plot(table["epoch"], table[c], marker="o", ms=3, color="tab:red" if c.startswith("same") else "tab:blue")
        ax.axvline(best, color="grey", ls="--", lw=1)
        ax.set_title(c + (" (in SAMe)" if c in same_metrics else ""), fontsize=8)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"validation metrics per epoch; chosen epoch {best} (lowest SAMe)", fontsize=9)
    fig.tight_layout()
    _save(fig, out_png)
