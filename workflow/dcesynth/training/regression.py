"""The trainer of the families that regress their target with one network and one optimiser
(``unet``, ``nca``, ``flow``): each iteration is the model's own ``training_loss`` and one Adam step.

``cfg`` holds the training keys of one model: ``family``, ``options`` (the family's keyword
arguments), ``target`` (``post``, or ``subtraction``: the model learns post − pre and synthesis
adds the pre-contrast image back), ``channels``, ``targets``, ``batch_size``, ``lr``, ``beta1``,
``niter``, ``niter_decay``, ``seed``, ``augment``, ``augment_probability``, ``max_pairs_per_epoch``
(optional), ``lambda_perceptual`` and ``vgg`` (``mode``, ``weights``; the perceptual term).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ..models import STATE_FORMAT, build_model, n_parameters
from ..models.targets import TARGETS, to_target
from . import channels_for, to_cpu
from .world import World

# the keys of a model's cfg that shape its networks: a state made with others is refused
SHAPE_KEYS = ("family", "options", "target", "channels", "targets")


def _shape(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: cfg.get(k) for k in SHAPE_KEYS}


def _optimiser(model: nn.Module, cfg: dict[str, Any], lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(float(cfg["beta1"]), 0.999))


def _model(cfg: dict[str, Any]) -> nn.Module:
    input_nc, output_nc = channels_for(cfg)
    return build_model(cfg["family"], cfg.get("options") or {}, input_nc, output_nc)


class RegressionTrainer:
    """:class:`dcesynth.training.epoch.Trainer` of ``unet``, ``nca`` and ``flow``: the loss and the
    family's named terms."""

    loss_columns = None

    @staticmethod
    def initial_state(cfg: dict[str, Any], init_generator: str | None = None) -> dict[str, Any]:
        if cfg.get("target", "post") not in TARGETS:
            raise ConfigError(f"model target {cfg.get('target')!r} is not one of {', '.join(TARGETS)}")
        torch.manual_seed(int(cfg["seed"]))
        model = _model(cfg)
        return {
            "format": STATE_FORMAT,
            "family": cfg["family"],
            "epoch": 0,
            "model": model.state_dict(),
            "optimiser": _optimiser(model, cfg, float(cfg["lr"])).state_dict(),
            "rng": torch.get_rng_state(),
            "shape": _shape(cfg),
            "config": cfg,
            "meta": {"torch": str(torch.__version__), "parameters": n_parameters(model)},
        }

    def __init__(self, cfg: dict[str, Any], dev: torch.device, world: World, epoch: int):
        if world.size > 1:
            raise ConfigError(f"{cfg['family']} trains in one process")
        self.cfg, self.dev = cfg, dev
        # the family's own draws (flow noise and times, NCA update masks), seeded per epoch
        self.draws = torch.Generator().manual_seed(int(cfg["seed"]) * 100019 + epoch)

    def load(self, state: dict[str, Any]) -> None:
        cfg = self.cfg
        if state["shape"] != _shape(cfg):
            raise ConfigError("the model's family, options, target or channels differ from those of its state; "
                              "start a new run name")  # fmt: skip
        self.model = _model(cfg)
        self.model.load_state_dict(state["model"])
        self.model.to(self.dev).train()
        self.opt = _optimiser(self.model, cfg, float(cfg["lr"]))
        self.opt.load_state_dict(state["optimiser"])
        self.perceptual, self.lam = None, float(cfg.get("lambda_perceptual", 0) or 0)
        vgg_cfg = cfg.get("vgg") or {"mode": "off"}
        if self.lam > 0 and vgg_cfg["mode"] != "off":
            from .perceptual import VGGLoss

            self.perceptual = VGGLoss(vgg_cfg["mode"], vgg_cfg.get("weights"), seed=int(cfg["seed"])).to(self.dev)

    def set_lr(self, lr: float) -> None:
        for group in self.opt.param_groups:
            group["lr"] = lr

    def step(self, x, y, weight: float = 1.0) -> dict[str, float]:
        x, y = x.to(self.dev), y.to(self.dev)
        target = to_target(x, y, self.cfg.get("target", "post"))
        loss, terms = self.model.training_loss(x, target, self.perceptual, self.lam, self.draws)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in terms.items()}}

    @staticmethod
    def postfix(values: dict[str, float]) -> str:
        return f"loss={values['loss']:.4f}"

    def state_entries(self, state: dict[str, Any]) -> dict[str, Any]:
        perceptual = self.perceptual.provenance if self.perceptual is not None else {"mode": "off"}
        return {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimiser": to_cpu(self.opt.state_dict()),
            "meta": {**state.get("meta", {}), "perceptual": perceptual},
        }
