"""The case sheet: which cases exist, where their inputs are, which have tumour masks.

Built once when the workflow is parsed, from the config alone (and a directory listing or a
sheet for real data), so the DAG is known up front and grows linearly in cases.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from . import phantom
from .errors import ConfigError

CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
COLUMNS = ["case_id", "case_dir", "mask", "has_mask", "multifocal"]


def sequences(post_phases: int) -> list[str]:
    """``pre``, ``post1``, …, ``post{post_phases}``."""
    return ["pre"] + [f"post{k}" for k in range(1, int(post_phases) + 1)]


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "y", "t"}


def _check_ids(ids: list[str], where: str) -> None:
    bad = [c for c in ids if not CASE_ID.match(c) or not c.isascii()]
    if bad:
        raise ConfigError(
            f"{where}: case ids must be ASCII letters, digits, '.', '_' or '-' (no spaces): {', '.join(map(repr, bad[:10]))}"
        )
    dup = sorted({c for c in ids if ids.count(c) > 1})
    if dup:
        raise ConfigError(f"{where}: duplicate case ids: {', '.join(dup[:10])}")


def case_table(config: dict[str, Any]) -> pd.DataFrame:
    """One row per case, indexed by ``case_id``; columns COLUMNS plus one per sequence (NIfTI)."""
    data = config["data"]
    source = data["source"]
    pattern = data.get("mask_pattern")
    if source == "phantom":
        specs = phantom.plan_cohort(config["phantom"])
        rows = [
            {
                "case_id": s.case_id,
                "case_dir": str(Path(data["root"]) / s.case_id),
                "mask": pattern.format(case=s.case_id) if (pattern and s.has_mask) else "",
                "multifocal": s.multifocal,
            }
            for s in specs
        ]
        df = pd.DataFrame(rows)
    elif data.get("cases"):
        sheet = Path(data["cases"])
        if not sheet.is_file():
            raise ConfigError(f"data.cases: case sheet {sheet} does not exist")
        df = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False)
        if "case_id" not in df.columns:
            raise ConfigError(f"data.cases: {sheet} has no 'case_id' column")
        df["case_id"] = df["case_id"].str.strip()
        _check_ids(df["case_id"].tolist(), f"case sheet {sheet}")
        if source == "dicom":
            root = Path(data["root"])
            df["case_dir"] = [str(root / c) for c in df["case_id"]]
            missing = [c for c, d in zip(df["case_id"], df["case_dir"]) if not Path(d).is_dir()]
            if missing:
                raise ConfigError(
                    f"data.cases: {len(missing)} case(s) of {sheet} have no folder under data.root={root}: "
                    + ", ".join(missing[:10])
                )
        else:
            df["case_dir"] = ""
            missing_cols = [c for c in sequences(data["post_phases"]) if c not in df.columns]
            if missing_cols:
                raise ConfigError(f"data.cases: the nifti source needs columns {missing_cols} in {sheet}")
        if "mask" not in df.columns:
            df["mask"] = ""
        if "multifocal" not in df.columns:
            df["multifocal"] = "false"
        df["multifocal"] = df["multifocal"].map(_truthy)
    elif source == "dicom":
        root = Path(data["root"])
        if not root.is_dir():
            raise ConfigError(f"data.root: {root} is not a folder (set it to the DICOM tree's root)")
        ids = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not ids:
            raise ConfigError(f"data.root: {root} holds no case folders")
        _check_ids(ids, f"data.root {root}")
        df = pd.DataFrame({"case_id": ids, "case_dir": [str(root / c) for c in ids], "mask": "", "multifocal": False})
    else:
        raise ConfigError("data.cases: the 'nifti' source needs a case sheet (columns case_id, pre, post1, ...)")

    if source != "phantom" and pattern:
        # A pattern fills in masks the sheet does not name; for real data, only where a file exists.
        for i, case in enumerate(df["case_id"]):
            if not df.at[i, "mask"]:
                candidate = Path(pattern.format(case=case))
                if candidate.is_file():
                    df.at[i, "mask"] = str(candidate)
    df["has_mask"] = df["mask"].astype(bool)
    _check_ids(df["case_id"].tolist(), "cases")
    return df.set_index("case_id", drop=False)
