"""Patient-level splits for synthesis (train/val/test) and segmentation (CV folds, test).

Duke uses the authors' split sheet exactly (``method: duke``); ``method: sheet`` takes a sheet of
the same columns written for another cohort. Other cohorts get a deterministic split of the same
shape (``method: generated``): cases without masks train the GAN; when fewer than
``min_gan_train_cases`` cases are unannotated (MAMA-MIA is annotated throughout), annotated cases
are drawn into GAN training too, each by its own hashed number below ``annotated_gan_fraction``.
The other annotated cases are split into validation and test; segmentation runs K-fold CV over
the validation cases minus multifocal ones, test held out. A case that trains the GAN is never a
validation, test or segmentation case: no synthetic volume comes from a GAN that saw its patient.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ConfigError, problem_list

SYNTHESIS_COLUMNS = ["case_id", "split", "has_mask", "multifocal"]
SEGMENTATION_COLUMNS = ["case_id", "role", "fold"]


SHEET_COLUMNS = ["case_id", "synthesis_split", "segmentation_role", "segmentation_val_fold"]


def sheet_splits(
    cases: pd.DataFrame, sheet: pd.DataFrame, key: str = "splits.sheet", n_folds: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A split sheet (the Duke sheet's columns) restricted to the cases at hand; every problem of
    the sheet is reported at once."""
    missing = [c for c in SHEET_COLUMNS if c not in sheet.columns]
    if missing:
        raise ConfigError(f"{key}: the split sheet has no column(s) {', '.join(missing)} (needs {', '.join(SHEET_COLUMNS)})")
    sheet = sheet.assign(case_id=sheet["case_id"].str.strip())
    dup = sorted(set(sheet.loc[sheet["case_id"].duplicated(), "case_id"]))
    if dup:
        raise ConfigError(f"{key}: the split sheet names case(s) more than once: {', '.join(dup[:10])}")
    sheet = sheet.set_index("case_id")
    unknown = [c for c in cases["case_id"] if c not in sheet.index]
    if unknown:
        duke = key == "splits.method=duke"
        hint = " (not a Duke-Breast-Cancer-MRI cohort? use splits.method: generated, or sheet with a split sheet of your own)"
        raise ConfigError(
            f"{key}: {len(unknown)} case(s) are not in the {'Duke ' if duke else ''}split sheet: "
            f"{', '.join(unknown[:10])}{hint if duke else ''}"
        )
    rows = sheet.loc[list(cases["case_id"])]
    role = rows["segmentation_role"].str.strip().replace("", "none").to_numpy()
    fold = pd.to_numeric(rows["segmentation_val_fold"].str.strip().replace("", np.nan), errors="coerce")
    split = rows["synthesis_split"].str.strip().to_numpy()
    problems = []
    for case, sp, ro, fo, raw in zip(rows.index, split, role, fold, rows["segmentation_val_fold"]):
        if sp not in ("train", "val", "test"):
            problems.append(f"case {case}: synthesis_split {sp!r} is not train, val or test")
        if ro not in ("cv", "test", "excluded", "none"):
            problems.append(f"case {case}: segmentation_role {ro!r} is not cv, test, excluded or empty")
        if ro == "cv" and (pd.isna(fo) or fo != int(fo) or (n_folds is not None and not 0 <= fo < n_folds)):
            problems.append(f"case {case}: a cv case needs segmentation_val_fold in 0..{(n_folds or 1) - 1}, not {raw!r}")
        if sp == "train" and ro in ("cv", "test"):
            problems.append(f"case {case}: trains the GAN (synthesis_split train) and is a segmentation {ro} case")
    if problems:
        raise problem_list(key, problems, " in the split sheet")
    synthesis = pd.DataFrame(
        {
            "case_id": list(cases["case_id"]),
            "split": split,
            "has_mask": cases["has_mask"].to_numpy(),
            "multifocal": (role == "excluded") | cases["multifocal"].to_numpy(),
        }
    )
    fold = fold.where(role == "cv")  # a fold means something only for a CV case
    segmentation = pd.DataFrame({"case_id": list(cases["case_id"]), "role": role, "fold": fold.to_numpy()})
    segmentation["fold"] = pd.to_numeric(segmentation["fold"]).astype("Int64")
    return synthesis, segmentation


