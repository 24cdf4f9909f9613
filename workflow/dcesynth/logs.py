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
