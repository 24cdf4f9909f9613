"""Training, for every model family: the slice pairs (:mod:`.data`), the perceptual loss
(:mod:`.perceptual`), checkpoints that name their family and format (:mod:`.checkpoints`), the one
per-epoch driver (:mod:`.epoch`), the further families' trainer (:mod:`.regression`), data-parallel
epochs (:mod:`.world`, :mod:`.distributed`, :mod:`.worker`) and the training reports
(:mod:`.report`).

This module holds what they share, without importing torch (a training process's entry,
:mod:`.worker`, ties its life to its parent's before anything heavy is imported): the channels,
the learning-rate schedule and moving optimiser states to the CPU."""

from __future__ import annotations


def channels_for(cfg: dict) -> tuple[int, int]:
    """Input and output channels: ``channels`` (1, or 3 as the paper stacks the grey slice) in;
    that many out for one target, one per target phase for several."""
    c = int(cfg["channels"])
    return c, (c if len(cfg["targets"]) == 1 else len(cfg["targets"]))


def learning_rate(epoch: int, lr: float, niter: int, niter_decay: int) -> float:
    """NVIDIA's schedule: ``lr`` for epochs 1..niter+1, then linear towards 0 over ``niter_decay``."""
    if niter_decay <= 0 or epoch <= niter + 1:
        return lr
    return lr * max(0.0, 1.0 - (epoch - niter - 1) / niter_decay)


def to_cpu(obj):
    """An optimiser's state dict (nested tensors) with every tensor on the CPU, for a state file."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj
