"""Figures for the report (matplotlib, Agg backend, written atomically as PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402
from scipy import ndimage  # noqa: E402

from .io import atomic_path  # noqa: E402


def _views(arr: np.ndarray, spacing_zyx: tuple[float, float, float], centre: tuple[int, int, int]):
    """Axial (row = anterior→posterior) and sagittal (superior on top) views, with aspect."""
    z, y, x = centre
    axial = arr[z]
    sagittal = arr[::-1, :, x]  # (z flipped so superior is up, y)
    return [(axial, spacing_zyx[1] / spacing_zyx[2]), (sagittal, spacing_zyx[0] / spacing_zyx[1])]


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
        if mask is not None and mask.any():
            centre = tuple(int(round(c)) for c in ndimage.center_of_mass(mask > 0))
        else:
            centre = tuple(s // 2 for s in arrs["pre"].shape)
        vmax = float(np.percentile(arrs["post1"], 99.5))
        panels = {s: arrs[s] for s in seqs}
        panels[cols[-2]] = np.clip(arrs["post1"] - arrs["pre"], 0, None)
        panels["mask"] = mask if mask is not None else np.zeros_like(arrs["pre"])
        for c, name in enumerate(cols):
            for v, (view, aspect) in enumerate(_views(panels[name], spacing, centre)):
                ax = axes[2 * r + v, c]
                kw = {"vmin": 0, "vmax": 1} if name == "mask" else {"vmin": 0, "vmax": vmax}
                ax.imshow(view, cmap="gray", aspect=aspect, interpolation="nearest", **kw)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0 and v == 0:
                    ax.set_title(name, fontsize=8)
                if c == 0:
                    ax.set_ylabel(f"{case}\n{'axial' if v == 0 else 'sagittal'}", fontsize=7)
        if mask is None:
            axes[2 * r, len(cols) - 1].text(0.5, 0.5, "no mask", ha="center", va="center", color="w",
                                           transform=axes[2 * r, len(cols) - 1].transAxes)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
