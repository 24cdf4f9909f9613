"""Synthetic against real post-contrast inside each tumour's region (the pre-contrast as baseline)."""

from __future__ import annotations

import numpy as np
import pandas as pd


TUMOUR_REGION_COLUMNS = ["case_id", "split", "region", "voxels", "mae_synthetic", "mae_pre", "mse_synthetic", "mse_pre",
                         "cohort"]  # fmt: skip


def tumour_region_table(
    cases: dict[str, dict[str, str]], margin_mm: float, split_of: dict[str, str], cohort: str = ""
) -> pd.DataFrame:
    """Per annotated case (``cases``: the files ``mask``, ``transform``, and the slice stacks ``pre``,
    ``real`` and ``synthetic``): MAE/MSE of synthetic and of pre-contrast against real post-contrast
    inside the tumour mask dilated by ``margin_mm`` and inside the mask's bounding box, on the
    0–255 model scale (volumes restored from the slice stacks)."""
    import SimpleITK as sitk
    from scipy import ndimage

    from ..synthesis import read_transform, stack_to_volume

    rows = []
    for case, p in sorted(cases.items()):
        mask_img = sitk.ReadImage(p["mask"])
        t = read_transform(p["transform"])
        vol = {k: sitk.GetArrayFromImage(stack_to_volume(np.load(p[k]), t, mask_img)) for k in ("pre", "real", "synthetic")}
        mask = sitk.GetArrayFromImage(mask_img) > 0
        spacing = mask_img.GetSpacing()[::-1]
        dilated = ndimage.distance_transform_edt(~mask, sampling=spacing) <= margin_mm
        idx = np.argwhere(mask)
        box = np.zeros_like(mask)
        box[tuple(slice(a, b + 1) for a, b in zip(idx.min(0), idx.max(0)))] = True
        for region, sel in (("mask_dilated", dilated), ("bounding_box", box)):
            real = vol["real"][sel]
            rows.append({
                "case_id": case, "split": split_of.get(case, ""), "region": region, "voxels": int(sel.sum()),
                "mae_synthetic": float(np.abs(vol["synthetic"][sel] - real).mean()),
                "mae_pre": float(np.abs(vol["pre"][sel] - real).mean()),
                "mse_synthetic": float(((vol["synthetic"][sel] - real) ** 2).mean()),
                "mse_pre": float(((vol["pre"][sel] - real) ** 2).mean()),
                "cohort": cohort,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=TUMOUR_REGION_COLUMNS)

