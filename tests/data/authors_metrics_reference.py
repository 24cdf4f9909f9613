"""The authors' metrics.py (RichardObi/pre_post_synthesis, Nov 2023) arithmetic, run under the
torchmetrics given on PYTHONPATH (1.2.1 in the tests): the reference for
dcesynth.metrics.authors_metrics and LPIPSNet.authors. Not part of the package.

usage: python authors_metrics_reference.py pairs.npz out.npz [alexnet_backbone.pt]

pairs.npz holds syn_<i> and real_<i> (uint8 (H, W), any size). Each image is loaded as their
load_images(normalize=True, resize=True, resize_size=512) loads a PNG read grey, and each pair is
scored as their calculate_metrics_for_dataset scores it: a fresh metric object per pair,
metric(transform(synthetic), transform(real)). With a backbone file, LPIPS (torchmetrics' default
AlexNet LPIPS, its shipped linear layers) runs on that backbone, since ImageNet weights cannot be
downloaded here.
"""

import sys

import cv2
import numpy as np
import torch
import torchmetrics

pairs = np.load(sys.argv[1])
n = len([k for k in pairs.files if k.startswith("syn_")])


def load(img):
    img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)
    img = cv2.resize(img, (512, 512), interpolation=cv2.INTER_LINEAR)
    return np.stack([img] * 3, axis=2)


def metric_function(metric):
    if metric == "lpips":
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        lpips = LearnedPerceptualImagePatchSimilarity()
        lpips.net.net.load_state_dict(torch.load(sys.argv[3], weights_only=True))
        fn = lambda a, b: lpips(a, b)  # noqa: E731
        transform = lambda x: torch.from_numpy(cv2.normalize(x.numpy(), None, -1, 1, cv2.NORM_MINMAX)).unsqueeze(0).permute(0, 3, 1, 2).to(torch.float32)  # noqa: E731,E501
    elif metric == "ms_ssim":
        from torchmetrics.functional import multiscale_structural_similarity_index_measure as fn

        transform = lambda x: x.unsqueeze(0).permute(0, 3, 1, 2).to(torch.float32)  # noqa: E731
    elif metric == "ssim":
        from torchmetrics.functional import structural_similarity_index_measure as fn

        transform = lambda x: x.unsqueeze(0).permute(0, 3, 1, 2).to(torch.float32)  # noqa: E731
    else:
        fn = {"mae": torchmetrics.MeanAbsoluteError, "mse": torchmetrics.MeanSquaredError,
              "psnr": torchmetrics.PeakSignalNoiseRatio}[metric]()  # fmt: skip
        transform = lambda x: x  # noqa: E731
    return fn, transform


if len(sys.argv) > 3:
    # no download: the backbone is built untrained, then given the weights of the file
    from torchmetrics.functional.image import lpips as tm_lpips

    _get_net = tm_lpips._get_net
    tm_lpips._get_net = lambda net, pretrained: _get_net(net, False)

names = ["mae", "mse", "psnr", "ssim", "ms_ssim"] + (["lpips"] if len(sys.argv) > 3 else [])
out = {m: [] for m in names}
for i in range(n):
    a, b = load(pairs[f"syn_{i}"]), load(pairs[f"real_{i}"])
    for m in names:
        fn, transform = metric_function(m)
        out[m].append(fn(transform(torch.from_numpy(a)), transform(torch.from_numpy(b))).item())
np.savez(sys.argv[2], version=torchmetrics.__version__, **{m: np.array(v) for m, v in out.items()})
