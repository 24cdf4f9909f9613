"""The paper's numbers computed the authors' way (dcesynth.metrics.authors_metrics, LPIPSNet.authors,
the FID networks' per-image input), checked against the authors' own tools: torchmetrics 1.2.1
installed for the test in a folder of its own and run in a subprocess, and cv2."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from dcesynth import metrics as M
from dcesynth.evaluation import InceptionFeatures, LPIPSNet, RadImageNetFeatures
from conftest import run_authors_reference


def _smooth(rng, h, w):
    f = rng.normal(size=(h, w)).cumsum(0).cumsum(1)
    return (f - f.min()) / np.ptp(f)


def _low_contrast_pairs(seed=0):
    """(synthetic, real) uint8 pairs of several sizes (square, not, smaller and larger than 512,
    512 itself), each spanning a narrow band of grey values, so that the per-image normalisation
    and the resize change every number; the synthetic image is darker here and brighter there, so
    that differences wrap."""
    rng = np.random.default_rng(seed)
    out = []
    for h, w, lo, span in ((64, 64, 60, 25), (48, 80, 10, 40), (512, 512, 120, 30), (100, 37, 200, 50), (300, 700, 0, 90)):
        real = (lo + span * _smooth(rng, h, w) + rng.integers(0, 3, (h, w))).astype(np.uint8)
        shift = np.where(_smooth(rng, h, w) > 0.5, 3, -4)
        syn = np.clip(real.astype(int) + shift + rng.integers(-2, 3, (h, w)), 0, 255).astype(np.uint8)
        out.append((syn, real))
    return out


@pytest.fixture(scope="module")
def reference(authors_torchmetrics, tmp_path_factory):
    """The authors' per-pair values under torchmetrics 1.2.1, LPIPS on a seeded AlexNet backbone."""
    out = tmp_path_factory.mktemp("authors")
    lpips = LPIPSNet("random", "alex", None, "metrics.lpips", seed=5)
    torch.save(lpips.model.net.state_dict(), out / "backbone.pt")
    pairs = _low_contrast_pairs()
    return pairs, lpips, run_authors_reference(authors_torchmetrics, pairs, out, out / "backbone.pt")


def test_authors_metrics_equal_torchmetrics_1_2(reference):
    pairs, _, ref = reference
    ours = {k: [] for k in M.AUTHORS_METRICS}
    for syn, real in pairs:  # one size per call; each pair alone
        for k, v in M.authors_metrics(syn[None], real[None]).items():
            ours[k].append(v[0])
    for k in M.AUTHORS_METRICS:
        np.testing.assert_allclose(ours[k], ref[k], rtol=1e-4, err_msg=k)
    # the inputs tell the authors' arithmetic from the true metrics and from skipping their
    # normalisation: each would miss the reference by far more than the tolerance
    images = [(M.authors_images(s[None]), M.authors_images(r[None])) for s, r in pairs]
    t = lambda x: torch.from_numpy(x[:, None].astype(np.float32))  # noqa: E731
    true_ssim = [M.ssim(t(s), t(r)).item() for s, r in images]  # reflect-padded map, data range 255
    true_ms_ssim = [M.ms_ssim(t(s), t(r)).item() for s, r in images]  # data range 255 at every scale
    true_mse = [M.mse(t(s), t(r)).item() for s, r in images]
    raw_mae = [np.mean(s - r) for s, r in pairs]  # uint8 wraps too, but without their normalisation
    assert (np.abs(np.array(true_ssim) / ref["ssim"] - 1) > 1e-4).all()  # each alone fails the tolerance
    assert (np.abs(np.array(true_ms_ssim) / ref["ms_ssim"] - 1) > 1e-3).all()
    assert (np.abs(np.array(true_mse) / ref["mse"] - 1) > 0.1).all()
    assert (np.abs(np.array(raw_mae) / ref["mae"] - 1) > 1e-3).all()
    # a batch of different pairs gives each pair's own values: the first pair, its synthetic image
    # moved by 3 pixels, and its real image compared with itself after a 40 % cut of its top values
    syn0, real0 = pairs[0]
    syn = np.stack([syn0, np.roll(syn0, 3, axis=1), np.minimum(real0, np.percentile(real0, 60)).astype(np.uint8)])
    real = np.stack([real0, real0, real0])
    batched = M.authors_metrics(syn, real, batch_size=3)
    for i in range(3):
        alone = M.authors_metrics(syn[i : i + 1], real[i : i + 1])
        for k in M.AUTHORS_METRICS:
            assert batched[k][i] == pytest.approx(alone[k][0], rel=1e-6), (k, i)
    assert batched["ssim"][0] == pytest.approx(ref["ssim"][0], rel=1e-4)
    assert len({round(float(v), 4) for v in batched["ssim"]}) == 3


