"""Benchmark of evaluation: one evaluated epoch, before and after, and Table 1 at the paper's sizes.

    python -m dcesynth.bench.evaluation --pairs 1000 [--baseline REV] [--epochs 2] [--table1]

Writes ``--pairs`` validation pairs of 512² phantom slices (smooth tissue, a bright tumour; pre
and post) and a seeded pix2pixHD generator of the paper's size, then scores "epochs" with
``evaluate_generator`` under the paper's metric settings (``config/duke.yaml``: every pair for the
pixel metrics, the authors' metrics at 512, TF-GAN Inception and RadImageNet FIDs on per-image
normalised input, FRD; the networks seeded untrained: same cost as the pretrained ones):

- **before**: the code of ``--baseline`` (a git revision of this repository, default
  ``b47024c``: before the feature cache), exported with ``git archive`` and run in a subprocess;
- **after**: this tree's code, with the feature cache (``results/features``) as the workflow runs
  it: the first epoch computes the real slices' features and caches them, every later epoch of
  the run (and every other run) reads them. The figure to compare is a later epoch.

Before and after alternate, epoch by epoch, each in a fresh process, so that load from elsewhere
on the machine falls on both alike; every epoch's metrics are compared between the two (they must
agree). ``--table1`` also times Table 1 on the pairs (half validation, half test) and projects it
to the paper's sample sizes (5000 pixel pairs per split, 3000 and 2000 FID pairs).

Last, the networks against this CPU's arithmetic (:func:`ceiling`): the generator's and the FID
networks' FLOPs per slice, the generator's measured rate, a float32 matrix product's rate, and what
they leave of the speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
BASELINE = "b47024c"

# One epoch's scoring in a fresh process: the same call in both trees (the cache argument exists
# only after); prints the seconds it took.
CHILD = """
import inspect, json, sys, time
import torch
from dcesynth.evaluation import evaluate_generator
a = json.loads(sys.argv[1])
kw = {"cache": a["cache"]} if a["cache"] and "cache" in inspect.signature(evaluate_generator).parameters else {}
t = time.perf_counter()
evaluate_generator(a["generator"], a["files"], "pre", "post1", a["cfg"], a["out"], device="cpu", threads=a["threads"], **kw)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def phantom_slices(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 pre/post pairs: smooth breast-like tissue on dark background, fat-saturated
    texture, and a tumour that enhances in the post-contrast slice."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    pre, post = np.empty((n, size, size), np.uint8), np.empty((n, size, size), np.uint8)
    for i in range(n):
        body = (((xx - 0.5) / 0.45) ** 2 + ((yy - 0.7) / 0.4) ** 2 < 1).astype(float)
        tissue = body * (60 + 40 * gaussian_filter(rng.standard_normal((size, size)), size / 40) * 8)
        cy, cx, r = rng.uniform(0.55, 0.8), rng.uniform(0.3, 0.7), rng.uniform(0.02, 0.06)
        tumour = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / r**2))
        noise = rng.normal(0, 4, (2, size, size))
        pre[i] = np.clip(tissue + 20 * tumour + noise[0], 0, 255)
        post[i] = np.clip(tissue * 1.2 + 140 * tumour + noise[1], 0, 255)
    return pre, post


def paper_metrics(pairs: int) -> dict:
    """``config/duke.yaml``'s metrics with every pair scored and seeded untrained networks."""
    import yaml

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["metrics"]
    duke = yaml.safe_load((REPO / "config" / "duke.yaml").read_text())["metrics"]
    cfg.update({k: v for k, v in duke.items() if not isinstance(v, dict)})
    for name in ("fid_imagenet", "fid_radimagenet", "lpips"):
        cfg[name] = {**cfg[name], **duke[name], "mode": "random", "weights": None}
    cfg.update(n_pixel_pairs=pairs, n_fid_pairs=pairs, n_fid_pairs_test=pairs)
    return cfg


def write_inputs(wd: Path, pairs: int, size: int, ngf: int = 64) -> tuple[str, dict]:
    """Per-case slice stacks (8 cases) and a seeded pix2pixHD generator (the paper's size at
    ``ngf`` 64)."""
    import torch

    from ..models.pix2pixhd.networks import build_generator

    pre, post = phantom_slices(pairs, size)
    files = {}
    for k, idx in enumerate(np.array_split(np.arange(pairs), 8)):
        case = f"Bench_{k:03d}"
        files[case] = {}
        for seq, arr in (("pre", pre), ("post1", post)):
            f = wd / "slices" / f"{case}_{seq}.npy"
            f.parent.mkdir(parents=True, exist_ok=True)
            np.save(f, arr[idx])
            files[case][seq] = str(f)
    torch.manual_seed(0)
    options = {"input_nc": 1, "output_nc": 1, "ngf": ngf}
    generator = wd / "generator.pt"
    torch.save({"options": options, "state_dict": build_generator(**options).state_dict()}, generator)
    return str(generator), files


