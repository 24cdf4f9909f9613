"""pix2pixHD's part of a training epoch (:mod:`dcesynth.training.epoch` runs the epoch): the seeded
initial networks, and one iteration, a generator step then a discriminator step, in fp32 or
bf16, in one process or as one of several data-parallel processes (:mod:`dcesynth.training.world`).

A state (``dcesynth-gan-state-1``) holds the generator, the discriminator, both Adam optimisers,
the RNG state, the epoch and the training config that shaped it.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import torch

from ...errors import ConfigError
from .. import family_of
from ...training import channels_for, to_cpu
from ...training.checkpoints import read_generator_state
from ...training.perceptual import VGGLoss
from ...training.world import World
from . import LOSS_COLUMNS
from .losses import feature_matching_loss, lsgan_loss
from .networks import build_discriminator, build_generator, freeze_biases_into_instance_norm

log = logging.getLogger("dcesynth")
STATE_FORMAT = "dcesynth-gan-state-1"


def model_options(cfg: dict[str, Any], input_nc: int, output_nc: int) -> dict[str, Any]:
    return {**cfg["generator"], "input_nc": input_nc, "output_nc": output_nc}


def _optimisers(G, D, cfg, lr):
    betas = (float(cfg["beta1"]), 0.999)
    return torch.optim.Adam(G.parameters(), lr=lr, betas=betas), torch.optim.Adam(D.parameters(), lr=lr, betas=betas)


class Pix2PixHDTrainer:
    """Family ``pix2pixHD``'s trainer (:class:`dcesynth.training.epoch.Trainer`)."""

    loss_columns = LOSS_COLUMNS

    @staticmethod
    def initial_state(cfg: dict[str, Any], init_generator: str | None = None) -> dict[str, Any]:
        """Epoch 0: seeded initial networks (or a published generator) and fresh optimisers."""
        input_nc, output_nc = channels_for(cfg)
        torch.manual_seed(int(cfg["seed"]))
        G = build_generator(**model_options(cfg, input_nc, output_nc))
        D = build_discriminator(input_nc + output_nc, **cfg["discriminator"])
        for net in (G, D):  # pix2pixHD's init: conv N(0, 0.02), batch-norm weights N(1, 0.02)
            for m in net.modules():
                if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                    torch.nn.init.normal_(m.weight, 0.0, 0.02)
                elif isinstance(m, torch.nn.BatchNorm2d):
                    torch.nn.init.normal_(m.weight, 1.0, 0.02)
                    torch.nn.init.zeros_(m.bias)
        if init_generator:
            G.load_state_dict(read_generator_state(init_generator)[1])
        opt_G, opt_D = _optimisers(G, D, cfg, cfg["lr"])
        return {
            "format": STATE_FORMAT,
            "epoch": 0,
            "generator": G.state_dict(),
            "discriminator": D.state_dict(),
            "opt_G": opt_G.state_dict(),
            "opt_D": opt_D.state_dict(),
            "rng": torch.get_rng_state(),
            "options": model_options(cfg, input_nc, output_nc),
            "config": cfg,
            "meta": {"torch": str(torch.__version__), "init_generator": init_generator},
        }

    def __init__(self, cfg: dict[str, Any], dev: torch.device, world: World, epoch: int):
        self.cfg, self.dev, self.world = cfg, dev, world
        self.mem = torch.channels_last if dev.type == "cuda" else torch.contiguous_format
        # bf16 autocast only where asked for, on CUDA, and where the family declares it (the authors
        # trained in fp32; CPU is always fp32)
        bf16 = family_of(cfg).bf16 and dev.type == "cuda" and cfg.get("precision", "fp32") == "bf16"
        self.precision = "bf16" if bf16 else "fp32"

    def load(self, state: dict[str, Any]) -> None:
        cfg = self.cfg
        if state["options"] != model_options(cfg, *channels_for(cfg)):
            raise ConfigError("gan.generator / gan.channels / gan.targets differ from the state's; start a new run name")
        self.G = build_generator(**state["options"])
        self.D = build_discriminator(sum(channels_for(cfg)), **cfg["discriminator"])
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["discriminator"])
        for net in (self.G, self.D):  # no output depends on them; their Adam steps would be float noise
            freeze_biases_into_instance_norm(net)
        self.G.to(self.dev, memory_format=self.mem).train()
        self.D.to(self.dev, memory_format=self.mem).train()
        self.opt_G, self.opt_D = _optimisers(self.G, self.D, cfg, float(cfg["lr"]))
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        vgg_cfg = cfg["vgg"]
        self.vgg = None
        if vgg_cfg["mode"] != "off" and float(cfg["lambda_vgg"]) > 0:
            self.vgg = VGGLoss(vgg_cfg["mode"], vgg_cfg.get("weights"), seed=int(cfg["seed"])).to(self.dev, memory_format=self.mem)
            if vgg_cfg["mode"] == "random":
                log.warning("VGG19 perceptual loss with RANDOM (untrained) weights, as configured (gan.vgg.mode: random)")

    def set_lr(self, lr: float) -> None:
        for opt in (self.opt_G, self.opt_D):
            for group in opt.param_groups:
                group["lr"] = lr

    def step(self, x, y, weight: float = 1.0) -> dict[str, float]:
        world = self.world if self.world.size > 1 else None
        values = train_step(self.G, self.D, self.vgg, self.opt_G, self.opt_D, x, y, self.cfg, self.dev, self.mem,
                            bf16=self.precision == "bf16", world=world, weight=weight)  # fmt: skip
        return dict(zip(LOSS_COLUMNS, values))

    @staticmethod
    def postfix(values: dict[str, float]) -> str:
        return f"G={values['G_GAN'] + values['G_feat'] + values['G_VGG']:.3f}, D={0.5 * (values['D_real'] + values['D_fake']):.3f}"

    def state_entries(self, state: dict[str, Any]) -> dict[str, Any]:
        """What the epoch writes into the state: both networks and optimisers, and every precision
        any epoch of this chain ran in (a chain moved between CPU and CUDA under gan.precision: bf16
        shows as fp32+bf16 in the tables)."""
        meta = state.get("meta", {})
        precisions = sorted(set(meta.get("precisions", [])) | {self.precision})
        return {
            "generator": {k: v.detach().cpu() for k, v in self.G.state_dict().items()},
            "discriminator": {k: v.detach().cpu() for k, v in self.D.state_dict().items()},
            "opt_G": to_cpu(self.opt_G.state_dict()),
            "opt_D": to_cpu(self.opt_D.state_dict()),
            "meta": {**meta, "vgg": self.vgg.provenance if self.vgg is not None else {"mode": "off"},
                     "precision": self.precision, "precisions": precisions},  # fmt: skip
        }


