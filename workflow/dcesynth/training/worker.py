"""Entry of one data-parallel training process, started by ``torchrun`` (see
:mod:`dcesynth.training.distributed`).

It ties its life to its parent's before anything heavy is imported: a worker whose launcher is
killed while it starts exits at once instead of waiting in ``init_process_group`` for peers that
will never come (holding its GPU until the rendezvous times out).
"""

from __future__ import annotations

import os
import sys

from .lifeline import die_with_parent


if __name__ == "__main__":
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    from .distributed import worker

    worker(sys.argv[1])
