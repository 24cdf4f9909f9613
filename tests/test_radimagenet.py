"""FID_RadImageNet's network: our torch rebuild of Keras' InceptionV3 and the .h5 converter.

The reference is Keras itself (Keras 3 on its torch backend, no TensorFlow): its InceptionV3
with seeded random weights and non-trivial batch-norm statistics stands in for the RadImageNet
file, which cannot be downloaded here; the layout of the .h5 is the same.
"""

import os

os.environ["KERAS_BACKEND"] = "torch"

import h5py
import keras
import numpy as np
import pytest
import torch

from dcesynth import evaluation as E
from dcesynth import radimagenet as R
from dcesynth.errors import ConfigError


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = keras.applications.InceptionV3(weights=None, include_top=False, pooling="avg", input_shape=(299, 299, 3))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.1, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.1, n).astype("float32"))
    path = tmp_path_factory.mktemp("keras") / "inception_notop.h5"
    model.save(path)
    return model, path


def test_converted_weights_give_keras_features(keras_model):
    model, path = keras_model
    x = np.random.default_rng(1).uniform(-1, 1, (2, 299, 299, 3)).astype("float32")
    ref = keras.ops.convert_to_numpy(model(x, training=False))
    net = R.KerasInceptionV3().eval()
    net.load_state_dict(R.convert_keras_h5(path))
    with torch.no_grad():
        ours = net(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
    assert ours.shape == ref.shape == (2, 2048)
    # float32 through 94 conv layers; torchvision's Inception (padding counted in the block
    # average pools) is off by ~0.1 here, so this bound tells the two apart
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_extractor_reads_h5_and_converted_pt_alike(keras_model, tmp_path):
    _, path = keras_model
    pt = tmp_path / "radimagenet.pt"
    R.main(["convert", str(path), str(pt)])
    slices = np.random.default_rng(2).integers(0, 256, (3, 64, 48), dtype=np.uint8)
    a = E.RadImageNetFeatures("pretrained", str(path), "metrics.fid_radimagenet")(slices)
    b = E.RadImageNetFeatures("pretrained", str(pt), "metrics.fid_radimagenet")(slices)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 2048) and np.isfinite(a).all() and a.std() > 0
    assert E.RadImageNetFeatures("pretrained", str(pt), "k").provenance.startswith("pretrained:radimagenet.pt:sha256=")


def test_missing_or_wrong_weights_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="metrics.fid_radimagenet.weights"):
        E.RadImageNetFeatures("pretrained", None, "metrics.fid_radimagenet")
    with pytest.raises(ConfigError, match="does not exist"):
        E.RadImageNetFeatures("pretrained", str(tmp_path / "nope.h5"), "metrics.fid_radimagenet")
    # a Keras file of another network: refused with counts, not loaded half
    bad = tmp_path / "other.h5"
    with h5py.File(bad, "w") as f:
        f.attrs["layer_names"] = [b"conv2d"]
        g = f.create_group("conv2d")
        g.attrs["weight_names"] = [b"conv2d/kernel:0"]
        g.create_dataset("conv2d/kernel:0", data=np.zeros((3, 3, 3, 8), np.float32))
    with pytest.raises(ConfigError, match="not a Keras InceptionV3"):
        R.convert_keras_h5(bad)
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f.create_dataset("x", data=[1])
    with pytest.raises(ConfigError, match="not a Keras HDF5"):
        R.convert_keras_h5(tmp_path / "plain.h5")


def test_untrained_network_is_seeded_and_says_so():
    slices = np.random.default_rng(3).integers(0, 256, (2, 32, 32), dtype=np.uint8)
    a = E.RadImageNetFeatures("random", None, "k", seed=5)
    b = E.RadImageNetFeatures("random", None, "k", seed=5)
    np.testing.assert_array_equal(a(slices), b(slices))
    assert a.provenance.startswith("UNTRAINED")
    assert np.isfinite(a(slices)).all() and a(slices).std() > 0
