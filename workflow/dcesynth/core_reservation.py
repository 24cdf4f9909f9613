"""Free cores kept for the job of highest priority that waits for more cores than are free.

Snakemake's local scheduler starts, in each round, the ready jobs that fit the free cores, those
of higher priority first. A job that does not fit is passed over and jobs of lower priority take
the cores, so a job of several threads starts only when that many cores happen to come free
together: with many one-thread jobs ready, late or never. In the demo (2 cores, 2026-12-07), with
the small models' epochs on one thread, pix2pixHD's two-thread epochs had not started at 494 s:
every core that came free went to a one-thread job (the nnU-Net folds, the other models' epochs).

:func:`reserve` makes a round hold back the jobs of lower priority than the highest-priority job
that waits for cores: the cores that come free stay free until it fits, and it starts as soon as
a running job ends. Jobs of its priority or higher still start where they fit; where no ready
job waits for cores, a round is as Snakemake's. What waits is what the workflow's priorities say
runs first (``common.smk``: the main run's epochs before the other models', training before the
folds), so the wait costs the cores a running job leaves for the rest of its time, once per
chain that starts, and in return the chain runs without gaps. Where cores are not the limit
(a cluster executor) nothing is held back.
"""

from __future__ import annotations

from .snakemake_patch import patch_job_scheduler


def held_back(jobs, free_cores) -> set:
    """The ready ``jobs`` (with ``priority`` and ``scheduler_resources``) a round does not start:
    those of lower priority than the highest-priority one that needs more cores than
    ``free_cores``; none where ``free_cores`` is not a number (no core limit)."""
    if not isinstance(free_cores, int):
        return set()
    waiting = [job.priority for job in jobs if job.scheduler_resources.get("_cores", 0) > free_cores]
    if not waiting:
        return set()
    top = max(waiting)
    return {job for job in jobs if job.priority < top}


def reserve() -> bool:
    """Make Snakemake's local job selection keep free cores for the highest-priority job that
    waits for them (see the module); False where this Snakemake selects jobs elsewhere (another
    version: its own selection then applies, nothing fails)."""

    def replacement(original):
        def job_selector(self, jobs):
            held = held_back(jobs, self.resources.get("_cores"))
            return original(self, [job for job in jobs if job not in held] if held else jobs)

        return job_selector

    return patch_job_scheduler("job_selector", replacement)
