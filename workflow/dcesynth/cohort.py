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
from .errors import ConfigError, problem_list

CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
COLUMNS = ["case_id", "case_dir", "mask", "has_mask", "multifocal"]


def sequences(post_phases: int) -> list[str]:
    """``pre``, ``post1``, …, ``post{post_phases}``."""
    return ["pre"] + [f"post{k}" for k in range(1, int(post_phases) + 1)]


def phase_counts(cases: pd.DataFrame) -> str:
    """How many post-contrast phases the cases have, e.g. ``2: 3 cases, 4: 1 case``."""
    counts = cases["post_available"].astype(int).value_counts().sort_index()
    return ", ".join(f"{k}: {n} case{'s' if n > 1 else ''}" for k, n in counts.items())


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


# Sources whose volumes are files named per case (the case table has one column per sequence).
FILE_SOURCES = ("nifti", "mama_mia")
# A MAMA-MIA image: {case}_{k:04d}.nii.gz, k = 0 pre-contrast, 1... the post-contrast phases.
_MAMA_MIA_IMAGE = re.compile(r"^(?P<case>.+)_(?P<phase>\d{4})\.nii(?:\.gz)?$", re.IGNORECASE)
def _sheet_files(df: pd.DataFrame, sheet: Path, required: list[str], optional: list[str]) -> None:
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


def _read_sheet(config: dict[str, Any]) -> tuple[Path, pd.DataFrame]:
    sheet = Path(config["data"]["cases"])
    if not sheet.is_file():
        raise ConfigError(f"data.cases: case sheet {sheet} does not exist")
    df = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False)
    if "case_id" not in df.columns:
        raise ConfigError(f"data.cases: {sheet} has no 'case_id' column (a tab-separated sheet with a header row)")
    df["case_id"] = df["case_id"].str.strip()
    _check_ids(df["case_id"].tolist(), f"case sheet {sheet}")
    if "multifocal" not in df.columns:
        df["multifocal"] = "false"
    df["multifocal"] = df["multifocal"].map(_truthy)
    return sheet, df


def _nifti_sheet(config: dict[str, Any]) -> pd.DataFrame:
    """The ``nifti`` source: every file of the sheet checked at once, paths relative to the sheet."""
    sheet, df = _read_sheet(config)
    seqs = sequences(config["data"]["post_phases"])
    missing_cols = [c for c in seqs if c not in df.columns]
    if missing_cols:
        raise ConfigError(
            f"data.cases: {sheet} has no column(s) {', '.join(missing_cols)}; the nifti source needs "
            f"case_id, {', '.join(seqs)} (data.post_phases = {config['data']['post_phases']})"
        )
    if "mask" not in df.columns:
        df["mask"] = ""
    _sheet_files(df, sheet, required=seqs, optional=["mask"])
    df["case_dir"] = ""
    return df


