"""One training epoch of any model family, from a saved state to a saved state.

A state (``epoch_{e}.pt``) holds the family's networks and optimisers, the RNG state, the epoch and
the training config that shaped it, so epoch ``e+1`` continues exactly where epoch ``e`` ended. The
epoch is the same for every family: the slice pairs, the seeded order and rotations, the
learning-rate schedule, the progress bar, the loss check, the atomic save (only at the end) and the
loss table; a killed epoch writes nothing and reruns to the same result. A family supplies its
:class:`Trainer` (``dcesynth.models.Family.trainer``), as nnU-Net's trainers supply ``train_step``.
States are loaded with ``weights_only=True``; a corrupt or truncated one is refused with a message.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import torch
from tqdm import tqdm

from ..devices import resolve_device
from ..errors import ConfigError, InputError
from ..io import write_table
from .. import load_object
from ..models import LEGACY_FORMATS, family_of
from . import learning_rate
from .checkpoints import load_state, save_state
from .data import SlicePairs
from .world import World

log = logging.getLogger("dcesynth")


class Trainer(Protocol):
    """A family's part of an epoch. ``loss_columns``: the loss table's columns (None: those of the
    first iteration's values)."""

    loss_columns: list[str] | None

    @staticmethod
    def initial_state(cfg: dict[str, Any], init_generator: str | None = None) -> dict[str, Any]:
        """Epoch 0: ``format``, ``epoch``, the seeded networks and fresh optimisers, ``rng``,
        ``config`` and ``meta``."""

    def __init__(self, cfg: dict[str, Any], dev: torch.device, world: World, epoch: int): ...

    def load(self, state: dict[str, Any]) -> None:
        """Networks and optimisers from ``state``; ConfigError where the config shapes others."""

    def set_lr(self, lr: float) -> None: ...

    def step(self, x: torch.Tensor | None, y: torch.Tensor | None, weight: float = 1.0) -> dict[str, float]:
        """One iteration with its optimiser steps on a batch (this process's ``weight`` share of
        the global batch; ``x`` None: no sample of a short last batch); its loss values."""

    def postfix(self, values: dict[str, float]) -> str: ...

    def state_entries(self, state: dict[str, Any]) -> dict[str, Any]:
        """The networks, optimisers and ``meta`` to write into the state."""


def trainer_class(cfg: dict[str, Any]):
    return load_object(family_of(cfg).trainer)


def init_state(cfg: dict[str, Any], init_generator: str | None = None) -> dict[str, Any]:
    """Epoch 0 of ``cfg``'s family (``init_generator``: a published generator to start from)."""
    return trainer_class(cfg).initial_state(cfg, init_generator)


def train_epoch(
    state_in: str | Path,
    state_out: str | Path,
    losses_out: str | Path,
    pairs: SlicePairs,
    cfg: dict[str, Any],
    epoch: int,
    device: str = "auto",
    threads: int = 1,
    world: World | None = None,
) -> dict[str, float]:
    """Train epoch ``epoch`` from the state of ``epoch - 1``; write the new state and the losses
    (one row per iteration: the family's loss terms and the learning rate).

    ``cfg["batch_size"]`` is the global batch. ``world``: this process's place among the training
    processes of :mod:`dcesynth.training.distributed` (each trains on its share of every global
    batch; only rank 0 writes); None: one process."""
    world = world or World()
    family = family_of(cfg)
    if len(pairs) == 0:
        raise ConfigError(f"{family.name}: no training slice pairs. Models train on the cases of split 'train' "
                          "(results/splits/synthesis.tsv); their slices gave no pair (see slices.range)")  # fmt: skip
    global_batch = int(cfg["batch_size"])
    if global_batch % world.size:
        raise ConfigError(f"a global batch of {global_batch} does not divide among {world.size} processes")
    per_process = global_batch // world.size
    dev = resolve_device(device)
    torch.set_num_threads(max(1, int(threads) // world.size))
    state = load_state(state_in)
    if state.get("format") in LEGACY_FORMATS:
        raise InputError(None, state_in, f"a training state of an earlier version of the {family.name} family "
                         f"({state['format']}); delete the run's folder and rerun, to train it again from epoch 1")  # fmt: skip
    if state.get("format") != family.state_format:
        raise InputError(None, state_in, f"not a {family.state_format} training state ({family.name})")
    if int(state["epoch"]) != epoch - 1:
        raise InputError(None, state_in, f"holds epoch {state['epoch']}, expected {epoch - 1}")
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_rng_state(state["rng"])
    order = torch.Generator().manual_seed(int(cfg["seed"]) * 100003 + epoch)
    trainer = load_object(family.trainer)(cfg, dev, world, epoch)
    trainer.load(state)
    lr = learning_rate(epoch, float(cfg["lr"]), int(cfg["niter"]), int(cfg["niter_decay"]))
    trainer.set_lr(lr)
    limit = cfg.get("max_pairs_per_epoch")
    n_iter = math.ceil((min(len(pairs), int(limit)) if limit else len(pairs)) / global_batch)
    rows, t0 = [], time.perf_counter()
    bar = tqdm(pairs.batch_indices(global_batch, order, float(cfg["augment_probability"]), limit), total=n_iter,
               desc=f"{family.name} epoch {epoch}", mininterval=2.0, ascii=True, disable=not world.main)  # fmt: skip
    for it, items in enumerate(bar, start=1):
        share = items[world.share(len(items), per_process)]
        x, y = pairs.load(share) if share else (None, None)
        values = trainer.step(x, y, weight=len(share) / len(items))
        if not all(math.isfinite(v) for v in values.values()):
            raise FloatingPointError(f"epoch {epoch} iteration {it}: non-finite loss {values}")
        rows.append({"epoch": epoch, "iteration": it, **values, "lr": lr})
        bar.set_postfix_str(trainer.postfix(values), refresh=False)
    seconds = time.perf_counter() - t0
    if not world.main:
        return {}
    entries = trainer.state_entries(state)
    meta = entries.pop("meta")
    state.update(epoch=epoch, rng=torch.get_rng_state(), config=cfg, **entries)
    state["meta"] = {**meta, "device": dev.type, "processes": world.size, "torch": str(torch.__version__)}
    columns = trainer.loss_columns or [k for k in rows[0] if k not in ("epoch", "iteration", "lr")]
    table = pd.DataFrame(rows, columns=["epoch", "iteration", *columns, "lr"])
    save_state(state, state_out)
    write_table(table, losses_out)
    means = table[columns].mean().to_dict()
    log.info("%s epoch %d: %d iterations in %.1f s (%d process%s), lr %.2e, mean losses %s", family.name, epoch,
             len(rows), seconds, world.size, "es" if world.size > 1 else "", lr,
             {k: round(v, 5) for k, v in means.items()})  # fmt: skip
    return means
