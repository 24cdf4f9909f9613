"""Metrics cross-checked against scikit-image, torchmetrics and scipy; SAMe by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import torch
import torchmetrics.functional.image as TF
from skimage.metrics import structural_similarity

from dcesynth import metrics as M
from dcesynth.evaluation import same as S


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    from scipy import ndimage

    a = ndimage.gaussian_filter(rng.normal(0, 1, (4, 1, 96, 96)), (0, 0, 2, 2))
    a = np.clip((a - a.min()) / (a.max() - a.min()) * 255, 0, 255).astype(np.float32)
    b = np.clip(a + rng.normal(0, 12, a.shape) + 8, 0, 255).astype(np.float32)
    return torch.from_numpy(a), torch.from_numpy(b)


def test_ssim_matches_scikit_image_and_torchmetrics(pairs):
    a, b = pairs
    ours_valid = M.ssim(a, b, padding="valid").numpy()
    sk = [structural_similarity(a[i, 0].numpy(), b[i, 0].numpy(), gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=255) for i in range(len(a))]  # fmt: skip
    np.testing.assert_allclose(ours_valid, sk, atol=1e-5)
    tm = TF.structural_similarity_index_measure(a, b, data_range=255.0, reduction="none").numpy()
    np.testing.assert_allclose(M.ssim(a, b).numpy(), tm, atol=1e-5)
    assert M.ssim(a, a).numpy() == pytest.approx(1.0, abs=1e-6)


def test_ms_ssim_and_psnr_match_torchmetrics():
    rng = np.random.default_rng(1)
    a = torch.from_numpy(rng.integers(0, 256, (2, 1, 192, 192)).astype(np.float32))
    b = (a + torch.from_numpy(rng.normal(0, 20, a.shape).astype(np.float32))).clamp(0, 255)
    tm = TF.multiscale_structural_similarity_index_measure(a, b, data_range=255.0, reduction="none").numpy()
    np.testing.assert_allclose(M.ms_ssim(a, b).numpy(), tm, atol=1e-5)
    tp = TF.peak_signal_noise_ratio(a, b, data_range=255.0, reduction="none", dim=(1, 2, 3)).numpy()
    np.testing.assert_allclose(M.psnr(a, b).numpy(), tp, atol=1e-4)
    with pytest.raises(ValueError, match="too small"):
        M.ms_ssim(a[..., :64, :64], b[..., :64, :64])
    assert len(M.ms_ssim_betas(64)) == 3 and len(M.ms_ssim_betas(40)) == 2 and sum(M.ms_ssim_betas(64)) == pytest.approx(1)


def test_mse_mae_by_hand():
    a = torch.tensor([[[[0.0, 10.0], [20.0, 30.0]]]])
    b = torch.tensor([[[[1.0, 10.0], [18.0, 34.0]]]])
    assert M.mse(a, b).item() == pytest.approx((1 + 0 + 4 + 16) / 4)
    assert M.mae(a, b).item() == pytest.approx((1 + 0 + 2 + 4) / 4)


def test_pixel_metrics_batches_agree_with_one_batch(pairs):
    a, b = (x[:, 0].numpy().astype(np.uint8) for x in pairs)
    one = M.pixel_metrics(a, b, batch_size=64)
    many = M.pixel_metrics(a, b, batch_size=1)
    for k in one:
        assert one[k].shape == (4,)
        np.testing.assert_allclose(one[k], many[k], rtol=1e-5)


def test_frechet_distance_against_scipy_and_closed_form():
    rng = np.random.default_rng(2)
    x, y = rng.normal(0, 1, (400, 16)), rng.normal(0.3, 1.5, (300, 16)) @ rng.normal(0, 0.4, (16, 16))
    mu1, s1 = M.feature_statistics(x)
    mu2, s2 = M.feature_statistics(y)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    direct = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))
    assert M.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(direct, rel=1e-6)
    d1, d2 = rng.uniform(0.5, 2, 8), rng.uniform(0.5, 2, 8)
    m1, m2 = rng.normal(size=8), rng.normal(size=8)
    closed = float(((m1 - m2) ** 2).sum() + (d1 + d2 - 2 * np.sqrt(d1 * d2)).sum())
    assert M.frechet_distance(m1, np.diag(d1), m2, np.diag(d2)) == pytest.approx(closed, rel=1e-9)
    assert M.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-8)


@pytest.mark.parametrize("n1,n2,d", [(64, 64, 2048), (30, 50, 200), (5, 7, 77), (300, 200, 77)])
def test_frechet_distance_of_few_samples_in_sample_space_equals_the_covariance_form(n1, n2, d):
    rng = np.random.default_rng(n1 + d)
    a = rng.normal(0, 1, (n1, d)) @ rng.normal(0, 0.3, (d, d))
    b = rng.normal(0.2, 1.3, (n2, d)) @ rng.normal(0, 0.3, (d, d))
    full = M.frechet_distance(*M.feature_statistics(a), *M.feature_statistics(b))
    assert M.frechet_distance_of_features(a, b) == pytest.approx(full, rel=1e-7)
    assert M.frechet_distance_of_features(a, a) == pytest.approx(0, abs=1e-6 * full)


def test_same_by_hand():
    table = pd.DataFrame({"epoch": [10, 20, 30], "ssim": [0.6, 0.7, 0.8], "mae": [10.0, 30.0, 20.0], "fid": [5, 5, 5]})
    # ssim scaled [0, .5, 1] reversed -> [1, .5, 0]; mae -> [0, 1, .5]; fid constant -> 0
    expected = [(1 + 0 + 0) / 3, (0.5 + 1 + 0) / 3, (0 + 0.5 + 0) / 3]
    assert S.same(table, ["ssim", "mae", "fid"], {"ssim"}).tolist() == pytest.approx(expected)
    # ranks: ssim best->worst 30,20,10 -> [1, .5, 0]; mae 10,30,20 -> [0, 1, .5]; fid ties -> .5 each
    assert S.same_rank(table, ["ssim", "mae", "fid"], {"ssim"}).tolist() == pytest.approx(
        [(1 + 0 + 0.5) / 3, (0.5 + 1 + 0.5) / 3, (0 + 0.5 + 0.5) / 3]
    )
    outlier = table.assign(mae=[10.0, 1000.0, 20.0])
    assert S.same_rank(outlier, ["ssim", "mae"], {"ssim"}).tolist() == S.same_rank(table, ["ssim", "mae"], {"ssim"}).tolist()
