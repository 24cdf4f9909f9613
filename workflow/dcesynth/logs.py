"""Logging for rule scripts: everything (including tqdm progress bars) goes to the rule's log.

Bad input is reported as one line naming the case and the file, in the log and on the terminal
next to Snakemake's error summary; unexpected errors keep their traceback in the log.
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from .errors import ConfigError, InputError

log = logging.getLogger("dcesynth")


_console = sys.__stderr__


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if isinstance(exc, (InputError, ConfigError)):
        sys.stderr.write(f"ERROR: {exc}\n")
        if sys.stderr is not _console and _console is not None:
            # Also on the terminal, where Snakemake's own error summary appears.
            _console.write(f"ERROR: {exc}\n")
            _console.flush()
    else:
        sys.stderr.write("".join(traceback.format_exception(exc_type, exc, tb)))
    sys.stderr.flush()


def setup(log_path: str | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send stderr and the ``dcesynth`` logger to ``log_path`` (or keep stderr when None)."""
    if log_path:
        sys.stderr = open(log_path, "w", buffering=1)  # noqa: SIM115 - lives as long as the job
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    sys.excepthook = _excepthook
    return log


def from_snakemake(smk) -> logging.Logger:
    """Set up logging for a rule script from its ``snakemake`` object."""
    return setup(smk.log[0] if len(smk.log) else None)


def failed_jobs(snakemake_log: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every failed job in the text of a Snakemake run log.

    Error blocks name the rule and the job id; the job's start block (same id) has its wildcards.
    """
    import re

    wildcards: dict[str, dict[str, str]] = {}
    failed: list[tuple[str, str]] = []
    for block in re.split(r"\n(?=\S)", snakemake_log):
        jobid = re.search(r"^\s+jobid: (\d+)$", block, re.M)
        if not jobid:
            continue
        m = re.match(r"(?:\[.*?\]\n)?Error in rule (\S+):", block)
        if m:
            failed.append((m.group(1), jobid.group(1)))
            continue
        wc = re.search(r"^\s+wildcards: (.+)$", block, re.M)
        if wc:
            wildcards[jobid.group(1)] = dict(kv.split("=", 1) for kv in wc.group(1).split(", ") if "=" in kv)
    return [(rule, wildcards.get(jobid, {})) for rule, jobid in failed]


def failure_summary(snakemake_log: str) -> str:
    """The end-of-run summary: failed jobs by rule, and the cases they belong to."""
    jobs = failed_jobs(snakemake_log)
    if not jobs:
        return ""
    lines = [f"dcesynth: {len(jobs)} job(s) failed:"]
    for rule, wc in jobs:
        detail = ", ".join(f"{k}={v}" for k, v in wc.items())
        lines.append(f"  {rule}" + (f" ({detail})" if detail else ""))
    cases = sorted({wc["case"] for _, wc in jobs if "case" in wc})
    if cases:
        lines.append(f"Cases with a failed job: {', '.join(cases)}")
        lines.append(
            "Outputs of the other cases are complete; tables, figures and nnU-Net datasets wait for every case."
            " Fix these cases (their logs say how) or leave them out of the case sheet, then rerun."
        )
    return "\n".join(lines)
