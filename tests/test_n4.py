"""N4 removes a planted bias field (the reference code's N4 returned nothing)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from dcesynth.n4 import n4_correct


def planted_bias_volume(seed: int = 0):
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(np.linspace(-1, 1, 24), np.linspace(-1, 1, 48), np.linspace(-1, 1, 48), indexing="ij")
    inside = x**2 + y**2 + (z / 1.2) ** 2 < 0.8
    tissue = np.where(inside, 100.0, 5.0)
    bias = np.exp(0.35 * x + 0.25 * y - 0.15 * z)
    arr = (tissue * bias + rng.normal(0, 1.0, tissue.shape)).astype(np.float32)
    image = sitk.GetImageFromArray(arr)
    image.SetSpacing((2.0, 2.0, 3.0))
    image.SetOrigin((-48.0, -48.0, -36.0))
    return image, inside


def cv(values: np.ndarray) -> float:
    return float(values.std() / values.mean())


def test_n4_flattens_planted_bias_field():
    image, inside = planted_bias_volume()
    corrected, log_bias = n4_correct(image, shrink_factor=2, iterations=[50, 50, 30])
    before = cv(sitk.GetArrayFromImage(image)[inside])
    after = cv(sitk.GetArrayFromImage(corrected)[inside])
    assert after < 0.1 * before, (before, after)  # measured 0.06
    # the field it found is the planted one, up to N4's free constant (log-bias residual sd measured 0.005)
    z, y, x = np.meshgrid(np.linspace(-1, 1, 24), np.linspace(-1, 1, 48), np.linspace(-1, 1, 48), indexing="ij")
    residual = (sitk.GetArrayFromImage(log_bias) - (0.35 * x + 0.25 * y - 0.15 * z))[inside]
    assert residual.std() < 0.02, residual.std()
    # same grid, bit for bit
    assert corrected.GetSize() == image.GetSize()
    assert corrected.GetSpacing() == image.GetSpacing()
    assert corrected.GetOrigin() == image.GetOrigin()
    assert corrected.GetDirection() == image.GetDirection()
    # corrected = image / exp(log bias)
    expected = sitk.GetArrayFromImage(image) / np.exp(sitk.GetArrayFromImage(log_bias))
    np.testing.assert_allclose(sitk.GetArrayFromImage(corrected), expected, rtol=1e-5)


def test_shrink_factor_is_capped_for_small_volumes():
    image, inside = planted_bias_volume(1)
    small = sitk.Shrink(image, [4, 4, 4])  # 12 x 12 x 6 voxels: shrink 4 would leave 1-3 voxels
    corrected, _ = n4_correct(small, shrink_factor=4, iterations=[5])
    assert corrected.GetSize() == small.GetSize()
    assert np.isfinite(sitk.GetArrayFromImage(corrected)).all()
