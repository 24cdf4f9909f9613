"""Python's cyclic garbage collector, tuned for the Snakemake process that builds our DAG.

Snakemake keeps several Python objects per job, per file and per dependency, thousands of each at
Duke scale. With CPython's default thresholds (700, 10, 10) the collector re-scans that growing
graph again and again while it is built, and once more when the interpreter exits, and finds almost
nothing to free (``python -m dcesynth.bench.dag`` prints ``gc_tuning_ratio``: the up-to-date run
with the defaults over the run with :func:`tune`, measured in the same run). The Snakefile calls
it first thing, so it applies to Snakemake's own process (and to the one a cluster job starts);
the jobs' scripts run in processes of their own and keep the defaults.

- ``gc.set_threshold(100_000, 50, 100)``: a young-generation pass every 100 000 net allocations
  instead of 700 (cycles are still collected; a long-running scheduler holds at most that many
  more young objects, tens of MB at most), older generations proportionally less often.
- ``atexit: gc.freeze()``: at exit, everything still alive is moved out of the collector's reach,
  so the interpreter's final collections do not walk the whole DAG once more. Memory goes back to
  the operating system with the process; handlers that must run at exit (logging's flush) are
  ``atexit`` handlers themselves and still run.
"""

from __future__ import annotations

import atexit
import gc

THRESHOLDS = (100_000, 50, 100)


def tune() -> None:
    """Raise the collector's thresholds and skip its final passes at exit (see the module text)."""
    gc.set_threshold(*THRESHOLDS)
    atexit.register(gc.freeze)
