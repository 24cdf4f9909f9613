"""Patient-level splits for synthesis (train/val/test) and segmentation (CV folds, test).

Duke uses the authors' split sheet exactly. Other cohorts get a deterministic split of the same
shape: cases without masks train the GAN; cases with masks are split into validation and test;
segmentation runs K-fold CV over the validation cases minus multifocal ones, test held out.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from .errors import ConfigError

SYNTHESIS_COLUMNS = ["case_id", "split", "has_mask", "multifocal"]
SEGMENTATION_COLUMNS = ["case_id", "role", "fold"]


def duke_splits(cases: pd.DataFrame, sheet: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The authors' split (``resources/duke_split.tsv``) restricted to the cases at hand."""
    sheet = sheet.set_index("case_id")
    unknown = [c for c in cases["case_id"] if c not in sheet.index]
    if unknown:
        raise ConfigError(
            f"splits.method=duke: {len(unknown)} case(s) are not in the Duke split sheet: {', '.join(unknown[:10])}"
        )
    rows = sheet.loc[list(cases["case_id"])]
    synthesis = pd.DataFrame(
        {
            "case_id": list(cases["case_id"]),
            "split": rows["synthesis_split"].to_numpy(),
            "has_mask": cases["has_mask"].to_numpy(),
            "multifocal": (rows["segmentation_role"] == "excluded").to_numpy() | cases["multifocal"].to_numpy(),
        }
    )
    role = rows["segmentation_role"].replace("", "none").fillna("none").to_numpy()
    fold = rows["segmentation_val_fold"].replace("", np.nan).to_numpy()
    segmentation = pd.DataFrame({"case_id": list(cases["case_id"]), "role": role, "fold": fold})
    segmentation["fold"] = pd.to_numeric(segmentation["fold"]).astype("Int64")
    return synthesis, segmentation


def _unit(seed: int, case: str, purpose: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, case, purpose): no other case can change it."""
    digest = hashlib.sha256(f"{seed}:{case}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def generated_splits(
    cases: pd.DataFrame, test_fraction: float, n_folds: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A deterministic split of the Duke shape for any cohort.

    Each annotated case goes to test when its own hash-drawn number is below ``test_fraction``,
    so adding cases never moves existing ones between train, validation and test (a small cohort
    can draw no test case: ``check_splits`` warns). CV folds are dealt round-robin in hash order
    over the validation cases minus multifocal ones.
    """
    masked = [c for c, m in zip(cases["case_id"], cases["has_mask"]) if m]
    test = {c for c in masked if _unit(seed, c, "test") < test_fraction}
    split = {c: ("test" if c in test else "val") if m else "train" for c, m in zip(cases["case_id"], cases["has_mask"])}
    multifocal = dict(zip(cases["case_id"], cases["multifocal"]))
    synthesis = pd.DataFrame(
        {
            "case_id": list(cases["case_id"]),
            "split": [split[c] for c in cases["case_id"]],
            "has_mask": list(cases["has_mask"]),
            "multifocal": [multifocal[c] for c in cases["case_id"]],
        }
    )
    cv = sorted((c for c in masked if c not in test and not multifocal[c]), key=lambda c: _unit(seed, c, "fold"))
    folds = {c: i % n_folds for i, c in enumerate(cv)}
    role = []
    for c in cases["case_id"]:
        if split[c] == "test":
            role.append("test")
        elif split[c] == "val":
            role.append("cv" if c in folds else "excluded")
        else:
            role.append("none")
    segmentation = pd.DataFrame(
        {"case_id": list(cases["case_id"]), "role": role, "fold": [folds.get(c) for c in cases["case_id"]]}
    )
    segmentation["fold"] = segmentation["fold"].astype("Int64")
    return synthesis, segmentation


def make_splits(cases: pd.DataFrame, cfg: dict, duke_sheet: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The splits the config asks for (``splits`` section): Duke's sheet or a generated one."""
    if cfg["method"] == "duke":
        sheet = pd.read_csv(duke_sheet, sep="\t", dtype=str, keep_default_na=False)
        return duke_splits(cases, sheet)
    return generated_splits(cases, cfg["test_fraction"], cfg["n_folds"], cfg["seed"])


def check_splits(synthesis: pd.DataFrame, segmentation: pd.DataFrame, n_folds: int) -> list[str]:
    """Problems that make later stages impossible, as warnings (the splits are still written)."""
    problems = []
    counts = synthesis["split"].value_counts()
    for name in ("train", "val", "test"):
        if counts.get(name, 0) == 0:
            problems.append(f"no '{name}' cases for synthesis")
    cv = segmentation[segmentation["role"] == "cv"]
    present = set(cv["fold"].dropna().astype(int))
    if cv.shape[0] and present != set(range(n_folds)):
        problems.append(f"segmentation folds {sorted(set(range(n_folds)) - present)} have no validation case")
    leaked = set(synthesis.loc[synthesis["split"] == "train", "case_id"]) & set(cv["case_id"])
    if leaked:
        problems.append(f"cases both in GAN training and segmentation CV: {sorted(leaked)[:5]}")
    return problems