def export_tree(rev: str, dest: Path) -> Path:
    """This repository's ``workflow/`` at ``rev`` (``git archive``), for the before figures."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "workflow"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "workflow"


def score_epoch(code: Path, args: dict, out: Path, threads: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": str(threads)}
    run = subprocess.run([sys.executable, "-c", CHILD, json.dumps({**args, "out": str(out), "threads": threads})],
                         env=env, capture_output=True, text=True, cwd=out.parent)  # fmt: skip
    if run.returncode:
        raise RuntimeError(f"epoch scoring failed ({code}):\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])["seconds"]


def compare_tables(a: Path, b: Path) -> float:
    """The largest relative difference between two epoch tables' metric means."""
    import pandas as pd

    x = pd.read_csv(a, sep="\t").set_index("metric")["mean"]
    y = pd.read_csv(b, sep="\t").set_index("metric")["mean"].reindex(x.index)
    return float(np.nanmax(np.abs(x - y) / np.maximum(np.abs(x), 1e-12)))


# The paper's Table 1 sample sizes: pixel pairs on each split, FID pairs on validation and on test.
PAPER_PIXEL, PAPER_FID_VAL, PAPER_FID_TEST = 5000, 3000, 2000


def table1_projection(files: dict, pairs: int, threads: int, wd: Path) -> None:
    """Table 1 (this tree) on the pairs as validation and test halves, the generator's slices as
    the synthetic ones: once with the distribution metrics off (pixel metrics and LPIPS), once
    with them (a fresh cache: the first run's cost), then each part scaled linearly to the paper's
    sample sizes."""
    import torch

    from ..evaluation import quality_table

    torch.set_num_threads(threads)
    cases = sorted(files)
    split = {"val": {c: files[c] for c in cases[: len(cases) // 2]}, "test": {c: files[c] for c in cases[len(cases) // 2 :]}}
    synthetic = {c: files[c]["post1"] for c in cases}  # stands in for a run's synthetic slices: same cost
    n = pairs // 2
    full = {**paper_metrics(n), "n_fid_pairs": n, "n_fid_pairs_test": n}
    off = {k: ({**v, "mode": "off"} if k in ("fid_imagenet", "fid_radimagenet") else v) for k, v in full.items()}
    off["frd"] = {**full["frd"], "enabled": False}
    t = time.perf_counter()
    quality_table(split, synthetic, "pre", "post1", "bench", off, "cpu")
    t_pixel = time.perf_counter() - t
    t = time.perf_counter()
    quality_table(split, synthetic, "pre", "post1", "bench", full, "cpu", cache=wd / "table1_features")
    t_full = time.perf_counter() - t
    t_dist = max(t_full - t_pixel, 0.0)
    projected = t_pixel * PAPER_PIXEL / n + t_dist * (PAPER_FID_VAL + PAPER_FID_TEST) / (2 * n)
    print(f"\nTable 1 on {n} + {n} pairs: {t_full:.1f} s ({t_pixel:.1f} s pixel metrics and LPIPS, {t_dist:.1f} s FID/FRD); "
          f"projected to the paper's {PAPER_PIXEL} pixel pairs per split and {PAPER_FID_VAL}/{PAPER_FID_TEST} FID pairs: "
          f"{projected / 60:.0f} min on {threads} threads (a first run; later runs read the real slices' features)")  # fmt: skip


def fid_flops(cfg: dict) -> float:
    """The FLOPs (convolutions and matrix products) of the FID networks ``cfg`` turns on, per slice
    at their 299 px input: each evaluated epoch runs them on every synthetic FID slice."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..evaluation.features import distribution_extractors

    total = 0
    for features in distribution_extractors(cfg, "cpu").values():
        net = getattr(features.extractor, "net", None)
        if net is not None:  # FRD's radiomics: no network
            with torch.inference_mode(), FlopCounterMode(display=False) as counter:
                net(torch.zeros(1, 3, 299, 299))
            total += counter.get_total_flops()
    return float(total)


def generator_ceiling(generator: str, size: int, threads: int, batch: int) -> tuple[float, float, float]:
    """The generator pass against this CPU's arithmetic: the FLOPs of its convolutions per slice
    (counted on the meta device), its measured seconds per slice (the saved generator through
    ``synthetic_stacks`` on one batch of ``batch`` slices, as an epoch runs it), and the rate of a
    large float32 matrix product on the same threads (the median of five tries): the usual ceiling
    of a direct or im2col float32 convolution. Faster algorithms (Winograd, FFT) do fewer operations
    but round differently, and so change the synthetic uint8 slices."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..models.pix2pixhd.networks import build_generator
    from ..synthesis import synthetic_stacks
    from ..training.checkpoints import load_generator
    from .train_step import _time

    torch.set_num_threads(threads)
    options = torch.load(generator, map_location="cpu", weights_only=True)["options"]
    with torch.device("meta"), FlopCounterMode(display=False) as counter:
        build_generator(**options)(torch.empty(1, options["input_nc"], size, size))
    G = load_generator(generator, device="cpu")
    pre, _ = phantom_slices(batch, size, seed=1)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    cpu = torch.device("cpu")
    synthetic_stacks(G, pre[:1], 1, 1)  # warm-up
    t_slice = _time(lambda: synthetic_stacks(G, pre, 1, batch), 1, cpu, warmup=False) / batch
    rates = [2 * 2048**3 / _time(lambda: a @ b, 3, cpu, warmup=False) for _ in range(5)]
    return counter.get_total_flops(), t_slice, float(np.median(rates))


def ceiling(before: float, after: float, pairs: int, flops: float, t_slice: float, gemm: float, fid: float = 0.0) -> dict[str, float]:
    """What the networks' arithmetic leaves of an epoch's speed-up, from an epoch's seconds before
    and after at ``pairs`` pairs (every pair's synthetic slice through the generator, ``flops``
    per slice, and through the FID networks, ``fid`` per slice): ``share``, the generator pass's part
    of the epoch after; ``estimate``, the speed-up were the generator's convolutions at the matrix
    product's rate ``gemm`` and the rest of the epoch as measured; ``bound``, the speed-up were the
    generator and the FID networks at that rate and everything else free. ``bound`` holds at any
    larger number of pairs too: an epoch's fixed costs (start-up, network builds) only spread over
    more pairs, so the time before per pair can only fall, while the networks' per pair stays."""
    generator = pairs * flops / gemm
    rest = max(after - pairs * t_slice, 0.0)
    return {"share": pairs * t_slice / after, "estimate": before / (rest + generator),
            "bound": before / (generator + pairs * fid / gemm)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=1000, help="validation pairs scored per epoch (pixel metrics and FIDs)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=2, help="epochs scored by each; the first fills the cache")
    ap.add_argument("--baseline", default=BASELINE, help="git revision whose code is 'before'")
    ap.add_argument("--ngf", type=int, default=64, help="the generator's width (64: the paper's; smaller for a quick check)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=None, help="keep inputs and tables here (default: a temp dir)")
    ap.add_argument("--table1", action="store_true", help="also time Table 1 on the pairs and project it to the paper's sizes")
    args = ap.parse_args(argv)
    wd = args.workdir or Path(tempfile.mkdtemp(prefix="dcesynth_bench_evaluation_"))
    wd.mkdir(parents=True, exist_ok=True)
    generator, files = write_inputs(wd, args.pairs, args.size, args.ngf)
    before_code = export_tree(args.baseline, wd / "baseline")
    after_code = REPO / "workflow"
    common = {"generator": generator, "files": files, "cfg": paper_metrics(args.pairs)}
    print(f"{args.pairs} pairs of {args.size}² slices, pix2pixHD ngf {args.ngf}, paper metrics (duke.yaml), {args.threads} threads; "
          f"before = {args.baseline}, after = this tree with the feature cache", flush=True)  # fmt: skip
    rows = []
    for epoch in range(1, args.epochs + 1):
        t_before = score_epoch(before_code, {**common, "cache": None}, wd / f"before_{epoch}.tsv", args.threads)
        t_after = score_epoch(after_code, {**common, "cache": str(wd / "features")}, wd / f"after_{epoch}.tsv", args.threads)
        diff = compare_tables(wd / f"before_{epoch}.tsv", wd / f"after_{epoch}.tsv")
        rows.append((epoch, t_before, t_after, diff))
        state = "cache filled" if epoch == 1 else "cache read"
        print(f"epoch {epoch} ({state}): before {t_before:7.1f} s  after {t_after:7.1f} s  "
              f"speed-up {t_before / t_after:4.2f}x  ({t_before / args.pairs:.3f} -> {t_after / args.pairs:.3f} s/pair; "
              f"largest metric difference {diff:.1e})", flush=True)  # fmt: skip
    later = [r for r in rows if r[0] > 1] or rows
    b, a = np.mean([r[1] for r in later]), np.mean([r[2] for r in later])
    print(f"\nper evaluated epoch (epochs 2+): {b:.1f} s -> {a:.1f} s, {b / a:.2f}x faster", flush=True)
    cfg = common["cfg"]
    flops, t_slice, gemm = generator_ceiling(generator, args.size, args.threads, min(int(cfg["batch_size"]), args.pairs))
    fid = fid_flops(cfg)
    c = ceiling(b, a, args.pairs, flops, t_slice, gemm, fid)
    print(f"the generator pass: {flops / 1e9:.0f} GFLOP of convolutions per slice in {t_slice:.2f} s "
          f"({flops / t_slice / 1e9:.0f} GFLOP/s), {c['share']:.0%} of an epoch after; the FID networks: {fid / 1e9:.0f} GFLOP "
          f"per slice; this CPU's float32 matrix product on {args.threads} threads: {gemm / 1e9:.0f} GFLOP/s. With the "
          f"generator's convolutions at that rate and the rest as measured, an epoch would be {c['estimate']:.2f}x faster "
          f"than before; with the generator and the FID networks at that rate and everything else free, at most "
          f"{c['bound']:.2f}x (at {args.pairs} pairs or more)", flush=True)  # fmt: skip
    if args.table1:
        table1_projection(files, args.pairs, args.threads, wd)
    if args.workdir is None:
        import shutil

        shutil.rmtree(wd, ignore_errors=True)


if __name__ == "__main__":
    main()
