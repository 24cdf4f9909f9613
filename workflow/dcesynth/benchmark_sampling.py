"""How often Snakemake samples a running job for its ``benchmarks/`` file.

Snakemake 9 samples every benchmarked job's process tree (each process's memory from
``/proc/PID/smaps_rollup``, its CPU and I/O) every 0.5 s for the job's first 30 samples, then every
30 s. Reading ``smaps_rollup`` walks the page tables of the process, in Snakemake's own process:
about 20 ms of CPU for each Python process that imported torch, and most of our jobs run one or
two of those. In the demo (354 jobs on 2 cores, 2026-12-07) Snakemake's own process used 438 s of
CPU (252 s user, 186 s system) in a 1612 s run: 14 % of both cores, time the jobs waited for. The
next run, sampling every 2 s (and with the profile's greedy job selection), used 218 s (130 s user,
88 s system) in 1368 s; on 120 two-second jobs, the system time alone fell 5-fold with sampling
every 5 s (it is the kernel's page-table walk for ``smaps_rollup``). Most of what remained was
not sampling but the scheduler's multiplying timers (:mod:`dcesynth.scheduler_wakeups`): with both
changes Snakemake's process used 19-25 s in a demo run.

:func:`sample_every` samples every :data:`SHORT_INTERVAL_S` seconds instead of 0.5 for those first samples
(the 30 s cadence after them is unchanged). What a benchmark file holds stays what it was: ``s``
and ``h:m:s`` are the job's wall time, measured apart from the samples; memory and CPU are the
largest and the last sampled values, now from samples 2 s apart. A job shorter than that is sampled
at its start only (its memory figures are then those of a process just started).
"""

from __future__ import annotations

#: Seconds between a job's first benchmark samples (Snakemake's own default: 0.5).
SHORT_INTERVAL_S = 2.0


def sample_every(interval_s: float = SHORT_INTERVAL_S) -> bool:
    """Sample benchmarked jobs every ``interval_s`` seconds at first; False where this Snakemake
    has no such setting (another version: its own sampling then applies, nothing fails)."""
    from snakemake import benchmark

    if not hasattr(benchmark, "BENCHMARK_INTERVAL_SHORT"):
        return False
    benchmark.BENCHMARK_INTERVAL_SHORT = float(interval_s)
    return True
