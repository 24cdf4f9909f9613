"""The collector tuning the Snakefile applies to Snakemake's process (dcesynth.gc_tuning)."""

from __future__ import annotations

import subprocess
import sys

from dcesynth import gc_tuning

PROBE = """
import atexit, gc
# registered before tune(): atexit runs last-in first-out, so this runs after tune's handler
atexit.register(lambda: print("frozen_at_exit", gc.get_freeze_count() > 0))
from dcesynth import gc_tuning
before = gc.get_threshold()
gc_tuning.tune()
print("thresholds", before, gc.get_threshold())
print("frozen_before_exit", gc.get_freeze_count() > 0)
cycle = []
cycle.append(cycle)
del cycle
print("cycles_still_collected", gc.collect() >= 1)
"""


def test_tune_raises_thresholds_and_freezes_only_at_exit():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert f"thresholds (700, 10, 10) {gc_tuning.THRESHOLDS}" in out, out
    assert "frozen_before_exit False" in out  # nothing is exempt from collection while the DAG lives
    assert "cycles_still_collected True" in out
    assert out.strip().endswith("frozen_at_exit True"), out