def _mama_mia(config: dict[str, Any]) -> pd.DataFrame:
    """The published MAMA-MIA layout under ``data.root``.

    ``images/{CASE}/{case}_{k:04d}.nii.gz`` (k = 0 pre-contrast, 1... post-contrast; file names in
    any letter case) and expert masks ``segmentations/expert/{case}.nii.gz``. A case with fewer
    post-contrast phases than ``data.post_phases`` is skipped, and listed in ``attrs['skipped']``
    (case → reason)
    (the cohort summary prints them); a case sheet (``data.cases``) restricts the cohort to its
    ``case_id`` column and may mark ``multifocal`` cases.
    """
    data = config["data"]
    root = Path(data["root"])
    images = root / "images"
    if not images.is_dir():
        raise ConfigError(
            f"data.root: {root} has no images/ folder (MAMA-MIA layout: images/CASE/case_0000.nii.gz, "
            "segmentations/expert/case.nii.gz)"
        )
    expert = root / "segmentations" / "expert"
    masks = {p.name.lower(): str(p) for p in expert.iterdir()} if expert.is_dir() else {}
    need = int(data["post_phases"])
    rows: list[dict] = []
    skipped: dict[str, str] = {}
    for folder in sorted(p for p in images.iterdir() if p.is_dir() and not p.name.startswith(".")):
        phases = {}
        for f in folder.iterdir():
            m = _MAMA_MIA_IMAGE.match(f.name)
            if m and m["case"].lower() == folder.name.lower():
                phases[int(m["phase"])] = str(f)
        post = 0
        while post + 1 in phases:
            post += 1
        if 0 not in phases or post < need:
            skipped[folder.name] = "no pre-contrast image" if 0 not in phases else f"{post} post-contrast phase(s)"
            continue
        mask = next((masks[f"{folder.name.lower()}{ext}"] for ext in (".nii.gz", ".nii") if f"{folder.name.lower()}{ext}" in masks), "")
        rows.append(
            {
                "case_id": folder.name,
                "case_dir": "",
                **{seq: phases[k] for k, seq in enumerate(sequences(need))},
                "mask": mask,
                "multifocal": False,
                "post_available": post,
            }
        )
    if not rows and not skipped:
        raise ConfigError(f"data.root: {images} holds no case folders")
    df = pd.DataFrame(rows, columns=["case_id", "case_dir", *sequences(need), "mask", "multifocal", "post_available"])
    if data.get("cases"):
        sheet, chosen = _read_sheet(config)
        unknown = sorted(set(chosen["case_id"]) - set(df["case_id"]) - set(skipped))
        if unknown:
            raise ConfigError(f"data.cases: {len(unknown)} case(s) of {sheet} are not under {images}: {', '.join(unknown[:10])}")
        df = df[df["case_id"].isin(set(chosen["case_id"]))].reset_index(drop=True)
        df["multifocal"] = df["case_id"].map(dict(zip(chosen["case_id"], chosen["multifocal"]))).astype(bool)
        skipped = {c: r for c, r in skipped.items() if c in set(chosen["case_id"])}
    df.attrs["skipped"] = skipped
    return df


def case_table(config: dict[str, Any]) -> pd.DataFrame:
    """One row per case, indexed by ``case_id``; columns COLUMNS plus one per sequence (file sources).

    ``attrs['skipped']`` maps cases left out to the reason (MAMA-MIA cases with too few phases).
    """
    data = config["data"]
    source = data["source"]
    pattern = data.get("mask_pattern")
    skipped: dict[str, str] = {}
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
    elif source == "mama_mia":
        df = _mama_mia(config)
        skipped = df.attrs["skipped"]
    elif source == "nifti":
        if not data.get("cases"):
            raise ConfigError("data.cases: the 'nifti' source needs a case sheet (columns case_id, pre, post1, ...)")
        df = _nifti_sheet(config)
    elif data.get("cases"):
        sheet, df = _read_sheet(config)
        root = Path(data["root"])
        df["case_dir"] = [str(root / c) for c in df["case_id"]]
        missing = [c for c, d in zip(df["case_id"], df["case_dir"]) if not Path(d).is_dir()]
        if missing:
            raise ConfigError(
                f"data.cases: {len(missing)} case(s) of {sheet} have no folder under data.root={root}: "
                + ", ".join(missing[:10])
            )
        if "mask" not in df.columns:
            df["mask"] = ""
        _sheet_files(df, sheet, required=[], optional=["mask"])
    else:
        root = Path(data["root"])
        if not root.is_dir():
            raise ConfigError(f"data.root: {root} is not a folder (set it to the DICOM tree's root)")
        ids = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not ids:
            raise ConfigError(f"data.root: {root} holds no case folders")
        _check_ids(ids, f"data.root {root}")
        df = pd.DataFrame({"case_id": ids, "case_dir": [str(root / c) for c in ids], "mask": "", "multifocal": False})

    if source != "phantom" and pattern:
        # A pattern fills in masks the sheet does not name; for real data, only where a file exists.
        for i, case in enumerate(df["case_id"]):
            if not df.at[i, "mask"]:
                candidate = Path(pattern.format(case=case))
                if candidate.is_file():
                    df.at[i, "mask"] = str(candidate)
    df["has_mask"] = df["mask"].astype(bool)
    _check_ids(df["case_id"].tolist(), "cases")
    if not len(df):
        raise ConfigError(f"the cohort is empty: every case was skipped ({'; '.join(f'{c}: {r}' for c, r in list(skipped.items())[:10])})")
    df = df.set_index("case_id", drop=False)
    df.attrs["skipped"] = skipped
    return df
