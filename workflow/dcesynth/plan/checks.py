"""Config values the schema cannot judge, checked before any job (``load``): each problem one line
naming the key and the fix. A value that reaches a job unchecked can make Snakemake delete that job's
finished outputs before the job fails (a changed parameter reruns it)."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from ..sources.sheets import sequences


def value_problems(config: dict[str, Any]) -> list[str]:
    problems = []
    for key in ("include", "exclude"):
        pattern = config["series"].get(key)
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(f"series.{key}: {pattern!r} is not a regular expression ({exc}); escape a literal "
                                "parenthesis, bracket or dot with a backslash")  # fmt: skip
    span = config["slices"].get("range")
    if span is not None:
        start, stop = span
        # Python's slice of each volume's slices: negative indices count from its end, so only two
        # of one sign can be compared before the volumes are known
        if start is not None and stop is not None and (start < 0) == (stop < 0) and stop <= start:
            shown = json.dumps(span)
            problems.append(f"slices.range: {shown} holds no slice ([start, stop) with stop > start); null for "
                            "every slice")  # fmt: skip
    gan, phases = config["gan"], sequences(config["data"]["post_phases"])
    if gan["input"] in gan["targets"]:
        problems.append(f"gan.input {gan['input']} is also in gan.targets {gan['targets']}: a model would learn to "
                        "copy its input; make the targets other phases (the paper: input pre, targets [post1])")  # fmt: skip
    outside = [s for s in [gan["input"], *gan["targets"]] if s not in phases]
    if outside:
        problems.append(f"gan: {', '.join(outside)} is not a phase this run ingests (data.post_phases: "
                        f"{config['data']['post_phases']} gives {', '.join(phases)}); raise data.post_phases or "
                        "choose among those")  # fmt: skip
    problems += _generated_data_problems(config)
    return problems


def _generated_data_problems(config: dict[str, Any]) -> list[str]:
    """A source the workflow generates (the phantom) writes its cases only inside the working
    directory: pointed at a user's own DICOM tree, its cases would join that cohort later."""
    from pathlib import Path

    from ..sources import source

    data = config["data"]
    if not source(data["source"]).generated:
        return []
    # compared as written, links kept: a data/ folder linked to scratch storage is inside
    here = Path(os.path.abspath(os.getcwd()))
    problems = []
    for key in ("root", "mask_pattern"):
        value = data.get(key)
        if not value:
            continue
        where = Path(os.path.normpath(here / str(value).split("{")[0]))
        if where != here and here not in where.parents:
            problems.append(f"data.{key}: {value} is outside the working directory ({here}), and data.source "
                            f"{data['source']} writes generated cases there; keep it inside (the demo's "
                            "data/phantom/...), or set data.source to read your own data")  # fmt: skip
    return problems


def shared_inputs(cases, seqs: list[str], files: bool) -> list[str]:
    """Two cases that read the same raw file or DICOM folder (links resolved): one patient under two
    ids, whom the split could put in GAN training and in evaluation at once, the leak the split
    exists to prevent. One line per pair, naming both cases and the file."""
    owner: dict[str, str] = {}
    problems = []
    for _, row in cases.iterrows():
        paths = [row[s] for s in seqs] if files else [row["case_dir"]]
        for p in paths:
            if not p:
                continue
            key = os.path.realpath(p)
            other = owner.setdefault(key, row["case_id"])
            if other != row["case_id"]:
                problems.append(f"cases {other} and {row['case_id']} read the same file {p} (one patient under two "
                                "ids?): the split could put one in training and the other in evaluation; keep one "
                                "of them in the cohort")  # fmt: skip
    return problems
