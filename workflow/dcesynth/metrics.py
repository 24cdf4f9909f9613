"""Image quality metrics, batched in torch, on the paper's 0–255 scale, and the Fréchet distance (SAMe:
:mod:`dcesynth.evaluation.same`).

Pixel metrics take two tensors shaped (N, C, H, W) and return the N per-pair values, so mean and
sd can be reported. SSIM uses an 11×11 Gaussian window (σ 1.5) applied separably and population
statistics; averaged over the reflect-padded image it equals torchmetrics' SSIM (the authors'
tool), over the valid region scikit-image's ``structural_similarity(gaussian_weights=True,
sigma=1.5, use_sample_covariance=False)``. MS-SSIM follows torchmetrics (relu-normalised,
reflect-padded). The tests cross-check each against those libraries.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
from torch.nn import functional as F

from .evaluation.same import HIGHER_IS_BETTER  # noqa: F401 (defined with SAMe, torch-free; named here with the metrics)

MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _check(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"expected two (N, C, H, W) tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return a.double() if a.dtype == torch.float64 else a.float(), b.to(a.dtype if a.dtype == torch.float64 else torch.float32)


def _wrapped_difference(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``fake − real`` of two uint8 tensors as uint8 arithmetic computes it: modulo 256."""
    if real.shape != fake.shape or real.ndim != 4:
        raise ValueError(f"expected two (N, C, H, W) tensors of one shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if real.dtype != torch.uint8 or fake.dtype != torch.uint8:
        raise ValueError(f"wrap_uint8 reproduces uint8 arithmetic and needs uint8 tensors, got {real.dtype} and {fake.dtype}")
    return fake - real


def mse(real: torch.Tensor, fake: torch.Tensor, wrap_uint8: bool = False) -> torch.Tensor:
    """Per-pair mean squared error.

    ``wrap_uint8=True`` gives the authors' value instead: ``torchmetrics.MeanSquaredError()(fake,
    real)`` on uint8 tensors never converts them to float, so the difference and its square both
    wrap modulo 256 before the mean. Not a distance; kept only to compare with the paper.
    """
    if wrap_uint8:
        d = _wrapped_difference(real, fake)
        return (d * d).flatten(1).double().mean(1)
    a, b = _check(real, fake)
    return ((a - b) ** 2).flatten(1).mean(1)


def mae(real: torch.Tensor, fake: torch.Tensor, wrap_uint8: bool = False) -> torch.Tensor:
    """Per-pair mean absolute error.

    ``wrap_uint8=True`` gives the authors' value instead: ``torchmetrics.MeanAbsoluteError()(fake,
    real)`` on uint8 tensors takes ``|fake − real|`` with the difference wrapped modulo 256 (a
    difference of −1 counts 255). Not a distance; kept only to compare with the paper.
    """
    if wrap_uint8:
        return _wrapped_difference(real, fake).flatten(1).double().mean(1)
    a, b = _check(real, fake)
    return (a - b).abs().flatten(1).mean(1)


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    return 10 * torch.log10(data_range**2 / mse(a, b))


def _gauss(size: int, sigma: float, dtype, device) -> torch.Tensor:
    d = torch.arange((1 - size) / 2, (1 + size) / 2, 1.0, dtype=dtype, device=device)
    g = torch.exp(-((d / sigma) ** 2) / 2)
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter of every map, valid region only.

    All maps go in as the channels of one image with a depthwise (grouped) convolution:
    measured ~10× faster on CPU than the same filter over a batch of one-channel images.
    """
    n, c, h, w = x.shape
    k = g.numel()
    x = x.reshape(1, n * c, h, w)
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(n * c, 1, 1, k), groups=n * c)
    x = F.conv2d(x, g.view(1, 1, -1, 1).expand(n * c, 1, k, 1), groups=n * c)
    return x.reshape(n, c, h - k + 1, w - k + 1)


def _ssim_maps(a, b, data_range, kernel, sigma, pad: bool, clamp: bool = True):
    """SSIM and contrast-structure maps. The five maps are written into one buffer (no cat) and
    combined in place: measured 1.24× faster than out-of-place on CPU, identical values.
    ``data_range`` is a number or one per pair ((N, 1, 1, 1)); ``clamp=False`` keeps the float noise
    of negative variances, as torchmetrics 1.2 did."""
    g = _gauss(kernel, sigma, a.dtype, a.device)
    if pad:
        p = (kernel - 1) // 2
        a = F.pad(a, (p, p, p, p), mode="reflect")
        b = F.pad(b, (p, p, p, p), mode="reflect")
    n = a.shape[0]
    buf = torch.empty((5 * n, *a.shape[1:]), dtype=a.dtype, device=a.device)
    buf[:n], buf[n : 2 * n] = a, b
    torch.mul(a, a, out=buf[2 * n : 3 * n])
    torch.mul(b, b, out=buf[3 * n : 4 * n])
    torch.mul(a, b, out=buf[4 * n :])
    mu_a, mu_b, var_a, var_b, cov = _blur(buf, g).split(n)  # E[x] maps; E[x·y] until subtracted
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_ab = mu_a * mu_b
    mu_a2, mu_b2 = mu_a.square_(), mu_b.square_()
    var_a.sub_(mu_a2)
    var_b.sub_(mu_b2)
    if clamp:
        var_a.clamp_(min=0), var_b.clamp_(min=0)
    cov.sub_(mu_ab)
    cs = cov.mul_(2).add_(c2).div_(var_a.add_(var_b).add_(c2))
    luminance = mu_ab.mul_(2).add_(c1).div_(mu_a2.add_(mu_b2).add_(c1))
    return luminance.mul_(cs), cs


def ssim(
    a: torch.Tensor,
    b: torch.Tensor,
    data_range: float = 255.0,
    kernel: int = 11,
    sigma: float = 1.5,
    padding: str = "reflect",
) -> torch.Tensor:
    """Mean SSIM per pair. ``padding='reflect'`` averages the map over the whole image after
    reflect padding (torchmetrics, which the authors used); ``'valid'`` averages only where the
    window fits (scikit-image)."""
    if padding not in ("reflect", "valid"):
        raise ValueError("padding must be 'reflect' or 'valid'")
    a, b = _check(a, b)
    s, _ = _ssim_maps(a, b, data_range, kernel, sigma, pad=padding == "reflect")
    return s.flatten(1).mean(1)


def ssim_map(a: torch.Tensor, b: torch.Tensor, data_range: float = 255.0, kernel: int = 11,
             sigma: float = 1.5) -> torch.Tensor:  # fmt: skip
    """The SSIM map of each pair (reflect padding: the input's shape), to average over a region."""
    a, b = _check(a, b)
    return _ssim_maps(a, b, data_range, kernel, sigma, pad=True)[0]


def ms_ssim(
    a: torch.Tensor,
    b: torch.Tensor,
    data_range: float = 255.0,
    kernel: int = 11,
    sigma: float = 1.5,
    betas: Iterable[float] = MS_SSIM_BETAS,
) -> torch.Tensor:
    """Multi-scale SSIM; images must be larger than (kernel − 1)·(len(betas) − 1)² pixels."""
    return _ms_ssim_and_ssim(a, b, data_range, kernel, sigma, tuple(betas))[0]


def _ms_ssim_and_ssim(a, b, data_range, kernel, sigma, betas):
    """MS-SSIM and, from its first scale, the (reflect-padded) SSIM: one full-resolution pass."""
    a, b = _check(a, b)
    if min(a.shape[-2:]) // max(1, len(betas) - 1) ** 2 <= kernel - 1:
        raise ValueError(f"images of {tuple(a.shape[-2:])} are too small for {len(betas)} MS-SSIM scales; pass fewer betas")
    values, first = [], None
    for i in range(len(betas)):
        last = i == len(betas) - 1
        s, cs = _ssim_maps(a, b, data_range, kernel, sigma, pad=True)
        if i == 0:
            first = s.flatten(1).mean(1)
        p = (kernel - 1) // 2
        if last:
            values.append(torch.relu(s.flatten(1).mean(1)))
        else:
            values.append(torch.relu(cs[..., p:-p, p:-p].flatten(1).mean(1)))
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    stack = torch.stack(values)
    ms = torch.prod(stack ** torch.tensor(betas, dtype=stack.dtype, device=stack.device).view(-1, 1), dim=0)
    return ms, first


def ms_ssim_betas(size: int, kernel: int = 11) -> tuple[float, ...]:
    """The first k paper betas (renormalised) that images of ``size`` pixels allow."""
    for k in range(len(MS_SSIM_BETAS), 0, -1):
        if size // max(1, k - 1) ** 2 > kernel - 1:
            b = np.array(MS_SSIM_BETAS[:k])
            return tuple(float(v) for v in b / b.sum())
    raise ValueError(f"images of {size} pixels are too small for SSIM with an {kernel}-pixel window")


def minmax_per_image(x: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """Each image rescaled to [0, data_range] (the authors normalised before scoring)."""
    flat = x.float().flatten(1)
    lo, hi = flat.min(1).values, flat.max(1).values
    scale = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    return ((flat - lo[:, None]) / scale[:, None] * data_range).view_as(x)


def lpips(model: torch.nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pair LPIPS of (N, C, H, W) tensors on the 0–255 scale with an ``lpips.LPIPS`` model.

    Grey images are repeated to 3 channels and scaled to [-1, 1], the range LPIPS expects.
    """
    a, b = _check(a, b)
    if a.shape[1] == 1:
        a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
    return model(a / 127.5 - 1.0, b / 127.5 - 1.0).flatten()


# Pixels per CPU batch: two 512² pairs, so that the SSIM maps of a batch (five blurred maps,
# padded copies) stay in the CPU cache (time other sizes with python -m dcesynth.bench.metrics --batch N).
CPU_BATCH_PIXELS = 2 * 512 * 512

PIXEL_METRICS = {"ssim": ssim, "ms_ssim": ms_ssim, "psnr": psnr, "mse": mse, "mae": mae}


def pixel_metrics(
    real: np.ndarray, fake: np.ndarray, batch_size: int = 64, normalize: bool = True, names=tuple(PIXEL_METRICS)
) -> dict[str, np.ndarray]:
    """Per-pair metrics of uint8 stacks (N, H, W) on the 0–255 scale, computed in batches of at
    most ``batch_size`` pairs and ``CPU_BATCH_PIXELS`` pixels."""
    out: dict[str, list[np.ndarray]] = {n: [] for n in names}
    betas = ms_ssim_betas(min(real.shape[-2:])) if "ms_ssim" in names else None
    batch_size = max(1, min(batch_size, CPU_BATCH_PIXELS // int(np.prod(real.shape[-2:]))))
    for s in range(0, len(real), batch_size):
        a = torch.from_numpy(np.asarray(real[s : s + batch_size], dtype=np.float32))[:, None]
        b = torch.from_numpy(np.asarray(fake[s : s + batch_size], dtype=np.float32))[:, None]
        if normalize:
            a, b = minmax_per_image(a), minmax_per_image(b)
        shared = {}
        if "ms_ssim" in names:
            shared["ms_ssim"], shared["ssim"] = _ms_ssim_and_ssim(a, b, 255.0, 11, 1.5, betas)
        for n in names:
            v = shared[n] if n in shared else PIXEL_METRICS[n](a, b)
            out[n].append(v.numpy())
    return {n: np.concatenate(v) if v else np.zeros(0) for n, v in out.items()}


# --------------------------------------------------------------------------------------------
# The authors' numbers: their metrics.py with --normalize_images, under torchmetrics 1.2
# --------------------------------------------------------------------------------------------

# The authors resized every slice to 512 x 512 before scoring, whatever its size.
AUTHORS_SIZE = 512
AUTHORS_METRICS = ("mae", "mse", "psnr", "ssim", "ms_ssim")


def authors_images(x: np.ndarray, size: int = AUTHORS_SIZE) -> np.ndarray:
    """uint8 slices (N, H, W) as the authors' ``metrics.py --normalize_images`` loaded each PNG:
    ``cv2.normalize(img, None, 0, 255, NORM_MINMAX)`` (uint8 in, uint8 out: rounded), then
    ``cv2.resize`` to ``size`` x ``size`` with ``INTER_LINEAR`` (their third, grey-stacked channel
    repeats the first and changes no mean)."""
    import cv2

    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 3:
        raise ValueError(f"expected uint8 slices (N, H, W), got {x.dtype} {x.shape}")
    out = np.empty((len(x), size, size), np.uint8)
    for i, img in enumerate(x):
        img = cv2.normalize(np.ascontiguousarray(img), None, 0, 255, cv2.NORM_MINMAX)
        out[i] = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
    return out


def authors_lpips_images(x: np.ndarray, size: int = AUTHORS_SIZE) -> np.ndarray:
    """What the authors' LPIPS saw (float32 (N, size, size)): :func:`authors_images`, then their
    ``cv2.normalize(x, None, -1, 1, NORM_MINMAX)``, which on a uint8 array returns uint8: the
    values round to {-1, 0, 1} and saturate to {0, 1}, so each image became a mask of the pixels in
    the top quarter of its range (exact halves round to even, i.e. to 0)."""
    import cv2

    return np.stack([cv2.normalize(img, None, -1, 1, cv2.NORM_MINMAX) for img in authors_images(x, size)]).astype(np.float32)


def _range(x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(1)
    return (flat.max(1).values - flat.min(1).values).view(-1, 1, 1, 1)


def _authors_ssim(syn: torch.Tensor, real: torch.Tensor, scales: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """torchmetrics 1.2's SSIM and MS-SSIM of float 0..255 pairs with their defaults: the data range
    of each call re-estimated as max(range(preds), range(target)) (at every MS-SSIM scale), the map
    averaged over its interior only (reflect padding, then a border of kernel // 2 cropped: the
    valid region), negative variances unclamped, relu on every MS-SSIM scale, 2 x 2 average pooling."""
    values, first = [], None
    for i in range(scales):
        dr = torch.maximum(_range(syn), _range(real))
        s, cs = _ssim_maps(syn, real, dr, 11, 1.5, pad=False, clamp=False)
        if i == 0:
            first = s.flatten(1).mean(1)
            if scales == 1:
                return first, None
        values.append(torch.relu((s if i == scales - 1 else cs).flatten(1).mean(1)))
        syn, real = F.avg_pool2d(syn, 2), F.avg_pool2d(real, 2)
    stack = torch.stack(values)
    betas = torch.tensor(MS_SSIM_BETAS, dtype=stack.dtype).view(-1, 1)
    return first, torch.prod(stack**betas, dim=0)


def authors_metrics(
    synthetic: np.ndarray, real: np.ndarray, names=AUTHORS_METRICS, batch_size: int = 64, size: int = AUTHORS_SIZE
) -> dict[str, np.ndarray]:
    """Per-pair MAE, MSE, PSNR, SSIM and MS-SSIM exactly as the paper's numbers were computed:
    ``metrics.py <synthetic> <real> --normalize_images`` under torchmetrics 1.2 (late 2023).

    Both stacks go through :func:`authors_images` (``preds`` is the synthetic image). MAE, MSE and
    PSNR are torchmetrics' classes on the uint8 tensors, which never converted them to float: the
    difference wraps modulo 256 (−1 counts 255), and so does its square, before the mean. PSNR
    (before torchmetrics 1.5) is ``10 log10(range² / that MSE)``, the range being the real image's
    max (its tracked min starts at 0). SSIM and MS-SSIM are the functional forms on float 0..255
    with their defaults (:func:`_authors_ssim`). None of these is the true metric; they exist to sit
    beside the paper's values. Tested against torchmetrics 1.2.1 itself."""
    unknown = set(names) - set(AUTHORS_METRICS)
    if unknown:
        raise ValueError(f"unknown authors' metrics {sorted(unknown)}; known: {', '.join(AUTHORS_METRICS)}")
    if np.shape(synthetic) != np.shape(real):
        raise ValueError(f"synthetic {np.shape(synthetic)} and real {np.shape(real)} slices differ in shape")
    if "ms_ssim" in names and size // (len(MS_SSIM_BETAS) - 1) ** 2 <= 10:
        raise ValueError(f"MS-SSIM's five scales need images of at least 176 pixels (torchmetrics' bound), not {size}")
    out: dict[str, list[np.ndarray]] = {n: [] for n in names}
    step = max(1, min(batch_size, CPU_BATCH_PIXELS // (size * size)))
    for s in range(0, len(real), step):
        syn = torch.from_numpy(authors_images(synthetic[s : s + step], size))[:, None]
        ref = torch.from_numpy(authors_images(real[s : s + step], size))[:, None]
        # uint8 tensors: synthetic - real and its square wrap modulo 256, as theirs did
        values = {"mae": mae(ref, syn, wrap_uint8=True), "mse": mse(ref, syn, wrap_uint8=True)}
        if "psnr" in names:
            peak = ref.flatten(1).max(1).values.double()
            values["psnr"] = 10 * (2 * torch.log(peak) - torch.log(values["mse"])) / np.log(10.0)  # inf where equal
        if "ssim" in names or "ms_ssim" in names:
            values["ssim"], values["ms_ssim"] = _authors_ssim(syn.float(), ref.float(), len(MS_SSIM_BETAS) if "ms_ssim" in names else 1)
        for n in names:
            out[n].append(values[n].numpy())
    return {n: np.concatenate(v) if v else np.zeros(0) for n, v in out.items()}


# --------------------------------------------------------------------------------------------
# Fréchet distance
# --------------------------------------------------------------------------------------------


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½), with tr((Σ1 Σ2)^½) from a symmetric eigenproblem.

    tr((Σ1 Σ2)^½) = Σ √λ(Σ1^½ Σ2 Σ1^½), which is real and stable where ``sqrtm`` of the
    non-symmetric product returns complex noise; the tests cross-check it against
    ``scipy.linalg.sqrtm`` and the closed form for diagonal covariances.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(eig, 0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def frechet_distance_of_features(a: np.ndarray, b: np.ndarray) -> float:
    """:func:`frechet_distance` of two feature sets (rows = samples), with their sample covariances.

    Where a set has fewer samples than features (a 64-slice sample of 2048 Inception features) the
    covariances are low-rank and the trace term is taken in sample space, exactly: with centred
    features X (n1 x d) and Y (n2 x d), the non-zero eigenvalues of Σ1 Σ2 are the squared singular
    values of X Yᵀ / √((n1-1)(n2-1)), so tr((Σ1 Σ2)^½) is the sum of those singular values: an
    n1 x n2 SVD instead of two d x d eigenproblems."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n1, n2, d = len(a), len(b), a.shape[1]
    if min(n1, n2) < 2 or max(n1, n2) >= d:
        return frechet_distance(*feature_statistics(a), *feature_statistics(b))
    x, y = a - a.mean(0), b - b.mean(0)
    scale = np.sqrt((n1 - 1) * (n2 - 1))
    tr_covmean = float(np.linalg.svd(x @ y.T, compute_uv=False).sum() / scale)
    diff = a.mean(0) - b.mean(0)
    return float(diff @ diff + (x * x).sum() / (n1 - 1) + (y * y).sum() / (n2 - 1) - 2 * tr_covmean)


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)
