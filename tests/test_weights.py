"""Pretrained weight files named in config: missing, truncated or foreign files are one-line
config errors naming the key, for every network that reads one."""

import pytest
import torch

from dcesynth import evaluation as E
from dcesynth.errors import ConfigError
from dcesynth.training.perceptual import VGGLoss
from dcesynth.weights import load_state_dict


@pytest.fixture
def truncated(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save({"w": torch.randn(256, 256)}, path)
    path.write_bytes(path.read_bytes()[:5000])
    return path


def test_loader_names_the_key(tmp_path, truncated):
    with pytest.raises(ConfigError, match=r"^some\.key: .*nope\.pth does not exist$"):
        load_state_dict(tmp_path / "nope.pth", "some.key")
    with pytest.raises(ConfigError, match=r"^some\.key: .*weights\.pth is not a readable torch state dict"):
        load_state_dict(truncated, "some.key")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ConfigError, match="holds a list, not a state dict"):
        load_state_dict(tmp_path / "list.pt", "some.key")


@pytest.mark.parametrize(
    "build, key",
    [
        (lambda p: E.InceptionFeatures("pretrained", p, "metrics.fid_imagenet"), "metrics.fid_imagenet.weights"),
        (lambda p: E.RadImageNetFeatures("pretrained", p, "metrics.fid_radimagenet"), "metrics.fid_radimagenet.weights"),
        (lambda p: E.LPIPSNet("pretrained", "alex", p, "metrics.lpips"), "metrics.lpips.weights"),
        (lambda p: VGGLoss("pretrained", p), "gan.vgg.weights"),
    ],
)
def test_every_network_refuses_a_truncated_file(truncated, build, key):
    with pytest.raises(ConfigError, match=f"^{key}: .*not a readable torch state dict"):
        build(str(truncated))


def test_truncated_keras_file_is_refused(tmp_path):
    from dcesynth.radimagenet import load_weights

    bad = tmp_path / "RadImageNet-InceptionV3_notop.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(ConfigError, match="not a readable HDF5 file"):
        load_weights(bad, "metrics.fid_radimagenet")
