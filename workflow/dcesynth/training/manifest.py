"""Manifests of slice arrays (``{case: {seq: path}}`` as a TSV): one input for a chain of jobs.

Torch-free, so that the jobs that write or read one alone do not load torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_manifest(files: dict[str, dict[str, str]], out: str | Path) -> int:
    """A TSV of slice arrays ``{case: {seq: path}}`` (case_id, seq, path, n_slices): one input for
    a chain of jobs."""
    import pandas as pd

    from ..io import write_table

    rows = [
        {"case_id": case, "seq": seq, "path": str(p), "n_slices": int(np.load(p, mmap_mode="r").shape[0])}
        for case, seqs in files.items()
        for seq, p in seqs.items()
    ]
    write_table(pd.DataFrame(rows, columns=["case_id", "seq", "path", "n_slices"]), out)
    return len(rows)


def read_manifest(path: str | Path) -> dict[str, dict[str, str]]:
    """``{case: {seq: path}}`` from a manifest written by ``write_manifest``."""
    import pandas as pd

    table = pd.read_csv(path, sep="\t", dtype=str)
    out: dict[str, dict[str, str]] = {}
    for case, seq, p in zip(table["case_id"], table["seq"], table["path"]):
        out.setdefault(case, {})[seq] = p
    return out
