"""Free cores kept for the highest-priority job that waits for them (dcesynth.core_reservation): on
a real Snakemake run on two cores, when a two-thread job starts among one-thread jobs of lower
priority; and which jobs a round holds back."""

from __future__ import annotations

import pytest

from conftest import run_scheduler_patch

N_NARROW = 8

# a gate job, then a two-thread job of high priority, beside eight one-thread jobs of 1 s of
# priority 0 that start half a second apart: two cores are never free together until they are done
RULES = f"""
    rule all:
        input: "wide.txt", expand("narrow/{{i}}.txt", i=range({N_NARROW}))
    rule gate:
        output: "gate.txt"
        priority: 5
        shell: "sleep 0.5; touch {{output}}"
    rule wide:
        input: "gate.txt"
        output: "wide.txt"
        threads: 2
        priority: 5
        shell: "date +%s.%N > {{output}}"
    rule narrow:
        output: "narrow/{{i}}.txt"
        shell: "date +%s.%N > {{output}}; sleep 1"
    """


def _narrow_before_wide(tmp_path, reserve: bool) -> int:
    """How many of the one-thread jobs started before the two-thread one."""
    root = tmp_path / ("reserved" if reserve else "default")
    run_scheduler_patch(root, "core_reservation.reserve" if reserve else None, RULES, "--cores", "2")
    wide = float((root / "wide.txt").read_text())
    narrow = [float(p.read_text()) for p in (root / "narrow").glob("*.txt")]
    assert len(narrow) == N_NARROW
    return sum(t < wide for t in narrow)


@pytest.mark.integration  # a real Snakemake run, twice (about 20 s)
def test_a_two_thread_job_of_high_priority_starts_when_one_job_ends(tmp_path):
    # Snakemake's own selection: the free core goes to the next one-thread job each time, and the
    # two-thread job starts when they have all started
    assert _narrow_before_wide(tmp_path, reserve=False) >= N_NARROW - 2
    # kept cores: the one-thread job that started beside the gate ends, and the two-thread job starts
    assert _narrow_before_wide(tmp_path, reserve=True) <= 2


class _Job:  # what the selection reads of a Snakemake job (hashable by identity, as Snakemake's)
    def __init__(self, priority: int, resources: dict):
        self.priority, self.scheduler_resources = priority, resources


def _job(priority: int, cores: int, **resources) -> _Job:
    return _Job(priority, {"_cores": cores, **resources})


def test_a_round_holds_back_only_what_is_below_a_job_waiting_for_cores():
    import sys

    from dcesynth.core_reservation import held_back

    wide, wide_low = _job(4, 2), _job(0, 2)
    narrow_same, narrow_low, narrow_high = _job(4, 1), _job(1, 1), _job(6, 1)
    jobs = [wide, wide_low, narrow_same, narrow_low, narrow_high]
    # one free core: the two-thread job of priority 4 waits; what is below it is held back
    assert held_back(jobs, {"_cores": 1}) == {wide_low, narrow_low}
    # two free cores, but the job of priority 6 takes one first: the same
    assert held_back(jobs, {"_cores": 2}) == {wide_low, narrow_low}
    # six: all but the lowest fit, which holds back nothing below it
    assert held_back(jobs, {"_cores": 6}) == set()
    # only a job of priority 0 waits: nothing is below it
    assert held_back([wide_low, narrow_same], {"_cores": 1}) == set()
    # a job that waits for a GPU too keeps no cores (they would not start it)
    gpu_wide = _job(4, 2, gpu=1)
    assert held_back([gpu_wide, narrow_low], {"_cores": 1, "gpu": 0}) == set()
    assert held_back([gpu_wide, narrow_low], {"_cores": 1, "gpu": 1}) == {narrow_low}
    # unlimited cores (a cluster executor)
    assert held_back(jobs, {"_cores": sys.maxsize}) == set()
