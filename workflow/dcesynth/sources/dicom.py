"""Source ``dicom``: a TCIA-style tree, one folder per case under ``data.root`` (every folder, or the
cases of a sheet ``data.cases``, which may name masks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ConfigError
from .sheets import check_ids, read_sheet, sheet_files


def dicom_cases(config: dict[str, Any]) -> pd.DataFrame:
    data = config["data"]
    root = Path(data["root"])
    if data.get("cases"):
        sheet, df = read_sheet(config)
        df["case_dir"] = [str(root / c) for c in df["case_id"]]
        missing = [c for c, d in zip(df["case_id"], df["case_dir"]) if not Path(d).is_dir()]
        if missing:
            raise ConfigError(
                f"data.cases: {len(missing)} case(s) of {sheet} have no folder under data.root={root}: "
                + ", ".join(missing[:10])
            )
        if "mask" not in df.columns:
            df["mask"] = ""
        sheet_files(df, sheet, required=[], optional=["mask"])
        return df
    if not root.is_dir():
        raise ConfigError(f"data.root: {root} is not a folder (set it to the DICOM tree's root)")
    ids = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not ids:
        raise ConfigError(f"data.root: {root} holds no case folders")
    check_ids(ids, f"data.root {root}")
    return pd.DataFrame({"case_id": ids, "case_dir": [str(root / c) for c in ids], "mask": "", "multifocal": False})
