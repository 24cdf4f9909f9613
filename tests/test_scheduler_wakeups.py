"""Snakemake's scheduler with one pending wake-up at a time (dcesynth.scheduler_wakeups): on a real
Snakemake run, the scheduling rounds it logs and the jobs it runs; on its timers alone, when they fire."""

from __future__ import annotations

import threading
import time
import types

import pytest

from conftest import run_scheduler_patch

N_JOBS = 20

RULES = f"""
    rule all:
        input: expand("out/{{i}}.txt", i=range({N_JOBS}))
    rule one:
        output: "out/{{i}}.txt"
        shell: "sleep 0.3; touch {{output}}"
    """


def _rounds(tmp_path, coalesce: bool) -> tuple[int, int]:
    """Scheduling rounds Snakemake logs for 20 jobs of 0.3 s on one core (its rate limiter's
    default timespan: 1 s), and the jobs it ran."""
    root = tmp_path / ("coalesced" if coalesce else "default")
    log = run_scheduler_patch(root, "scheduler_wakeups.coalesce" if coalesce else None, RULES, "--cores", "1", "--verbose")
    return log.count("Ready jobs:"), len(list((root / "out").glob("*.txt")))


@pytest.mark.integration  # a real Snakemake run, twice (about 20 s)
def test_one_pending_wakeup_keeps_the_rounds_linear_in_the_jobs(tmp_path):
    default, ran_default = _rounds(tmp_path, coalesce=False)
    coalesced, ran_coalesced = _rounds(tmp_path, coalesce=True)
    assert ran_default == ran_coalesced == N_JOBS
    # default: every finished job adds a timer chain that fires every second (about 0.3 x 20^2 / 2
    # rounds besides one per job); one pending timer: a round per finished job plus one a second
    assert default > 2 * coalesced, (default, coalesced)
    assert coalesced < 2 * N_JOBS + 0.3 * N_JOBS + 10, coalesced


def _wakeups_within(scheduler, seconds: float) -> int:
    """How often the scheduler's semaphore is released within ``seconds``."""
    n, deadline = 0, time.monotonic() + seconds
    while scheduler._open_jobs.acquire(timeout=max(0.0, deadline - time.monotonic())):
        n += 1
    return n


def test_a_pending_wakeup_absorbs_later_ones_and_an_earlier_one_gets_its_own(monkeypatch):
    from snakemake.scheduling.job_scheduler import JobScheduler

    from dcesynth import scheduler_wakeups

    # restored after the test: coalesce() patches Snakemake's class in this process
    monkeypatch.setattr(JobScheduler, "_schedule_reevalutation", JobScheduler._schedule_reevalutation)
    assert scheduler_wakeups.coalesce() is True
    scheduler = types.SimpleNamespace(_open_jobs=threading.Semaphore(0))
    wake = JobScheduler._schedule_reevalutation
    for _ in range(5):  # five rounds asking within 0.2 s: one wake-up
        wake(scheduler, 0.2)
    assert _wakeups_within(scheduler, 1.5) == 1
    wake(scheduler, 0.2)  # none pending any more: the next request gets its timer
    assert _wakeups_within(scheduler, 1.5) == 1
    wake(scheduler, 30)  # the queue-input wait pending, the rate limiter asks for an earlier one
    wake(scheduler, 0.2)
    assert _wakeups_within(scheduler, 1.5) == 1