def duke_splits(cases: pd.DataFrame, sheet: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The authors' split (``resources/duke_split.tsv``) restricted to the cases at hand."""
    return sheet_splits(cases, sheet, key="splits.method=duke")


def _unit(seed: int, case: str, purpose: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, case, purpose): no other case can change it."""
    digest = hashlib.sha256(f"{seed}:{case}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def generated_splits(
    cases: pd.DataFrame,
    test_fraction: float,
    n_folds: int,
    seed: int,
    min_gan_train_cases: int = 1,
    annotated_gan_fraction: float = 0.5,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A deterministic split of the Duke shape for any cohort.

    Unannotated cases train the GAN. When they are fewer than ``min_gan_train_cases``, each
    annotated case also trains the GAN when its own hash-drawn number is below
    ``annotated_gan_fraction`` (and then takes no other role). Each remaining annotated case goes
    to test when its hash-drawn number is below ``test_fraction``. Every draw is per case, so
    adding cases never moves existing ones between train, validation and test (except when the
    new cases lift the unannotated count to ``min_gan_train_cases``: annotated cases then stop
    training the GAN). CV folds are dealt round-robin in hash order over the validation cases
    minus multifocal ones.
    """
    ids = list(cases["case_id"])
    has_mask = dict(zip(ids, cases["has_mask"]))
    masked = [c for c in ids if has_mask[c]]
    gan = {c for c in ids if not has_mask[c]}
    if len(gan) < min_gan_train_cases:
        gan |= {c for c in masked if _unit(seed, c, "gan") < annotated_gan_fraction}
    test = {c for c in masked if c not in gan and _unit(seed, c, "test") < test_fraction}
    split = {c: "train" if c in gan else "test" if c in test else "val" for c in ids}
    multifocal = dict(zip(ids, cases["multifocal"]))
    synthesis = pd.DataFrame(
        {
            "case_id": ids,
            "split": [split[c] for c in ids],
            "has_mask": [has_mask[c] for c in ids],
            "multifocal": [multifocal[c] for c in ids],
        }
    )
    cv = sorted((c for c in ids if split[c] == "val" and not multifocal[c]), key=lambda c: _unit(seed, c, "fold"))
    folds = {c: i % n_folds for i, c in enumerate(cv)}
    role = []
    for c in ids:
        if split[c] == "test":
            role.append("test")
        elif split[c] == "val":
            role.append("cv" if c in folds else "excluded")
        else:
            role.append("none")
    segmentation = pd.DataFrame({"case_id": ids, "role": role, "fold": [folds.get(c) for c in ids]})
    segmentation["fold"] = segmentation["fold"].astype("Int64")
    return synthesis, segmentation


def make_splits(cases: pd.DataFrame, cfg: dict, duke_sheet: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The splits the config asks for (``splits`` section): a split sheet or a generated split."""
    if cfg["method"] in ("duke", "sheet"):
        path = duke_sheet if cfg["method"] == "duke" else cfg.get("sheet")
        if not path:
            raise ConfigError("splits.sheet: splits.method is sheet, but no split sheet is named")
        if not Path(path).is_file():
            raise ConfigError(f"splits.{'duke_sheet' if cfg['method'] == 'duke' else 'sheet'}: {path} does not exist")
        sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        if cfg["method"] == "duke":
            return duke_splits(cases, sheet)
        return sheet_splits(cases, sheet, n_folds=cfg["n_folds"])
    return generated_splits(
        cases,
        cfg["test_fraction"],
        cfg["n_folds"],
        cfg["seed"],
        cfg.get("min_gan_train_cases", 5),  # the schema's defaults, for configs read without it
        cfg.get("annotated_gan_fraction", 0.5),
    )


def check_splits(
    synthesis: pd.DataFrame,
    segmentation: pd.DataFrame,
    n_folds: int,
    method: str = "generated",
    gan_trains: bool = True,
    segments: bool = True,
    folds: bool = True,
) -> list[str]:
    """What makes a stage impossible, each with what to change; empty when the splits can run.

    ``segmentation`` holds the annotated cases only (a split sheet may name cases without a mask).
    The workflow refuses to start on any of these (``common.smk``), before a job runs. ``folds``:
    whether nnU-Net trains here (a pretrained model alone needs test cases only).
    """
    if method == "generated":
        remedy = {
            "train": "add unannotated cases, or raise splits.min_gan_train_cases / splits.annotated_gan_fraction",
            "val": "add annotated cases, lower splits.test_fraction or change splits.seed",
            "test": "add annotated cases, raise splits.test_fraction or change splits.seed",
        }
        folds_remedy = "lower splits.n_folds, lower splits.test_fraction or add annotated cases"
    else:
        remedy = dict.fromkeys(("train", "val", "test"), f"give cases that role in the split sheet (splits.method: {method})")
        folds_remedy = f"lower splits.n_folds or give every fold a case in the split sheet (splits.method: {method})"
    problems = []
    counts = synthesis["split"].value_counts()
    for name, role in (("train", "GAN training"), ("val", "validation"), ("test", "test")):
        if name == "train" and not gan_trains:
            continue
        if counts.get(name, 0) == 0:
            problems.append(f"no {role} case for synthesis: {remedy[name]}")
    if segments:
        cv = segmentation[segmentation["role"] == "cv"]
        present = set(cv["fold"].dropna().astype(int))
        empty = sorted(set(range(n_folds)) - present)
        if empty and folds:
            problems.append(
                f"segmentation folds {empty} have no case ({len(cv)} annotated CV cases for "
                f"splits.n_folds = {n_folds}): {folds_remedy}, or set segmentation.enabled: false"
            )
        if not (segmentation["role"] == "test").any():
            problems.append(f"no annotated segmentation test case: {remedy['test']}, or set segmentation.enabled: false")
    leaked = set(synthesis.loc[synthesis["split"] == "train", "case_id"]) & set(
        segmentation.loc[segmentation["role"].isin(["cv", "test"]), "case_id"]
    )
    if leaked:
        problems.append(f"cases both train the GAN and take part in segmentation: {', '.join(sorted(leaked)[:5])}")
    return problems


def summary(cases: pd.DataFrame, synthesis: pd.DataFrame, segmentation: pd.DataFrame, info: dict) -> str:
    """The one-screen cohort summary every run prints: what the cohort is and who does what.

    ``segmentation`` holds the annotated cases only; ``info`` carries the cohort label, source,
    phases, the skipped cases and whether segmentation runs.
    """
    split = synthesis["split"].value_counts()
    from_annotated = int((synthesis["has_mask"] & (synthesis["split"] == "train")).sum())
    lines = [
        f"Cohort: {info['cohort']} (data.source: {info['source']})",
        f"  cases      {len(cases)}, annotated {int(cases['has_mask'].sum())}, multifocal {int(cases['multifocal'].sum())}",
        f"  phases     pre + post1..post{info['post_phases']} ingested" + (
            f"; post-contrast phases available per case: {info['available']}" if info.get("available") else ""),
        f"  GAN        train {split.get('train', 0)}" + (f" ({from_annotated} annotated)" if from_annotated else "")
        + f", validation {split.get('val', 0)}, test {split.get('test', 0)}  (splits.method: {info['method']})",
    ]  # fmt: skip
    if info["segments"]:
        cv = segmentation[segmentation["role"] == "cv"]
        sizes = cv["fold"].astype(int).value_counts().sort_index()
        folds = ", ".join(f"{n}" for n in sizes.to_list()) or "none"
        lines.append(
            f"  nnU-Net    {len(cv)} CV cases in {info['n_folds']} folds ({folds}), test {int((segmentation['role'] == 'test').sum())}, "
            f"excluded {int((segmentation['role'] == 'excluded').sum())}; scenarios: {info['scenarios']}"
        )
    else:
        lines.append("  nnU-Net    off (segmentation.enabled: false)")
    if info.get("skipped"):
        shown = [f"{c} ({r})" for c, r in list(info["skipped"].items())[:8]]
        more = " ..." if len(info["skipped"]) > 8 else ""
        lines.append(f"  skipped    {len(info['skipped'])} case(s): {'; '.join(shown)}{more}  (results/splits/skipped.tsv)")
    return "\n".join(lines)
