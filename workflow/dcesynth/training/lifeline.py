"""A process's life tied to its parent's (Linux), imported before anything heavy."""

from __future__ import annotations

import ctypes
import signal


def die_with_parent() -> None:
    """Linux: this process gets SIGKILL when its parent dies (kept across exec)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
