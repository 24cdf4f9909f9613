"""One training epoch of a model family (``unet``, ``nca``, ``flow``), from a saved state to a saved
state, as :mod:`dcesynth.gan.train` does for pix2pixHD: the same slice pairs, the same seeded
order and rotations per epoch, the same learning-rate schedule, written atomically only at the
end. So a chain of one job per epoch serves every family, and a killed epoch reruns to the same
result.

``cfg`` holds the training keys of one model: ``family``, ``options`` (the family's keyword
arguments), ``target`` (``post``, or ``subtraction``: the model learns post − pre and synthesis
adds the pre-contrast image back), ``channels``, ``targets``, ``batch_size``, ``lr``, ``beta1``,
``niter``, ``niter_decay``, ``seed``, ``augment``, ``augment_probability``, ``max_pairs_per_epoch`` (optional),
``lambda_perceptual`` and ``vgg`` (``mode``, ``weights``; the perceptual term of the U-Net).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from ..devices import resolve_device
from ..errors import ConfigError, InputError
from ..io import write_table
from ..training import channels_for, learning_rate, to_cpu
from ..gan.data import SlicePairs
from ..gan.state import load_state, save_state
from . import STATE_FORMAT, build_model, n_parameters, save_model

log = logging.getLogger("dcesynth")

TARGETS = ("post", "subtraction")
# the keys of a model's cfg that shape its networks: a state made with others is refused
SHAPE_KEYS = ("family", "options", "target", "channels", "targets")


def to_target(x: torch.Tensor, y: torch.Tensor, target: str) -> torch.Tensor:
    """What the model learns from input ``x`` and post-contrast ``y`` (both in [-1, 1]): ``y``, or
    the subtraction ``(y - x) / 2`` (in [-1, 1]; every input channel is the same grey slice)."""
    return y if target == "post" else (y - x[:, :1]) / 2


def from_target(x: torch.Tensor, t: torch.Tensor, target: str) -> torch.Tensor:
    """The post-contrast image from the model's output ``t`` (the inverse of :func:`to_target`)."""
    return t if target == "post" else (x[:, :1] + 2 * t).clamp(-1.0, 1.0)


