"""FID_ImageNet's networks against the code they must equal, and the authors' MAE/MSE.

The state dicts here are seeded random networks saved to files (no pretrained weights exist on
this machine); the pretrained files have the same keys and shapes, so the wiring tested is the same.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchmetrics
from torch.nn import functional as F

from dcesynth import evaluation as E
from dcesynth import metrics as M
from dcesynth import tf_inception


def _seeded_state(net: torch.nn.Module, seed: int) -> dict:
    """He-initialised convolutions and non-trivial batch-norm statistics: activations stay O(1)
    in eval mode, so every branch (the pooling ones included) shows in the features."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return net.state_dict()


def _slices(n: int = 3, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(7)
    from scipy import ndimage

    x = ndimage.gaussian_filter(rng.normal(size=(n, size, size)), (0, 2, 2))
    return np.clip((x - x.min()) / (x.max() - x.min()) * 255, 0, 255).astype(np.uint8)


def _rgb01(slices: np.ndarray) -> torch.Tensor:
    """Grey uint8 slices as [0, 1] RGB at 299 px: the input both sides of each comparison share."""
    x = torch.from_numpy(slices.astype(np.float32))[:, None] / 255.0
    return F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False).expand(-1, 3, -1, -1)


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_torchvision_inception_equals_torchvisions_pretrained_forward_pass(tmp_path, monkeypatch):
    from torchvision.models import Inception_V3_Weights, inception_v3
    from torchvision.models._api import WeightsEnum
    from torchvision.models.inception import Inception3

    state = _seeded_state(Inception3(aux_logits=True, init_weights=False), seed=1)
    path = tmp_path / "inception_v3_google-0cc3c7bd.pth"
    torch.save(state, path)
    # torchvision's own pretrained builder, handed this state dict instead of the download
    monkeypatch.setattr(WeightsEnum, "get_state_dict", lambda self, *a, **k: torch.load(path, weights_only=True))
    reference = inception_v3(weights=Inception_V3_Weights.IMAGENET1K_V1).eval()
    assert reference.transform_input  # what the pretrained weights are used with
    reference.fc = torch.nn.Identity()
    slices = _slices()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference((_rgb01(slices) - mean) / std).numpy()

    ours = E.InceptionFeatures("pretrained", str(path), "metrics.fid_imagenet", network="torchvision")
    assert ours.provenance.startswith("torchvision pretrained:inception_v3_google-0cc3c7bd.pth:sha256=")
    assert _rel(ours(slices, batch_size=2), expected) < 1e-4

    # the defect this guards against: the same weights without the input transform
    wrong = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
    wrong.load_state_dict(state)
    wrong.fc = torch.nn.Identity()
    with torch.no_grad():
        assert _rel(wrong.eval()((_rgb01(slices) - mean) / std).numpy(), expected) > 0.01


def test_tf_inception_equals_pytorch_fid(tmp_path, monkeypatch):
    from pytorch_fid import inception as pytorch_fid_inception
    state = _seeded_state(tf_inception.build(), seed=2)
    assert state["fc.weight"].shape == (1008, 2048)
    # pytorch-fid's downloader finds the file in the torch hub cache and downloads nothing
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    path = cache / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    reference = pytorch_fid_inception.InceptionV3([3]).eval()  # pool_3, resize to 299, scale to [-1, 1]
    slices = _slices()
    x = torch.from_numpy(slices.astype(np.float32))[:, None].expand(-1, 3, -1, -1) / 255.0
    with torch.no_grad():
        expected = reference(x)[0].flatten(1).numpy()

    ours = E.InceptionFeatures("pretrained", str(path), "metrics.fid_imagenet", network="tf_inception")
    assert ours.provenance.startswith("tf_inception pretrained:pt_inception-2015-12-05-6726825d.pth:sha256=")
    assert _rel(ours(slices, batch_size=2), expected) < 1e-4

    # the TF graph's pooling differs from torchvision's blocks: the same weights give other features
    from torchvision.models.inception import Inception3

    plain = Inception3(num_classes=1008, aux_logits=False, transform_input=False, init_weights=False)
    plain.load_state_dict(state)
    plain.fc = torch.nn.Identity()
    with torch.no_grad():
        assert _rel(plain.eval()(_rgb01(slices) * 2 - 1).numpy(), expected) > 1e-3


