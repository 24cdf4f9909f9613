"""What the sources share: case ids, and case sheets (``data.cases``) whose file columns are checked
at once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ConfigError, problem_list

CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def sequences(post_phases: int) -> list[str]:
    """``pre``, ``post1``, …, ``post{post_phases}``."""
    return ["pre"] + [f"post{k}" for k in range(1, int(post_phases) + 1)]


def truthy(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "y", "t"}


def check_ids(ids: list[str], where: str) -> None:
    bad = [c for c in ids if not CASE_ID.match(c) or not c.isascii()]
    if bad:
        raise ConfigError(
            f"{where}: case ids must be ASCII letters, digits, '.', '_' or '-' (no spaces): {', '.join(map(repr, bad[:10]))}"
        )
    dup = sorted({c for c in ids if ids.count(c) > 1})
    if dup:
        raise ConfigError(f"{where}: duplicate case ids: {', '.join(dup[:10])}")


def sheet_files(df: pd.DataFrame, sheet: Path, required: list[str], optional: list[str]) -> None:
    """Resolve the file columns of a case sheet in place (absolute paths as given, relative ones
    against the sheet's own folder) and refuse every empty required cell and missing file at once."""
    problems = []
    for i, case in enumerate(df["case_id"]):
        for col in [*required, *optional]:
            value = df.at[i, col].strip()
            if value:
                value = str(Path(value) if Path(value).is_absolute() else sheet.parent / value)
                if not Path(value).is_file():
                    problems.append(f"case {case}: {col} file {value} does not exist")
            elif col in required:
                problems.append(f"case {case}: the '{col}' cell is empty")
            df.at[i, col] = value
    if problems:
        raise problem_list(f"data.cases ({sheet}; relative paths are read from the sheet's folder)", problems)


def read_sheet(config: dict[str, Any]) -> tuple[Path, pd.DataFrame]:
    sheet = Path(config["data"]["cases"])
    if not sheet.is_file():
        raise ConfigError(f"data.cases: case sheet {sheet} does not exist")
    df = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False)
    if "case_id" not in df.columns:
        raise ConfigError(f"data.cases: {sheet} has no 'case_id' column (a tab-separated sheet with a header row)")
    df["case_id"] = df["case_id"].str.strip()
    check_ids(df["case_id"].tolist(), f"case sheet {sheet}")
    if "multifocal" not in df.columns:
        df["multifocal"] = "false"
    df["multifocal"] = df["multifocal"].map(truthy)
    return sheet, df
