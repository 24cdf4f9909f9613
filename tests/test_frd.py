"""FRD: our radiomic features against PyRadiomics 3.0.1, and the distance's own properties.

The reference values (tests/data/radiomics_reference.npz) were computed by PyRadiomics 3.0.1 with
tests/data/make_radiomics_reference.py on four seeded images (texture with a blob, uniform noise,
a few flat grey levels with empty bins between them, a noisy ramp).
"""

from pathlib import Path

import numpy as np
import pytest
from dcesynth import frd
from dcesynth import metrics as M
from scipy import ndimage

REFERENCE = Path(__file__).parent / "data" / "radiomics_reference.npz"


@pytest.fixture(scope="module")
def reference():
    return np.load(REFERENCE)


def test_reference_was_made_by_pyradiomics(reference):
    assert str(reference["version"]) == "v3.0.1"
    assert sorted(frd.FEATURE_NAMES) == sorted(reference["names"].tolist())


@pytest.mark.parametrize("k", range(4))
def test_every_feature_matches_pyradiomics(reference, k):
    names = reference["names"].tolist()
    ours = dict(zip(frd.FEATURE_NAMES, frd.image_features(reference[f"image_{k}"])))
    theirs = dict(zip(names, reference["features"][k]))
    wrong = {n: (ours[n], theirs[n]) for n in names if not np.isclose(ours[n], theirs[n], rtol=1e-6, atol=1e-9)}
    assert not wrong, wrong
    # uint8 slices take a histogram path; any other dtype the per-pixel one: both agree
    as_float = frd.image_features(reference[f"image_{k}"].astype(np.float32))
    np.testing.assert_allclose(as_float, frd.image_features(reference[f"image_{k}"]), rtol=1e-9, atol=1e-9)


def test_features_see_texture_not_only_intensity():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(40, 40))
    rough = np.clip(128 + 40 * noise, 0, 255).astype(np.uint8)
    smooth = ndimage.gaussian_filter(noise, 2)
    smooth = np.clip(128 + 40 * smooth / smooth.std(), 0, 255).astype(np.uint8)
    f = dict(zip(frd.FEATURE_NAMES, frd.RadiomicsFeatures()(np.stack([rough, smooth])).T))
    # same first-order spread by construction, very different co-occurrence
    assert f["original_glcm_Contrast"][0] > 5 * f["original_glcm_Contrast"][1]
    assert f["original_glcm_Correlation"][1] > 0.8 > f["original_glcm_Correlation"][0]


def test_frd_is_ln_frechet_of_features_zscored_by_the_real_set():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(50, 4)) * [1, 2, 3, 0] + [0, 1, 2, 7]  # last feature constant: dropped
    fake = rng.normal(size=(50, 4)) + [0.5, 0, 0, 7]
    mean, sd = real[:, :3].mean(0), real[:, :3].std(0)
    a, b = (real[:, :3] - mean) / sd, (fake[:, :3] - mean) / sd
    expected = np.log(M.frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)))
    assert frd.frd(real, fake) == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ValueError, match="undefined"):
        frd.frd(np.ones((5, 3)), np.zeros((5, 3)))


def test_frd_orders_degradations():
    rng = np.random.default_rng(2)
    real = [ndimage.gaussian_filter(rng.normal(size=(32, 32)), 1.5) for _ in range(40)]
    real = np.stack([np.clip(128 + 300 * r, 0, 255) for r in real]).astype(np.uint8)
    other = [ndimage.gaussian_filter(rng.normal(size=(32, 32)), 1.5) for _ in range(40)]
    other = np.stack([np.clip(128 + 300 * r, 0, 255) for r in other]).astype(np.uint8)
    blurred = np.stack([ndimage.gaussian_filter(r.astype(float), 2) for r in other]).astype(np.uint8)
    ext = frd.RadiomicsFeatures()
    same_distribution = ext.distance(real, other)
    assert same_distribution < ext.distance(real, blurred)
