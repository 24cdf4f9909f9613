"""Free cores kept for the job of highest priority that waits for more cores than are free.

Snakemake's local scheduler starts, in each round, the ready jobs that fit the free cores, those
of higher priority first. A job that does not fit is passed over and jobs of lower priority take
the cores, so a job of several threads starts only when that many cores happen to come free
together: with many one-thread jobs ready, late. In the demo (2 cores, 2026-12-07), with
the small models' epochs on one thread, pix2pixHD's two-thread epochs had not started at 494 s:
every core that came free went to a one-thread job (the nnU-Net folds, the other models' epochs).

:func:`reserve` makes a round hold back the jobs of lower priority than the highest-priority job
that waits for cores (after the jobs of higher priority took theirs, and with every other
resource it needs free): the cores that come free stay free until it fits, and it starts as soon
as enough running jobs have ended. Jobs of its priority or higher still start where they fit;
where no ready job waits for cores, a round is as Snakemake's. What waits is what the workflow's
priorities say runs first (``PLAN.training_priority``: the main run's epochs before the other
models', training before the folds); the wait costs the cores running jobs leave meanwhile, and
in return a chain of several-thread epochs runs without gaps. Where cores are not the limit (a
cluster executor) nothing is held back. It assumes the greedy selection (the workflow profile's
``scheduler: greedy``): Snakemake's ILP maximises the sum of the selected priorities, and may pass
over the waiting job again.
"""

from __future__ import annotations

from .snakemake_patch import patch_job_scheduler


def held_back(jobs, free: dict) -> set:
    """The ready ``jobs`` (with ``priority`` and ``scheduler_resources``) a round does not start,
    given the ``free`` resources: taking the jobs by priority as the greedy selection does, the
    first that needs more cores than the jobs before it left, though every other resource it
    needs is free, waits; the jobs of lower priority are held back. None where no job waits for
    cores (unlimited cores: a cluster executor's ``sys.maxsize``)."""
    cores = free.get("_cores")
    if not isinstance(cores, int):
        return set()
    others = {k: v for k, v in free.items() if k not in ("_cores", "_job_count") and isinstance(v, int)}
    for job in sorted(jobs, key=lambda j: -j.priority):
        need = job.scheduler_resources.get("_cores", 0)
        if need <= cores:
            cores -= need
        elif all(job.scheduler_resources.get(k, 0) <= v for k, v in others.items()):
            return {j for j in jobs if j.priority < job.priority}
    return set()


def reserve() -> bool:
    """Make Snakemake's local job selection keep free cores for the highest-priority job that
    waits for them (see the module); False where this Snakemake selects jobs elsewhere (another
    version: its own selection then applies, nothing fails)."""

    def replacement(original):
        def job_selector(self, jobs):
            held = held_back(jobs, self.resources)
            return original(self, [job for job in jobs if job not in held] if held else jobs)

        return job_selector

    return patch_job_scheduler("job_selector", replacement)
