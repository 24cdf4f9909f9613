"""Where a job computes: the one place that turns the `device` key into a torch device, and that
decides whether a job asks the scheduler for a GPU.

`device` is where a job runs, not what it computes: it is never a rule parameter, so switching it
reruns nothing that is done.
"""

from __future__ import annotations

import shutil

from .errors import ConfigError


def wants_gpu(preference: str) -> bool:
    """Whether GPU rules ask the scheduler for a GPU: ``cuda``, or ``auto`` where a driver is
    present (``nvidia-smi`` on the PATH of the machine that plans the run)."""
    return preference == "cuda" or (preference == "auto" and shutil.which("nvidia-smi") is not None)


def job_device(snakemake) -> str:
    """The device preference of a running job, after the decision taken when the run was planned:
    under ``auto`` a job granted no GPU (``gpu=0``, as planned on a machine without a driver)
    runs on the CPU even where its node has one, so the scheduler's count of GPUs holds."""
    preference = snakemake.config["device"]
    if preference == "auto" and int(snakemake.resources.get("gpu", 1)) == 0:
        return "cpu"
    return preference


def resolve_device(preference: str = "auto"):
    """The torch device of a job: CUDA when asked (or available under ``auto``), else the CPU."""
    import torch

    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda was requested but no CUDA device is available (use auto or cpu)")
    return torch.device(preference)
