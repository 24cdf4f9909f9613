"""Benchmark of the pixel metrics and of FID feature extraction.

    python -m dcesynth.bench.metrics --pairs 5000 --size 512

Times our batched SSIM, MS-SSIM, PSNR, MSE and MAE (``dcesynth.metrics.pixel_metrics``) against a
per-pair loop of torchmetrics' functions over the same seeded pairs, measured in the same run in
alternating blocks,
prints the ratio and the largest difference between the two, then the Inception feature
extraction throughput (untrained network; the cost is the same with pretrained weights) and the
FRD radiomic-feature throughput; where PyRadiomics is installed (it is not a dependency), the same
features through PyRadiomics on the same images as the baseline.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from .. import metrics as M
from ..evaluation import InceptionFeatures
from ..frd import RadiomicsFeatures


def torchmetrics_loop(real: np.ndarray, fake: np.ndarray) -> dict[str, np.ndarray]:
    import torchmetrics.functional.image as TF

    out = {k: [] for k in ("ssim", "ms_ssim", "psnr", "mse", "mae")}
    betas = M.ms_ssim_betas(min(real.shape[-2:]))
    for a, b in zip(real, fake):
        ta = M.minmax_per_image(torch.from_numpy(a.astype(np.float32))[None, None])
        tb = M.minmax_per_image(torch.from_numpy(b.astype(np.float32))[None, None])
        out["ssim"].append(TF.structural_similarity_index_measure(tb, ta, data_range=255.0).item())
        out["ms_ssim"].append(TF.multiscale_structural_similarity_index_measure(tb, ta, data_range=255.0, betas=betas).item())
        out["psnr"].append(TF.peak_signal_noise_ratio(tb, ta, data_range=255.0).item())
        out["mse"].append(torch.mean((ta - tb) ** 2).item())
        out["mae"].append(torch.mean((ta - tb).abs()).item())
    return {k: np.array(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=5000)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=16, help="metrics.batch_size (capped on CPU, see CPU_BATCH_PIXELS)")
    ap.add_argument("--block", type=int, default=50, help="pairs per alternating timing block")
    ap.add_argument("--fid-images", type=int, default=64)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (args.pairs, args.size, args.size), dtype=np.uint8)
    fake = np.clip(real.astype(np.int16) + rng.integers(-20, 21, real.shape), 0, 255).astype(np.uint8)
    # Alternate blocks of ours and the reference, so that load from elsewhere on the machine
    # falls on both alike.
    t_ours = t_ref = 0.0
    parts_ours, parts_ref = [], []
    for s in range(0, args.pairs, args.block):
        r, f = real[s : s + args.block], fake[s : s + args.block]
        t = time.perf_counter()
        parts_ours.append(M.pixel_metrics(r, f, batch_size=args.batch, names=("ssim", "ms_ssim", "psnr", "mse", "mae")))
        t_ours += time.perf_counter() - t
        t = time.perf_counter()
        parts_ref.append(torchmetrics_loop(r, f))
        t_ref += time.perf_counter() - t
    ours = {k: np.concatenate([p[k] for p in parts_ours]) for k in parts_ours[0]}
    ref = {k: np.concatenate([p[k] for p in parts_ref]) for k in parts_ref[0]}
    diff = max(float(np.max(np.abs(ours[k] - ref[k]))) for k in ("ssim", "ms_ssim", "mse", "mae"))
    print(f"pairs={args.pairs} size={args.size} threads={torch.get_num_threads()}")
    print(f"ours_s={t_ours:.2f} torchmetrics_loop_s={t_ref:.2f} speedup={t_ref / t_ours:.2f} max_abs_diff={diff:.2e}")
    net = InceptionFeatures("random", None, "bench")
    imgs = real[: args.fid_images]
    net(imgs[:2])
    t = time.perf_counter()
    net(imgs)
    print(f"fid_features_images_per_s={len(imgs) / (time.perf_counter() - t):.1f}")
    t = time.perf_counter()
    RadiomicsFeatures()(imgs)
    t_frd = time.perf_counter() - t
    print(f"frd_features_images_per_s={len(imgs) / t_frd:.1f}")
    t_pyrad = pyradiomics_seconds(imgs)
    if t_pyrad is not None:
        print(f"pyradiomics_images_per_s={len(imgs) / t_pyrad:.1f} frd_speedup={t_pyrad / t_frd:.1f}")


def pyradiomics_seconds(imgs: np.ndarray) -> float | None:
    """Seconds PyRadiomics takes for the same features (None where it is not installed)."""
    try:
        import SimpleITK as sitk
        from radiomics import featureextractor
    except ImportError:
        return None
    from ..frd import GLCM

    ext = featureextractor.RadiomicsFeatureExtractor(normalize=True, normalizeScale=100, binWidth=5,
                                                     voxelArrayShift=300, force2D=True)  # fmt: skip
    ext.disableAllFeatures()
    ext.enableFeaturesByName(firstorder=[], glcm=list(GLCM), glrlm=[], glszm=[], ngtdm=[])
    t = time.perf_counter()
    for img in imgs:
        mask = np.ones(img.shape, np.int32)
        mask[0, 0] = 0
        ext.execute(sitk.JoinSeries(sitk.GetImageFromArray(img)), sitk.JoinSeries(sitk.GetImageFromArray(mask)))
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
