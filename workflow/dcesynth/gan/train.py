"""Training pix2pixHD one epoch per call, from a saved state to a saved state.

A state (``epoch_{e}.pt``) holds the generator, the discriminator, both Adam optimisers, the RNG
state, the epoch and the training config that shaped it, so epoch ``e+1`` continues exactly
where epoch ``e`` ended. States are written atomically and loaded with ``weights_only=True``; a
corrupt or truncated state is refused with a message, never loaded half.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from ..devices import resolve_device
from ..errors import ConfigError, InputError
from ..io import write_table
from ..training import channels_for, learning_rate, to_cpu
from .data import SlicePairs
from .distributed import World
from .losses import LOSS_COLUMNS, VGGLoss, feature_matching_loss, lsgan_loss
from .networks import build_discriminator, build_generator, freeze_biases_into_instance_norm
from .state import load_state, read_generator_state, save_state

log = logging.getLogger("dcesynth")


def model_options(cfg: dict[str, Any], input_nc: int, output_nc: int) -> dict[str, Any]:
    return {**cfg["generator"], "input_nc": input_nc, "output_nc": output_nc}


def init_state(cfg: dict[str, Any], init_generator: str | None = None) -> dict[str, Any]:
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
        "format": "dcesynth-gan-state-1",
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


def _optimisers(G, D, cfg, lr):
    betas = (float(cfg["beta1"]), 0.999)
    return torch.optim.Adam(G.parameters(), lr=lr, betas=betas), torch.optim.Adam(D.parameters(), lr=lr, betas=betas)


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
    """Train epoch ``epoch`` from the state of ``epoch - 1``; write the new state and the losses.

    ``cfg["batch_size"]`` is the global batch. ``world``: this process's place among the training
    processes of :mod:`dcesynth.gan.distributed` (each trains on its share of every global batch;
    only rank 0 writes); None: one process."""
    world = world or World()
    if len(pairs) == 0:
        raise ConfigError("gan: no training slice pairs. The GAN trains on the cases of split 'train' "
                          "(results/splits/synthesis.tsv); their slices gave no pair (see slices.range)")  # fmt: skip
    global_batch = int(cfg["batch_size"])
    if global_batch % world.size:
        raise ConfigError(f"a global batch of {global_batch} does not divide among {world.size} processes")
    per_process = global_batch // world.size
    dev = resolve_device(device)
    torch.set_num_threads(max(1, int(threads) // world.size))
    state = load_state(state_in)
    if int(state["epoch"]) != epoch - 1:
        raise InputError(None, state_in, f"holds epoch {state['epoch']}, expected {epoch - 1}")
    if state["options"] != model_options(cfg, *channels_for(cfg)):
        raise ConfigError("gan.generator / gan.channels / gan.targets differ from the state's; start a new run name")
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_rng_state(state["rng"])
    gen = torch.Generator().manual_seed(int(cfg["seed"]) * 100003 + epoch)

    G = build_generator(**state["options"])
    D = build_discriminator(sum(channels_for(cfg)), **cfg["discriminator"])
    G.load_state_dict(state["generator"])
    D.load_state_dict(state["discriminator"])
    for net in (G, D):  # no output depends on them; their Adam steps would be float noise
        freeze_biases_into_instance_norm(net)
    mem = torch.channels_last if cuda else torch.contiguous_format
    G.to(dev, memory_format=mem).train()
    D.to(dev, memory_format=mem).train()
    lr = learning_rate(epoch, float(cfg["lr"]), int(cfg["niter"]), int(cfg["niter_decay"]))
    opt_G, opt_D = _optimisers(G, D, cfg, lr)
    opt_G.load_state_dict(state["opt_G"])
    opt_D.load_state_dict(state["opt_D"])
    for opt in (opt_G, opt_D):
        for group in opt.param_groups:
            group["lr"] = lr
    vgg_cfg = cfg["vgg"]
    vgg = None
    if vgg_cfg["mode"] != "off" and float(cfg["lambda_vgg"]) > 0:
        vgg = VGGLoss(vgg_cfg["mode"], vgg_cfg.get("weights"), seed=int(cfg["seed"])).to(dev, memory_format=mem)
        if vgg_cfg["mode"] == "random":
            log.warning("VGG19 perceptual loss with RANDOM (untrained) weights, as configured (gan.vgg.mode: random)")
    # bf16 autocast only where asked for and on CUDA (the authors trained in fp32; CPU is always fp32)
    precision = "bf16" if cuda and cfg.get("precision", "fp32") == "bf16" else "fp32"
    limit = cfg.get("max_pairs_per_epoch")
    n_pairs = min(len(pairs), int(limit)) if limit else len(pairs)
    n_iter = math.ceil(n_pairs / global_batch)
    rows = []
    t0 = time.perf_counter()
    bar = tqdm(
        pairs.batch_indices(global_batch, gen, float(cfg["augment_probability"]), limit),
        total=n_iter, desc=f"epoch {epoch}", mininterval=2.0, ascii=True, disable=not world.main,
    )  # fmt: skip
    for it, items in enumerate(bar, start=1):
        if world.size == 1:
            x, y = pairs.load(items)
            values = train_step(G, D, vgg, opt_G, opt_D, x, y, cfg, dev, mem, bf16=precision == "bf16")
        else:
            share = items[world.share(len(items), per_process)]
            x, y = pairs.load(share) if share else (None, None)
            values = train_step(G, D, vgg, opt_G, opt_D, x, y, cfg, dev, mem, bf16=precision == "bf16",
                                world=world, weight=len(share) / len(items))  # fmt: skip
        if not all(math.isfinite(v) for v in values):
            raise FloatingPointError(f"epoch {epoch} iteration {it}: non-finite loss {values}")
        rows.append({"epoch": epoch, "iteration": it, **dict(zip(LOSS_COLUMNS, values)), "lr": lr})
        bar.set_postfix(G=f"{values[0] + values[1] + values[2]:.3f}", D=f"{0.5 * (values[3] + values[4]):.3f}", refresh=False)
    seconds = time.perf_counter() - t0
    if not world.main:
        return {}

    state.update(
        epoch=epoch,
        generator={k: v.detach().cpu() for k, v in G.state_dict().items()},
        discriminator={k: v.detach().cpu() for k, v in D.state_dict().items()},
        opt_G=to_cpu(opt_G.state_dict()),
        opt_D=to_cpu(opt_D.state_dict()),
        rng=torch.get_rng_state(),
        config=cfg,
    )
    # every precision any epoch of this chain ran in: a chain moved between CPU and CUDA under
    # gan.precision: bf16 shows as fp32+bf16 in the tables
    meta = state.get("meta", {})
    precisions = sorted(set(meta.get("precisions", [])) | {precision})
    state["meta"] = {**meta, "vgg": vgg.provenance if vgg is not None else {"mode": "off"}, "device": dev.type,
                     "precision": precision, "precisions": precisions, "processes": world.size,
                     "torch": str(torch.__version__)}  # fmt: skip
    table = pd.DataFrame(rows, columns=["epoch", "iteration", *LOSS_COLUMNS, "lr"])
    save_state(state, state_out)
    write_table(table, losses_out)
    means = table[LOSS_COLUMNS].mean().to_dict()
    log.info("epoch %d: %d iterations in %.1f s (%d process%s), lr %.2e, mean losses %s", epoch, len(rows), seconds,
             world.size, "es" if world.size > 1 else "", lr, {k: round(v, 4) for k, v in means.items()})  # fmt: skip
    return means


def train_step(G, D, vgg, opt_G, opt_D, x, y, cfg, dev, mem=torch.contiguous_format, bf16: bool = False,
               world: World | None = None, weight: float = 1.0):
    """One pix2pixHD iteration (generator step, then discriminator step); returns the 5 loss terms.
    ``bf16``: forward passes under CUDA bf16 autocast (``gan.precision: bf16``); fp32 otherwise.
    ``world``/``weight``: a data-parallel step, this process holding ``weight`` of the global
    batch (``x`` None: no sample of a short last batch); gradients and losses are those of the
    global batch (:mod:`dcesynth.gan.distributed`).

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