@pytest.mark.parametrize("network", ["tf_inception", "torchvision"])
def test_the_inception_is_built_without_a_first_initialisation(tmp_path, network):
    """Untrained (metrics.fid_imagenet.mode: random): the Inception as its builder makes it, its
    convolutions then He-initialised under the seed, as defined before the network was built on the
    meta device. Pretrained from a half-precision file: its values, in float32. The classifier is
    dropped."""
    from torchvision.models import inception_v3

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        if network == "torchvision":
            reference = inception_v3(weights=None, aux_logits=True, init_weights=True, transform_input=True)
        else:
            reference = tf_inception.build()
        torch.manual_seed(3)
        for m in reference.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    kept = {k: v for k, v in reference.state_dict().items() if not k.startswith(("fc.", "AuxLogits."))}
    ours = E.InceptionFeatures("random", None, "metrics.fid_imagenet", seed=3, network=network).net.state_dict()
    assert list(ours) == list(kept) and all(torch.equal(ours[k], kept[k]) for k in kept)
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in reference.state_dict().items()}, tmp_path / "w.pth")
    loaded = E.InceptionFeatures("pretrained", str(tmp_path / "w.pth"), "metrics.fid_imagenet", network=network)
    loaded = loaded.net.state_dict()
    assert all(loaded[k].dtype == kept[k].dtype and torch.equal(loaded[k], kept[k].half().to(kept[k].dtype)) for k in kept)


def test_fid_network_choice_is_checked():
    from dcesynth.errors import ConfigError

    with pytest.raises(ConfigError, match="metrics.fid_imagenet.network"):
        E.InceptionFeatures("random", None, "metrics.fid_imagenet", network="keras")
    with pytest.raises(ConfigError, match="pt_inception-2015-12-05"):
        E.InceptionFeatures("pretrained", None, "metrics.fid_imagenet", network="tf_inception")
    feats = E.InceptionFeatures("random", None, "k", seed=3, network="tf_inception")(_slices(2, 32))
    assert feats.shape == (2, 2048) and np.isfinite(feats).all() and feats.std() > 0


def test_authors_mae_mse_equal_torchmetrics_on_uint8():
    rng = np.random.default_rng(3)
    real = rng.integers(0, 256, (5, 1, 24, 24), dtype=np.uint8)
    fake = np.clip(real.astype(int) + rng.integers(-20, 21, real.shape), 0, 255).astype(np.uint8)
    r, f = torch.from_numpy(real), torch.from_numpy(fake)
    ours_mae = M.mae(r, f, wrap_uint8=True).numpy()
    ours_mse = M.mse(r, f, wrap_uint8=True).numpy()
    for i in range(len(real)):
        # the authors' call: 3-channel uint8 images, preds = synthetic, target = real, one pair at a time
        rgb_r, rgb_f = r[i].repeat(3, 1, 1), f[i].repeat(3, 1, 1)
        assert ours_mae[i] == pytest.approx(float(torchmetrics.MeanAbsoluteError()(rgb_f, rgb_r)), rel=1e-6)
        assert ours_mse[i] == pytest.approx(float(torchmetrics.MeanSquaredError()(rgb_f, rgb_r)), rel=1e-6)
    # the wrap makes MAE exceed sqrt(MSE), which true metrics never allow (the published 88.7 vs 6.2)
    assert (ours_mae > np.sqrt(ours_mse)).all()
    true_mae, true_mse = M.mae(r, f).numpy(), M.mse(r, f).numpy()
    assert (true_mae <= np.sqrt(true_mse) + 1e-6).all() and (true_mae < ours_mae).all()
    with pytest.raises(ValueError, match="uint8"):
        M.mae(r.float(), f.float(), wrap_uint8=True)
