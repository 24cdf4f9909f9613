"""Source ``mama_mia``: the published MAMA-MIA layout under ``data.root``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ConfigError
from .sheets import read_sheet, sequences

# A MAMA-MIA image: {case}_{k:04d}.nii.gz, k = 0 pre-contrast, 1... the post-contrast phases.
IMAGE = re.compile(r"^(?P<case>.+)_(?P<phase>\d{4})\.nii(?:\.gz)?$", re.IGNORECASE)


def mama_mia_cases(config: dict[str, Any]) -> pd.DataFrame:
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
        phases: dict[int, str] = {}
        for f in sorted(folder.iterdir()):
            m = IMAGE.match(f.name)
            if m and m["case"].lower() == folder.name.lower():
                if int(m["phase"]) in phases:  # _0001.nii beside _0001.nii.gz: which one is meant?
                    raise ConfigError(f"data.root: case {folder.name} has two files for phase {int(m['phase'])}: "
                                      f"{Path(phases[int(m['phase'])]).name} and {f.name}; keep one")  # fmt: skip
                phases[int(m["phase"])] = str(f)
        post = 0
        while post + 1 in phases:
            post += 1
        if 0 not in phases or post < need:
            skipped[folder.name] = "no pre-contrast image" if 0 not in phases else f"{post} post-contrast phase(s)"
            continue
        found = [masks[f"{folder.name.lower()}{ext}"] for ext in (".nii.gz", ".nii") if f"{folder.name.lower()}{ext}" in masks]
        if len(found) > 1:
            raise ConfigError(f"data.root: case {folder.name} has two expert masks: {Path(found[0]).name} and "
                              f"{Path(found[1]).name}; keep one")  # fmt: skip
        mask = found[0] if found else ""
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
        sheet, chosen = read_sheet(config)
        unknown = sorted(set(chosen["case_id"]) - set(df["case_id"]) - set(skipped))
        if unknown:
            raise ConfigError(f"data.cases: {len(unknown)} case(s) of {sheet} are not under {images}: {', '.join(unknown[:10])}")
        df = df[df["case_id"].isin(set(chosen["case_id"]))].reset_index(drop=True)
        df["multifocal"] = df["case_id"].map(dict(zip(chosen["case_id"], chosen["multifocal"]))).astype(bool)
        skipped = {c: r for c, r in skipped.items() if c in set(chosen["case_id"])}
    df.attrs["skipped"] = skipped
    return df