class SubtractionModel(nn.Module):
    """A model trained on post − pre, seen from outside as a post-contrast model: ``forward``
    returns the pre-contrast input plus the predicted subtraction."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.input_nc = model.input_nc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return from_target(x, self.model(x), "subtraction")


def _shape(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: cfg.get(k) for k in SHAPE_KEYS}


def _optimiser(model: nn.Module, cfg: dict[str, Any], lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(float(cfg["beta1"]), 0.999))


def init_model_state(cfg: dict[str, Any]) -> dict[str, Any]:
    """Epoch 0: the seeded model and a fresh optimiser."""
    if cfg.get("target", "post") not in TARGETS:
        raise ConfigError(f"model target {cfg.get('target')!r} is not one of {', '.join(TARGETS)}")
    input_nc, output_nc = channels_for(cfg)
    torch.manual_seed(int(cfg["seed"]))
    model = build_model(cfg["family"], cfg.get("options") or {}, input_nc, output_nc)
    return {
        "format": STATE_FORMAT,
        "epoch": 0,
        "model": model.state_dict(),
        "optimiser": _optimiser(model, cfg, float(cfg["lr"])).state_dict(),
        "rng": torch.get_rng_state(),
        "shape": _shape(cfg),
        "config": cfg,
        "meta": {"torch": str(torch.__version__), "parameters": n_parameters(model)},
    }


def _load(state_path: str | Path, epoch: int | None = None) -> dict[str, Any]:
    state = load_state(state_path)
    if state.get("format") != STATE_FORMAT:
        raise InputError(None, state_path, f"not a {STATE_FORMAT} training state")
    if epoch is not None and int(state["epoch"]) != epoch:
        raise InputError(None, state_path, f"holds epoch {state['epoch']}, expected {epoch}")
    return state


def train_model_epoch(
    state_in: str | Path,
    state_out: str | Path,
    losses_out: str | Path,
    pairs: SlicePairs,
    cfg: dict[str, Any],
    epoch: int,
    device: str = "auto",
    threads: int = 1,
) -> dict[str, float]:
    """Train epoch ``epoch`` from the state of ``epoch - 1``; write the new state and the losses
    (one row per iteration: the loss, the family's named terms and the learning rate)."""
    if len(pairs) == 0:
        raise ConfigError("no training slice pairs: the model trains on the cases of split 'train' "
                          "(results/splits/synthesis.tsv); their slices gave no pair (see slices.range)")  # fmt: skip
    dev = resolve_device(device)
    torch.set_num_threads(max(1, int(threads)))
    state = _load(state_in, epoch - 1)
    if state["shape"] != _shape(cfg):
        raise ConfigError(f"the model's family, options, target or channels differ from those of {state_in}; "
                          "start a new run name")  # fmt: skip
    if dev.type != "cuda":
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_rng_state(state["rng"])
    gen = torch.Generator().manual_seed(int(cfg["seed"]) * 100003 + epoch)
    # the family's own draws (flow noise and times, NCA update masks), seeded per epoch
    draws = torch.Generator().manual_seed(int(cfg["seed"]) * 100019 + epoch)

    input_nc, output_nc = channels_for(cfg)
    model = build_model(cfg["family"], cfg.get("options") or {}, input_nc, output_nc)
    model.load_state_dict(state["model"])
    model.to(dev).train()
    lr = learning_rate(epoch, float(cfg["lr"]), int(cfg["niter"]), int(cfg["niter_decay"]))
    opt = _optimiser(model, cfg, lr)
    opt.load_state_dict(state["optimiser"])
    for group in opt.param_groups:
        group["lr"] = lr
    perceptual, lam = None, float(cfg.get("lambda_perceptual", 0) or 0)
    vgg_cfg = cfg.get("vgg") or {"mode": "off"}
    if lam > 0 and vgg_cfg["mode"] != "off":
        from ..gan.losses import VGGLoss

        perceptual = VGGLoss(vgg_cfg["mode"], vgg_cfg.get("weights"), seed=int(cfg["seed"])).to(dev)
    batch = int(cfg["batch_size"])
    limit = cfg.get("max_pairs_per_epoch")
    n_iter = math.ceil((min(len(pairs), int(limit)) if limit else len(pairs)) / batch)
    rows, t0 = [], time.perf_counter()
    bar = tqdm(pairs.batch_indices(batch, gen, float(cfg["augment_probability"]), limit), total=n_iter,
               desc=f"{cfg['family']} epoch {epoch}", mininterval=2.0, ascii=True)  # fmt: skip
    for it, items in enumerate(bar, start=1):
        x, y = (t.to(dev) for t in pairs.load(items))
        loss, terms = model.training_loss(x, to_target(x, y, cfg.get("target", "post")), perceptual, lam, draws)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        values = {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in terms.items()}}
        if not all(math.isfinite(v) for v in values.values()):
            raise FloatingPointError(f"epoch {epoch} iteration {it}: non-finite loss {values}")
        rows.append({"epoch": epoch, "iteration": it, **values, "lr": lr})
        bar.set_postfix(loss=f"{values['loss']:.4f}", refresh=False)
    state.update(
        epoch=epoch,
        model={k: v.detach().cpu() for k, v in model.state_dict().items()},
        optimiser=to_cpu(opt.state_dict()),
        rng=torch.get_rng_state(),
        config=cfg,
    )
    state["meta"] = {**state.get("meta", {}), "device": dev.type, "torch": str(torch.__version__),
                     "perceptual": perceptual.provenance if perceptual is not None else {"mode": "off"}}  # fmt: skip
    table = pd.DataFrame(rows)
    save_state(state, state_out)
    write_table(table, losses_out)
    means = table.drop(columns=["epoch", "iteration", "lr"]).mean().to_dict()
    log.info("%s epoch %d: %d iterations in %.1f s, lr %.2e, mean %s", cfg["family"], epoch, len(rows),
             time.perf_counter() - t0, lr, {k: round(v, 5) for k, v in means.items()})  # fmt: skip
    return means


def export_model(state_path: str | Path, out_path: str | Path) -> None:
    """The model of a training state alone (:func:`dcesynth.models.save_model`), with its epoch and
    target; :func:`dcesynth.models.load_model` returns a post-contrast model either way."""
    state = _load(state_path)
    cfg = state["config"]
    input_nc, output_nc = channels_for(cfg)
    model = build_model(cfg["family"], cfg.get("options") or {}, input_nc, output_nc)
    model.load_state_dict(state["model"])
    save_model(out_path, cfg["family"], cfg.get("options") or {}, model, input_nc, output_nc,
               meta={"epoch": int(state["epoch"]), "target": cfg.get("target", "post"), **state.get("meta", {})})  # fmt: skip