def train_step(G, D, vgg, opt_G, opt_D, x, y, cfg, dev, mem=torch.contiguous_format, bf16: bool = False,
               world: World | None = None, weight: float = 1.0):
    """One pix2pixHD iteration (generator step, then discriminator step); returns the 5 loss terms.
    ``bf16``: forward passes under CUDA bf16 autocast (``gan.precision: bf16``); fp32 otherwise.
    ``world``/``weight``: a data-parallel step, this process holding ``weight`` of the global
    batch (``x`` None: no sample of a short last batch); gradients and losses are those of the
    global batch (:mod:`dcesynth.training.distributed`).

    (Skipping D's weight gradients in the generator's backward pass was measured slower on CPU
    with oneDNN, so D is left trainable there; its stale gradients are cleared before D's step.)
    """
    if x is None:
        for net, opt in ((G, opt_G), (D, opt_D)):
            opt.zero_grad(set_to_none=True)
            world.reduce_gradients(net, 0.0)
            opt.step()
        return world.reduce_values(torch.zeros(len(LOSS_COLUMNS), device=dev), 0.0).tolist()
    n_layers = int(cfg["discriminator"]["n_layers_D"])
    lam_gan, lam_feat, lam_vgg = float(cfg["lambda_gan"]), float(cfg["lambda_feat"]), float(cfg["lambda_vgg"])
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 and dev.type == "cuda" else contextlib.nullcontext()
    x = x.to(dev, memory_format=mem, non_blocking=True)
    y = y.to(dev, memory_format=mem, non_blocking=True)
    with autocast:
        fake = G(x)
        pred_real = D(torch.cat([x, y], 1))
        pred_fake_d = D(torch.cat([x, fake.detach()], 1))
        loss_d_real = lsgan_loss(pred_real, True)
        loss_d_fake = lsgan_loss(pred_fake_d, False)
        pred_fake = D(torch.cat([x, fake], 1))
        loss_g_gan = lsgan_loss(pred_fake, True)
        loss_g_feat = feature_matching_loss(pred_fake, pred_real, n_layers) * lam_feat
        loss_g_vgg = vgg(fake.float(), y.float()) * lam_vgg if vgg is not None else torch.zeros((), device=dev)
    loss_g = loss_g_gan * lam_gan + loss_g_feat + loss_g_vgg
    loss_d = 0.5 * (loss_d_real + loss_d_fake)
    opt_G.zero_grad(set_to_none=True)
    loss_g.backward()
    if world is not None:
        world.reduce_gradients(G, weight)
    opt_G.step()
    opt_D.zero_grad(set_to_none=True)
    loss_d.backward()
    if world is not None:
        world.reduce_gradients(D, weight)
    opt_D.step()
    # one device sync per iteration for all five terms
    terms = (loss_g_gan, loss_g_feat, loss_g_vgg, loss_d_real, loss_d_fake)
    values = torch.stack([torch.as_tensor(v, device=dev).detach().float() for v in terms])
    return (world.reduce_values(values, weight) if world is not None else values).tolist()
