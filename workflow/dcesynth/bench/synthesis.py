"""Benchmark of volume synthesis: slices per second by batch size, and the inverse transform.

    python -m dcesynth.bench.synthesis --size 512 --ngf 64 --slices 32 --device cpu

Translates a seeded random slice stack with a seeded (untrained) generator at each batch size and
puts it back on a 448×448 input grid; prints slices/s per batch size, the best batch and its
ratio against batch 1 measured in the same run, and the share of time spent in the inverse
transform.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import SimpleITK as sitk
import torch

from ..models.pix2pixhd.networks import build_generator
from ..devices import resolve_device
from ..slices import plan_transform
from ..synthesis import stack_to_volume, synthetic_stacks


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--n-downsample", type=int, default=4)
    ap.add_argument("--n-blocks", type=int, default=9)
    ap.add_argument("--slices", type=int, default=32)
    ap.add_argument("--batches", default="1,4,8,16")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    dev = resolve_device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    G = build_generator(ngf=args.ngf, n_downsample_global=args.n_downsample, n_blocks_global=args.n_blocks)
    G = G.to(dev).eval()
    if dev.type == "cuda":
        G = G.to(memory_format=torch.channels_last)
    stack = np.random.default_rng(0).integers(0, 256, (args.slices, args.size, args.size), dtype=np.uint8)
    ref = sitk.Image(448, 448, args.slices, sitk.sitkFloat32)
    ref.SetSpacing((0.75, 0.75, 1.1))
    transform = plan_transform(ref, args.size)
    rates = {}
    for b in [int(v) for v in args.batches.split(",")]:
        synthetic_stacks(G, stack[: min(b, len(stack))], 1, b)  # warm-up
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        (out,) = synthetic_stacks(G, stack, 1, b)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        rates[b] = args.slices / (time.perf_counter() - t)
        print(f"batch={b} slices_per_s={rates[b]:.2f}")
    t = time.perf_counter()
    stack_to_volume(out, transform, ref)
    t_inverse = time.perf_counter() - t
    best = max(rates, key=rates.get)
    print(f"device={dev.type} size={args.size} ngf={args.ngf} best_batch={best} slices_per_s={rates[best]:.2f} "
          f"ratio_vs_batch1={rates[best] / rates[min(rates)]:.2f}")  # fmt: skip
    print(f"inverse_transform_s={t_inverse:.3f} share_of_volume_time={t_inverse / (t_inverse + args.slices / rates[best]):.3f}")


if __name__ == "__main__":
    main()
