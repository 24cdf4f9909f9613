"""Entry of one data-parallel GAN training process, started by ``torchrun`` (see
:mod:`dcesynth.gan.distributed`).

It ties its life to its parent's before anything heavy is imported: a worker whose launcher is
killed while it starts exits at once instead of waiting in ``init_process_group`` for peers that
will never come (holding its GPU until the rendezvous times out).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys


def die_with_parent() -> None:
    """Linux: this process gets SIGKILL when its parent dies (kept across exec)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    from .gan.distributed import worker

    worker(sys.argv[1])
