"""Benchmark of one pix2pixHD training iteration and of inference, paper topology by default.

    python -m dcesynth.bench.train_step --size 256 --ngf 64 --iters 5 --device cpu

Prints ``s_per_iter`` for our training step and for the baseline measured in the same run
(NVIDIA's order of work: the discriminator's weight gradients are computed in the generator's
backward pass too), their ratio, inference seconds per slice, and peak memory. Networks are
seeded and untrained; the VGG19 is random (the cost is the same as with pretrained weights).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from ..gan.infer import translate
from ..gan.losses import VGGLoss
from ..gan.networks import build_discriminator, build_generator
from ..gan.train import _optimisers, resolve_device, train_step


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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--ndf", type=int, default=64)
    ap.add_argument("--n-downsample", type=int, default=4)
    ap.add_argument("--n-blocks", type=int, default=9)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--infer-batch", type=int, default=8)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
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
    x = torch.rand(args.batch, 3, args.size, args.size) * 2 - 1
    y = torch.rand(args.batch, 3, args.size, args.size) * 2 - 1

    # Alternate the two variants iteration by iteration so drift (thermal, other load) hits both alike.
    ours = base = 0.0
    for _ in range(args.iters):
        ours += _time(lambda: train_step(G, D, vgg, opt_G, opt_D, x, y, cfg, dev, mem), 1, dev, warmup=_ == 0)
        base += _time(lambda: train_step(G, D, vgg, opt_G, opt_D, x, y, cfg, dev, mem, freeze_d=False), 1, dev, warmup=_ == 0)
    ours, base = ours / args.iters, base / args.iters
    peak_train = _peak_mb(dev)
    G.eval()
    slices = np.random.default_rng(0).integers(0, 256, (max(args.infer_batch, 8), args.size, args.size), dtype=np.uint8)
    infer = _time(lambda: translate(G, slices, args.infer_batch), max(1, args.iters // 2), dev) / len(slices)
    n_params = sum(p.numel() for p in G.parameters()) / 1e6
    print(f"device={dev.type} size={args.size} ngf={args.ngf} n_downsample={args.n_downsample} "
          f"n_blocks={args.n_blocks} batch={args.batch} generator_params_M={n_params:.1f} threads={torch.get_num_threads()}")  # fmt: skip
    print(f"s_per_iter={ours:.3f}")
    print(f"baseline_s_per_iter={base:.3f} (D weight gradients computed in G's backward, as NVIDIA's code)")
    print(f"speedup_vs_baseline={base / ours:.2f}")
    print(f"peak_memory_mb={peak_train:.0f}")
    print(f"infer_s_per_slice={infer:.4f} (batch {args.infer_batch}) slices_per_s={1 / infer:.1f}")


if __name__ == "__main__":
    main()
