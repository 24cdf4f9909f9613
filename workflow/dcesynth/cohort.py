"""The case sheet: which cases exist, where their inputs are, which have tumour masks.

Built once when the workflow is parsed, from the config alone (and a directory listing or a
sheet for real data), so the DAG is known up front and grows linearly in cases. Each source
(:mod:`dcesynth.sources`) gives its rows; this module adds the masks of ``data.mask_pattern`` and
checks the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .errors import ConfigError
from .sources import source
from .sources.sheets import check_ids, sequences

COLUMNS = ["case_id", "case_dir", "mask", "has_mask", "multifocal"]


def phase_counts(cases: pd.DataFrame) -> str:
    """How many post-contrast phases the cases have, e.g. ``2: 3 cases, 4: 1 case``."""
    counts = cases["post_available"].astype(int).value_counts().sort_index()
    return ", ".join(f"{k}: {n} case{'s' if n > 1 else ''}" for k, n in counts.items())


def case_table(config: dict[str, Any]) -> pd.DataFrame:
    """One row per case, indexed by ``case_id``; columns COLUMNS plus one per sequence (file sources).

    ``attrs['skipped']`` maps cases left out to the reason (MAMA-MIA cases with too few phases).
    """
    data = config["data"]
    src = source(data["source"])
    pattern = data.get("mask_pattern")
    df = src.case_table(config)
    skipped: dict[str, str] = dict(df.attrs.get("skipped", {}))

    if not src.generated and pattern:
        # A pattern fills in masks the sheet does not name; for real data, only where a file exists.
        for i, case in enumerate(df["case_id"]):
            if not df.at[i, "mask"]:
                candidate = Path(pattern.format(case=case))
                if candidate.is_file():
                    df.at[i, "mask"] = str(candidate)
    df["has_mask"] = df["mask"].astype(bool)
    check_ids(df["case_id"].tolist(), "cases")
    if not len(df):
        raise ConfigError(f"the cohort is empty: every case was skipped ({'; '.join(f'{c}: {r}' for c, r in list(skipped.items())[:10])})")
    df = df.set_index("case_id", drop=False)
    df.attrs["skipped"] = skipped
    return df
