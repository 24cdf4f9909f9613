"""Source ``nifti``: a case sheet (``data.cases``) naming one NIfTI file per sequence (and a mask)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import ConfigError
from .sheets import read_sheet, sequences, sheet_files


def nifti_cases(config: dict[str, Any]) -> pd.DataFrame:
    """Every file of the sheet checked at once, paths relative to the sheet."""
    if not config["data"].get("cases"):
        raise ConfigError("data.cases: the 'nifti' source needs a case sheet (columns case_id, pre, post1, ...)")
    sheet, df = read_sheet(config)
    seqs = sequences(config["data"]["post_phases"])
    missing_cols = [c for c in seqs if c not in df.columns]
    if missing_cols:
        raise ConfigError(
            f"data.cases: {sheet} has no column(s) {', '.join(missing_cols)}; the nifti source needs "
            f"case_id, {', '.join(seqs)} (data.post_phases = {config['data']['post_phases']})"
        )
    if "mask" not in df.columns:
        df["mask"] = ""
    sheet_files(df, sheet, required=seqs, optional=["mask"])
    df["case_dir"] = ""
    return df
