"""The benchmark sampling the Snakefile sets for Snakemake's process (dcesynth.benchmark_sampling)."""

from __future__ import annotations

import subprocess
import sys
import time

from snakemake import benchmark

from dcesynth import benchmark_sampling


def _samples_of_a_job(seconds: float) -> tuple[int, float]:
    """How often Snakemake's own benchmark timer samples a running process in ``seconds``, and
    the wall time it records for it."""
    calls = []
    real = benchmark.BenchmarkTimer._update_record

    def counted(self):
        calls.append(time.monotonic())
        return real(self)

    proc = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])
    benchmark.BenchmarkTimer._update_record = counted
    try:
        with benchmark.benchmarked(proc.pid) as record:
            proc.wait()
    finally:
        benchmark.BenchmarkTimer._update_record = real
    return len(calls), record.running_time


def test_snakemakes_timer_samples_every_two_seconds_after_sample_every(monkeypatch):
    # restored after the test: sample_every() changes Snakemake's module in this process
    monkeypatch.setattr(benchmark, "BENCHMARK_INTERVAL_SHORT", benchmark.BENCHMARK_INTERVAL_SHORT)
    default, _ = _samples_of_a_job(3)
    assert default >= 5  # Snakemake's own 0.5 s: one at the start, then about 6

    assert benchmark_sampling.sample_every() is True
    tuned, wall = _samples_of_a_job(3)
    # at the start, then at 2 s (and at most one more as the process exits)
    assert 2 <= tuned <= 3, tuned
    assert 2.9 < wall < 6  # the job's wall time is measured apart from the samples
