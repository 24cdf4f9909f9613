"""One pending wake-up of Snakemake's scheduler at a time, instead of one more per finished job.

Snakemake 9's local scheduler runs a scheduling round whenever its semaphore is released: when a
job finishes, and from a timer that its job-rate limiter (``--max-jobs-per-timespan``, default
``100/1s``, always on) starts after every round that had ready jobs, so that rate-limited jobs are
looked at again a timespan later. Each timer's round starts the next timer, and every finished job
adds a round: while jobs wait ready (on a machine whose cores are busy, most of a run), the timers
multiply, one perpetual chain per finished job. On 80 one-second jobs on one core, Snakemake ran
3241 rounds (80 would do); each round re-evaluates every ready job's params and resources and
stats all their inputs. In the demo (354 jobs on 2 cores, 2026-12-07) Snakemake's own process used
218 s and 406 s of CPU in runs of 1368 s and 1441 s (443 s in a variant with more jobs waiting),
most of it in these rounds (190 timer threads alive at once): time the jobs waited for. With one
pending timer: 19 s in 1009 s, and 25 s in 1143 s.

:func:`coalesce` lets a round start a timer only where none is pending that fires as early (the
queue-input wait asks for 10 s, the rate limiter for 1 s: the earlier one gets its timer); the
timers are daemon threads, so Snakemake no longer waits up to a timespan for one at exit. What is
scheduled, and when, stays as it was: a round still follows every finished job at once, and a round
with ready jobs is still followed by another within the delay it asked for.
"""

from __future__ import annotations

import threading
import time

from .snakemake_patch import patch_job_scheduler

# On the scheduler: the lock of its wake-ups, and when the pending one fires (None: none pending)
_LOCK, _DUE = "_dcesynth_wakeup_lock", "_dcesynth_wakeup_due"


def coalesce() -> bool:
    """Make Snakemake's scheduler keep at most one re-evaluation timer pending (another only where
    a round asks for an earlier one); False where this Snakemake has no such timer (another
    version: its own scheduling then applies, nothing fails)."""
    return patch_job_scheduler("_schedule_reevalutation", lambda original: _schedule_reevalutation)


def _schedule_reevalutation(self, delay) -> None:
    lock = self.__dict__.setdefault(_LOCK, threading.Lock())
    due = time.monotonic() + float(delay)
    with lock:
        pending = self.__dict__.get(_DUE)
        if pending is not None and pending <= due:
            return  # a wake-up no later than this one is pending
        self.__dict__[_DUE] = due

    def wake() -> None:
        with lock:
            if self.__dict__.get(_DUE) == due:
                self.__dict__[_DUE] = None
        self._open_jobs.release()

    timer = threading.Timer(delay, wake)
    timer.daemon = True
    timer.start()