def test_authors_psnr_follows_their_wrapped_mse_and_the_real_images_peak():
    """PSNR by hand: 10 log10(peak² / wrapped MSE), the peak being the real image's maximum."""
    real = np.tile((np.arange(512) // 2).astype(np.uint8)[None], (512, 1))[None]  # 0..255, already 512 px
    syn = 255 - real  # spans 0..255 too: normalisation and resize leave both as they are
    v = M.authors_metrics(syn, real)
    wrapped = (255 - 2 * real.astype(int)) % 256  # syn - real in uint8
    assert v["mae"][0] == pytest.approx(wrapped.mean())
    assert v["mse"][0] == pytest.approx(((wrapped * wrapped) % 256).mean())  # 255² = 65025 ≡ 1 (mod 256)
    assert v["psnr"][0] == pytest.approx(10 * np.log10(255.0**2 / v["mse"][0]))


def test_lpips_authors_is_lpips_of_their_binary_masks(reference):
    pairs, lpips, ref = reference
    ours = [lpips.authors(s[None], r[None])[0] for s, r in pairs]
    np.testing.assert_allclose(ours, ref["lpips"], rtol=1e-4)
    # what the network saw: masks of the top quarter of each image's range
    syn = pairs[0][0]
    mask = M.authors_lpips_images(syn[None])[0]
    img = M.authors_images(syn[None])[0].astype(float)
    assert set(np.unique(mask)) == {0.0, 1.0}
    v = (img - img.min()) * 2 / (img.max() - img.min()) - 1
    np.testing.assert_array_equal(mask, (np.round(v) >= 1).astype(np.float32))
    # and not LPIPS of the grey images
    grey = lpips(pairs[0][1][None], pairs[0][0][None])[0]
    assert abs(grey - ours[0]) > 1e-3 * abs(ours[0])


@pytest.mark.parametrize("cls", [InceptionFeatures, RadImageNetFeatures])
def test_fid_per_image_input_is_the_authors(cls):
    """per_image feeds the network what the authors' fid.py built with cv2 (resize to 299 on uint8,
    then min-max to 0..255, then x / 127.5 - 1): compared with the network run on that input."""
    rng = np.random.default_rng(2)
    slices = np.stack([(90 + 40 * _smooth(rng, 64, 64)).astype(np.uint8) for _ in range(3)])
    net = cls("random", None, "metrics.fid_imagenet", seed=1, normalize="per_image")
    assert "per-image min-max" in net.provenance
    expected_input = []
    for s in slices:
        img = cv2.resize(np.stack([s] * 3, axis=2), (299, 299), interpolation=cv2.INTER_LINEAR)
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)
        expected_input.append(img.astype(np.float32) / 127.5 - 1.0)
    x = torch.from_numpy(np.stack(expected_input)).permute(0, 3, 1, 2)
    with torch.inference_mode():
        expected = net.net(x).double().numpy()
    np.testing.assert_allclose(net(slices), expected, rtol=1e-4, atol=1e-5)
    # the order matters on these slices: min-max before the resize is another input, and so is none
    other_order = [cv2.resize(cv2.normalize(s, None, 0, 255, cv2.NORM_MINMAX), (299, 299), interpolation=cv2.INTER_LINEAR)
                   for s in slices]  # fmt: skip
    assert any((o.astype(np.float32) / 127.5 - 1 != e[..., 0]).any() for o, e in zip(other_order, expected_input))
    plain = cls("random", None, "k", seed=1)
    assert "per-image" not in plain.provenance
    assert np.abs(plain(slices) - expected).max() > 1e-3
