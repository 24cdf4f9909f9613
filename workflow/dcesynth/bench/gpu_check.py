"""Every CUDA path of the project on a small case, one line each: what to run first on a GPU machine.

    python -m dcesynth.bench.gpu_check                      # CUDA: the paper's topology
    python -m dcesynth.bench.gpu_check --device cpu --size 64 --ngf 8 --paper-size 32   # CI

Paths (each prints ``path=… status=ok|failed|skipped`` with its figures and goes on after a failure):

- ``train_fp32``, ``train_bf16``: pix2pixHD training iterations (``dcesynth.models.pix2pixhd.trainer.train_step``)
  at ``--size`` (channels-last on CUDA; bf16 autocast is CUDA-only, skipped on CPU);
- ``distributed``: one 2-process data-parallel epoch (``gan.processes: 2``) through torchrun:
  NCCL with one GPU each where two GPUs exist (skipped with one), gloo on CPU;
- ``synthesis``: translating a volume's slice stack with an exported generator;
- ``fid_inception``, ``fid_radimagenet``, ``lpips``: the metric networks' features (seeded
  untrained networks; the cost is that of the pretrained ones);
- ``nnunet``: nnU-Net planning of a 6-case 16x32x32 dataset and one fold epoch with the
  rehearsal trainer (2 iterations);
- ``paper``: pix2pixHD at ``--paper-size`` (the paper's 512 px, ngf 64, batch 1): iterations/s, and
  the projected hours of one epoch and of the 200-epoch protocol over Duke's GAN training pairs
  (668 cases x 196 slices, from the split sheet and the paper's slice range).

Figures: seconds per iteration, images/s and peak memory (GPU: ``max_memory_allocated`` of the
path in this process, so not the 2-process epoch's workers; CPU: the process's peak RSS so far).
Exit status 1 when a path failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from ..devices import resolve_device
from .train_step import _peak_mb

# Duke's GAN training pairs: the split sheet's training cases x the paper's slices 1-196
DUKE_SLICES_PER_CASE = 196
PAPER_EPOCHS = 200


def duke_training_pairs() -> int:
    import pandas as pd

    sheet = Path(__file__).resolve().parents[3] / "resources" / "duke_split.tsv"
    table = pd.read_csv(sheet, sep="\t", dtype=str)
    return int((table["synthesis_split"] == "train").sum()) * DUKE_SLICES_PER_CASE


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _gan_cfg(ngf: int, ndf: int, n_down: int, n_blocks: int) -> dict:
    return {
        "generator": {"ngf": ngf, "n_downsample_global": n_down, "n_blocks_global": n_blocks},
        "discriminator": {"ndf": ndf, "n_layers_D": 3, "num_D": 2},
        "lambda_gan": 1.0, "lambda_feat": 10.0, "lambda_vgg": 10.0, "lr": 2e-4, "beta1": 0.5,
    }  # fmt: skip


def train_iterations(dev, size: int, cfg: dict, iters: int, batch: int = 1, bf16: bool = False) -> dict:
    """Seconds per pix2pixHD training iteration (after one warm-up iteration)."""
    from ..training.perceptual import VGGLoss
    from ..models.pix2pixhd.networks import build_discriminator, build_generator
    from ..models.pix2pixhd.trainer import _optimisers, train_step

    cuda = dev.type == "cuda"
    mem = torch.channels_last if cuda else torch.contiguous_format
    torch.manual_seed(0)
    G = build_generator(input_nc=3, output_nc=3, **cfg["generator"]).to(dev, memory_format=mem).train()
    D = build_discriminator(6, **cfg["discriminator"]).to(dev, memory_format=mem).train()
    vgg = VGGLoss("random", seed=0).to(dev, memory_format=mem)
    opt_G, opt_D = _optimisers(G, D, cfg, cfg["lr"])
    x, y = (torch.rand(batch, 3, size, size) * 2 - 1 for _ in range(2))
    step = lambda: train_step(G, D, vgg, opt_G, opt_D, x, y, cfg, dev, mem, bf16=bf16)  # noqa: E731
    step()
    _sync(dev)
    t = time.perf_counter()
    for _ in range(iters):
        values = step()
    _sync(dev)
    s = (time.perf_counter() - t) / iters
    if not all(np.isfinite(values)):
        raise FloatingPointError(f"non-finite losses {values}")
    return {"s_per_iter": s, "images_per_s": batch / s}


def distributed_epoch(dev, workdir: Path, threads: int) -> dict:
    """One 2-process epoch of 8 pairs at 32 px (global batch 4) through torchrun."""
    from ..training import checkpoints as S
    from ..training import epoch as T
    from ..training.manifest import write_manifest
    from ..training.distributed import run_epoch

    rng = np.random.default_rng(0)
    files = {}
    for case in ("a", "b"):
        pre = rng.integers(0, 200, (4, 32, 32), dtype=np.uint8)
        for seq, arr in (("pre", pre), ("post1", np.clip(pre.astype(int) + 40, 0, 255).astype(np.uint8))):
            np.save(workdir / f"{case}_{seq}.npy", arr)
            files.setdefault(case, {})[seq] = str(workdir / f"{case}_{seq}.npy")
    write_manifest(files, workdir / "pairs.tsv")
    cfg = {**_gan_cfg(4, 4, 2, 1), "input": "pre", "targets": ["post1"], "channels": 3, "seed": 0,
           "vgg": {"mode": "random", "weights": None}, "niter": 1, "niter_decay": 0, "batch_size": 4,
           "augment": "rot90", "augment_probability": 0.5, "max_pairs_per_epoch": None, "precision": "fp32", "init_generator": None}  # fmt: skip
    cfg["generator"] = {**cfg["generator"], "netG": "global", "norm": "instance"}
    S.save_state(T.init_state(cfg), workdir / "e0.pt")
    t = time.perf_counter()
    run_epoch(2, state_in=str(workdir / "e0.pt"), state_out=str(workdir / "e1.pt"), losses_out=str(workdir / "e1.tsv"),
              manifest=str(workdir / "pairs.tsv"), cfg=cfg, epoch=1, device=dev.type, threads=threads)  # fmt: skip
    s = time.perf_counter() - t
    state = S.load_state(workdir / "e1.pt")
    if state["meta"]["processes"] != 2:
        raise RuntimeError(f"the state says {state['meta']['processes']} processes")
    # seconds of the whole job: torchrun, 2 interpreters, the rendezvous and 2 iterations
    return {"seconds_with_startup": s, "iterations": 2, "backend": "nccl" if dev.type == "cuda" else "gloo"}


def synthesis(dev, size: int, ngf: int, slices: int) -> dict:
    from ..models.pix2pixhd.networks import build_generator
    from ..synthesis import synthetic_stacks

    torch.manual_seed(0)
    G = build_generator(input_nc=3, output_nc=3, ngf=ngf, n_downsample_global=3, n_blocks_global=3).to(dev).eval()
    pre = np.random.default_rng(0).integers(0, 256, (slices, size, size), dtype=np.uint8)
    synthetic_stacks(G, pre[:2], 1, 16)
    _sync(dev)
    t = time.perf_counter()
    out = synthetic_stacks(G, pre, 1, 16)[0]
    _sync(dev)
    s = time.perf_counter() - t
    if out.shape != pre.shape:
        raise RuntimeError(f"synthetic stack {out.shape} for {pre.shape}")
    return {"s_per_slice": s / slices, "images_per_s": slices / s}


def features(dev, name: str, n: int, size: int) -> dict:
    from ..evaluation.features import InceptionFeatures, LPIPSNet, RadImageNetFeatures

    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
    fake = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
    if name == "lpips":
        net = LPIPSNet("random", "alex", None, "metrics.lpips").to(dev)
        run = lambda: net(real, fake, batch_size=n)  # noqa: E731
    else:
        cls = InceptionFeatures if name == "fid_inception" else RadImageNetFeatures
        net = cls("random", None, f"metrics.{name}").to(dev)
        run = lambda: net(real, batch_size=n)  # noqa: E731
    run()
    _sync(dev)
    t = time.perf_counter()
    out = run()
    _sync(dev)
    s = time.perf_counter() - t
    if not np.all(np.isfinite(out)):
        raise FloatingPointError("non-finite features")
    return {"s_per_image": s / n, "images_per_s": n / s}


def nnunet_fold(dev, workdir: Path, threads: int) -> dict:
    import SimpleITK as sitk

    from .. import nnunet
    from ..segmentation import write_training_set

    nnunet.environment(workdir, threads)
    raw = workdir / "raw"
    raw.mkdir()
    rng = np.random.default_rng(0)
    zz, yy, xx = np.mgrid[:16, :32, :32]
    training = {}
    for k in range(6):
        c = rng.integers(6, 26, 2)
        mask = ((zz - 8) ** 2 / 16 + (yy - c[0]) ** 2 / 25 + (xx - c[1]) ** 2 / 25 <= 1).astype(np.uint8)
        image = rng.normal(100, 10, mask.shape) + 80 * mask
        paths = []
        for arr, name in ((image.astype(np.float32), "img"), (mask, "seg")):
            img = sitk.GetImageFromArray(arr)
            img.SetSpacing((1.0, 1.0, 2.0))
            paths.append(str(raw / f"{name}_{k}.nii.gz"))
            sitk.WriteImage(img, paths[-1])
        training[(f"case{k}", "post1")] = tuple(paths)
    write_training_set(workdir / "nnUNet_raw" / "Dataset990_gpucheck", training, "MRI", "gpu_check")
    log = workdir / "nnunet.log"
    t = time.perf_counter()
    nnunet.plan_and_preprocess(990, "3d_fullres", threads, log)
    plan_s = time.perf_counter() - t
    t = time.perf_counter()
    try:
        nnunet.train(990, "3d_fullres", 0, "nnUNetTrainer_dcesynth_rehearsal", "nnUNetPlans", threads, dev.type,
                     False, log)  # fmt: skip
    except RuntimeError as e:
        raise RuntimeError(f"{e}: {log.read_text()[-1500:]}") from None
    train_s = time.perf_counter() - t
    ckpt = next((workdir / "nnUNet_results").rglob("checkpoint_final.pth"), None)
    if ckpt is None:
        raise RuntimeError("no checkpoint_final.pth")
    return {"plan_s": plan_s, "fold_epoch_s": train_s}


def _line(path: str, status: str, figures: dict | None = None, peak: float | None = None, note: str = "") -> str:
    parts = [f"path={path}", f"status={status}"]
    for k, v in (figures or {}).items():
        parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    if peak is not None:
        parts.append(f"peak_mem_mb={peak:.0f}")
    if note:
        parts.append(note)
    return " ".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto, cuda or cpu")
    ap.add_argument("--size", type=int, default=256, help="slice size of the training, synthesis and feature paths")
    ap.add_argument("--ngf", type=int, default=64, help="pix2pixHD width of the training paths (paper 64)")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--paper-size", type=int, default=512, help="slice size of the paper-size figures (paper 512)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    ap.add_argument("--only", nargs="*", help="run only these paths")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = args.threads or torch.get_num_threads()
    dev = resolve_device(args.device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(dev) if cuda else f"CPU, {threads} threads"
    print(f"device={dev.type} ({name}) torch={torch.__version__} gpus={torch.cuda.device_count() if cuda else 0}")
    small = _gan_cfg(args.ngf, args.ngf, 4 if args.size >= 128 else 2, 9 if args.ngf >= 32 else 2)
    failed = []

    def run(path: str, fn, skip: str = "") -> dict | None:
        if args.only and path not in args.only:
            return None
        if skip:
            print(_line(path, "skipped", note=f"reason=\"{skip}\""), flush=True)
            return None
        if cuda:
            torch.cuda.reset_peak_memory_stats(dev)
        try:
            with tempfile.TemporaryDirectory(prefix=f"gpu_check_{path}_") as tmp:
                figures = fn(Path(tmp))
        except Exception as e:  # noqa: BLE001 - every path is reported, then the next one runs
            failed.append(path)
            print(_line(path, "failed", note=f"error=\"{type(e).__name__}: {str(e).splitlines()[0][:300]}\""), flush=True)
            traceback.print_exc(file=sys.stderr)
            return None
        print(_line(path, "ok", figures, _peak_mb(dev)), flush=True)
        return figures

    run("train_fp32", lambda _: train_iterations(dev, args.size, small, args.iters))
    run("train_bf16", lambda _: train_iterations(dev, args.size, small, args.iters, bf16=True),
        skip="" if cuda else "bf16 autocast is CUDA-only (the CPU trains in fp32)")  # fmt: skip
    n_gpus = torch.cuda.device_count() if cuda else 0
    run("distributed", lambda tmp: distributed_epoch(dev, tmp, threads),
        skip="needs two GPUs (NCCL, one per process)" if cuda and n_gpus < 2 else "")  # fmt: skip
    run("synthesis", lambda _: synthesis(dev, args.size, min(args.ngf, 32), 32))
    for metric in ("fid_inception", "fid_radimagenet", "lpips"):
        run(metric, lambda _, m=metric: features(dev, m, 16 if cuda else 4, args.size))
    run("nnunet", lambda tmp: nnunet_fold(dev, tmp, threads))
    paper = run("paper", lambda _: train_iterations(dev, args.paper_size, _gan_cfg(64, 64, 4, 9), max(1, args.iters // 2)))
    if paper:
        pairs = duke_training_pairs()
        hours = pairs * paper["s_per_iter"] / 3600
        print(f"paper: {args.paper_size}px pix2pixHD (ngf 64, 9 blocks, batch 1) it_per_s={1 / paper['s_per_iter']:.3g} "
              f"duke_pairs_per_epoch={pairs} hours_per_epoch={hours:.3g} hours_{PAPER_EPOCHS}_epochs={hours * PAPER_EPOCHS:.3g} "
              f"(one {dev.type} process, the paper's global batch of 1)")  # fmt: skip
    print(f"gpu_check: {'all paths ok' if not failed else 'FAILED: ' + ', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
