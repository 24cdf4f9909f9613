"""One method of Snakemake's local job scheduler replaced, once per process (the scheduling patches
:mod:`.scheduler_wakeups` and :mod:`.core_reservation` call it from the Snakefile)."""

from __future__ import annotations

from typing import Callable

_PATCHED = "_dcesynth_patched"


def patch_job_scheduler(method: str, replacement: Callable[[Callable], Callable]) -> bool:
    """Replace ``JobScheduler.<method>`` with ``replacement(original)``; again a no-op. False where
    this Snakemake has no such method (another version: its own scheduling applies, nothing fails)."""
    try:
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:
        return False
    original = getattr(JobScheduler, method, None)
    if original is None:
        return False
    if getattr(original, _PATCHED, False):
        return True
    new = replacement(original)
    setattr(new, _PATCHED, True)
    setattr(JobScheduler, method, new)
    return True
