"""Benchmark of one pix2pixHD training iteration and of inference, paper topology by default.

    python -m dcesynth.bench.train_step --size 256 --ngf 64 --iters 5 --device cpu

Prints ``s_per_iter`` of one training iteration at batch 1 (the paper's) and, with
``--batch B``, seconds per pair at batch B against batch 1 measured in the same run (the two
alternate iteration by iteration); inference seconds per slice at ``--infer-batch`` against
batch 1; and peak memory. Networks are seeded and untrained; the VGG19 is random (its cost is
the same as with pretrained weights).

    python -m dcesynth.bench.train_step --family nca --sizes 256,512 --iters 3 --device cpu

``--family unet|nca|flow`` (:mod:`dcesynth.models`, default options or ``--options JSON``) prints
one line per size instead: parameters, seconds per training iteration at batch 1 (loss, backward
and Adam step) and inference seconds per slice.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch

from ..models import GAN_FAMILY
from ..models.infer import translate
from ..training.perceptual import VGGLoss
from ..models.pix2pixhd.networks import build_discriminator, build_generator
from .. import models
from ..devices import resolve_device
from ..models.pix2pixhd.trainer import _optimisers, train_step


def _peak_mb(dev: torch.device) -> float:
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated(dev) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _time(fn, iters: int, dev: torch.device, warmup: bool = True) -> float:
    if warmup:
        fn()  # warm-up (allocations, cudnn autotuning)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return (time.perf_counter() - t) / iters


def family_lines(family: str, options: dict, sizes: list[int], iters: int, dev: torch.device) -> list[str]:
    from .. import models

    lines = []
    for size in sizes:
        torch.manual_seed(0)
        model = models.build_model(family, options).to(dev).train()
        opt = torch.optim.Adam(model.parameters(), lr=2e-4)
        x, y = (torch.rand(1, 3, size, size, device=dev) * 2 - 1 for _ in range(2))

        def step():
            opt.zero_grad(set_to_none=True)
            model.training_loss(x, y)[0].backward()
            opt.step()

        s_iter = _time(step, iters, dev)
        model.eval()
        with torch.no_grad():
            s_infer = _time(lambda: model(x), iters, dev)
        lines.append(f"family={family} size={size} params={models.n_parameters(model)} s_per_iter={s_iter:.3f} "
                     f"infer_s_per_slice={s_infer:.3f} peak_memory_mb={_peak_mb(dev):.0f}")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--ndf", type=int, default=64)
    ap.add_argument("--n-downsample", type=int, default=4)
    ap.add_argument("--n-blocks", type=int, default=9)
    ap.add_argument("--batch", type=int, default=4, help="batch compared with batch 1 (per pair)")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--infer-batch", type=int, default=8)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="gan.precision (bf16: CUDA only)")
    ap.add_argument("--family", default="pix2pixHD", help="pix2pixHD (default: its GAN step, NVIDIA's order of work), or another "
                    "family of dcesynth.models: unet, nca, flow (its training_loss step)")  # fmt: skip
    ap.add_argument("--options", default="{}", help="the family's options as JSON (default: its defaults)")
    ap.add_argument("--sizes", default="256,512", help="slice sizes of the --family lines")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    if args.family.lower() != GAN_FAMILY.lower():
        for line in family_lines(args.family, json.loads(args.options), [int(v) for v in args.sizes.split(",")],
                                 args.iters, dev):  # fmt: skip
            print(line, flush=True)
        return
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    mem = torch.channels_last if cuda else torch.contiguous_format
    torch.manual_seed(0)
    cfg = {
        "generator": {"ngf": args.ngf, "n_downsample_global": args.n_downsample, "n_blocks_global": args.n_blocks},
        "discriminator": {"ndf": args.ndf, "n_layers_D": 3, "num_D": 2},
        "lambda_gan": 1.0, "lambda_feat": 10.0, "lambda_vgg": 10.0, "lr": 2e-4, "beta1": 0.5,
    }  # fmt: skip
    G = build_generator(input_nc=3, output_nc=3, **cfg["generator"]).to(dev, memory_format=mem).train()
    D = build_discriminator(6, **cfg["discriminator"]).to(dev, memory_format=mem).train()
    vgg = VGGLoss("random", seed=0).to(dev, memory_format=mem)
    opt_G, opt_D = _optimisers(G, D, cfg, cfg["lr"])
    pairs = {b: (torch.rand(b, 3, args.size, args.size) * 2 - 1, torch.rand(b, 3, args.size, args.size) * 2 - 1)
             for b in sorted({1, args.batch})}  # fmt: skip
    per_iter = {b: 0.0 for b in pairs}
    # Alternate the variants iteration by iteration so drift (thermal, other load) hits both alike.
    for i in range(args.iters):
        for b, (x, y) in pairs.items():
            step = lambda: train_step(G, D, vgg, opt_G, opt_D, x, y, cfg, dev, mem, bf16=args.precision == "bf16")  # noqa: E731
            per_iter[b] += _time(step, 1, dev, warmup=i == 0) / args.iters
    peak_train = _peak_mb(dev)
    G.eval()
    rng = np.random.default_rng(0)
    slices = rng.integers(0, 256, (max(args.infer_batch, 8), args.size, args.size), dtype=np.uint8)
    infer_1 = _time(lambda: translate(G, slices, 1), 1, dev) / len(slices)
    infer_b = _time(lambda: translate(G, slices, args.infer_batch), 1, dev) / len(slices)
    n_params = sum(p.numel() for p in G.parameters()) / 1e6
    print(f"device={dev.type} size={args.size} ngf={args.ngf} n_downsample={args.n_downsample} "
          f"n_blocks={args.n_blocks} generator_params_M={n_params:.1f} threads={torch.get_num_threads()} "
          f"precision={args.precision if cuda else 'fp32'}")  # fmt: skip
    print(f"s_per_iter={per_iter[1]:.3f} (batch 1)")
    if args.batch != 1:
        ratio = per_iter[args.batch] / args.batch / per_iter[1]
        print(f"s_per_pair_batch{args.batch}={per_iter[args.batch] / args.batch:.3f} ratio_vs_batch1={ratio:.2f}")
    print(f"peak_memory_mb={peak_train:.0f}")
    print(f"infer_s_per_slice={infer_b:.4f} (batch {args.infer_batch}) slices_per_s={1 / infer_b:.1f} "
          f"ratio_vs_batch1={infer_b / infer_1:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
