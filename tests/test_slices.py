"""Slice extraction and its inverse: the plumbing must not add error beyond quantisation."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from dcesynth.slices import axial_axis, extract_slices, plan_case_transforms, plan_transform, restore_volume


def volume(shape_zyx, spacing_xyz, seed=0, direction=None):
    rng = np.random.default_rng(seed)
    from scipy import ndimage

    arr = ndimage.gaussian_filter(rng.normal(0, 1, shape_zyx), 1.5) * 300 + 500
    img = sitk.GetImageFromArray(arr.astype(np.float32))
    img.SetSpacing(spacing_xyz)
    img.SetOrigin((-100.5, 20.25, -33.0))
    if direction is not None:
        img.SetDirection(direction)
    return img, arr


@pytest.mark.parametrize("rotate90", [0, 1, 3])
def test_round_trip_is_exact_up_to_quantisation(rotate90):
    # square pixels and a 64-pixel longer side: no resampling, only padding, rotation and 8-bit quantisation
    img, arr = volume((7, 40, 64), (0.8, 0.8, 2.5))
    t = plan_transform(img, size=64, rotate90=rotate90)
    stack = extract_slices(img, t)
    assert stack.shape == (7, 64, 64) and stack.dtype == np.uint8
    back = restore_volume(stack, t, img, intensity="scanner")
    step = (t["intensity_max"] - t["intensity_min"]) / 255
    err = np.abs(sitk.GetArrayFromImage(back) - arr)
    assert err.max() <= 0.5 * step + 1e-3
    for get in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
        assert getattr(back, get)() == getattr(img, get)()


def test_resampled_round_trip_is_close():
    # anisotropic pixels and upsampling to 96: cubic there and area back, close to quantisation
    img, arr = volume((5, 30, 45), (1.2, 0.9, 3.0), seed=1)
    t = plan_transform(img, size=96)
    assert t["inner"] == [round(30 * 0.9 * 96 / (45 * 1.2)), 96]
    back = sitk.GetArrayFromImage(restore_volume(extract_slices(img, t), t, img, intensity="scanner"))
    step = (t["intensity_max"] - t["intensity_min"]) / 255
    assert np.abs(back - arr).mean() < 1.0 * step
    assert np.corrcoef(back.ravel(), arr.ravel())[0, 1] > 0.995


def test_uint8_scale_range_and_clipping():
    img, arr = volume((4, 32, 32), (1.0, 1.0, 1.0), seed=2)
    t = plan_transform(img, size=32, clip_percentiles=(1, 99), slice_range=(1, 3))
    stack = extract_slices(img, t)
    assert stack.shape[0] == 2 and t["first_slice"] == 1
    assert stack.min() == 0 and stack.max() == 255
    assert t["intensity_min"] > arr.min() and t["intensity_max"] < arr.max()
    back = sitk.GetArrayFromImage(restore_volume(stack, t, img))
    assert back[0].max() == 0 and back[3].max() == 0  # outside the range
    assert 0 <= back.min() and back.max() <= 255


def test_axial_axis_follows_direction_cosines():
    axial, _ = volume((6, 20, 24), (1, 1, 2))
    assert axial_axis(axial) == 0
    # a sagittal acquisition: image axis 0 runs head-feet
    sag, arr = volume((6, 20, 24), (2, 1, 1), direction=(0, 0, 1, 0, 1, 0, 1, 0, 0))
    assert axial_axis(sag) == 2
    t = plan_transform(sag, size=24)
    stack = extract_slices(sag, t)
    assert stack.shape == (24, 24, 24)
    back = restore_volume(stack, t, sag, intensity="scanner")
    assert back.GetSize() == sag.GetSize()
    assert np.abs(sitk.GetArrayFromImage(back) - arr).mean() < (t["intensity_max"] - t["intensity_min"]) / 255 * 2


def test_joint_scale_keeps_the_enhancement():
    # post = pre everywhere but a region that enhances (+800): per volume, that region's maximum
    # darkens the rest of the post slice; on one joint scale the unchanged tissue keeps its grey level
    pre, arr = volume((4, 32, 32), (1.0, 1.0, 2.0), seed=3)
    post_arr = arr.copy()
    post_arr[:, 10:16, 10:16] += 800
    post = sitk.GetImageFromArray(post_arr.astype(np.float32))
    post.CopyInformation(pre)
    images = {"pre": pre, "post1": post}
    separate = plan_case_transforms(images, joint_scale=False, size=32)
    joint = plan_case_transforms(images, joint_scale=True, size=32)
    s = {k: extract_slices(images[k], separate[k]).astype(int) for k in images}
    j = {k: extract_slices(images[k], joint[k]).astype(int) for k in images}
    outside = np.ones(s["pre"].shape, bool)
    outside[:, 10:16, 10:16] = False
    assert (s["post1"] - s["pre"])[outside].mean() < -50  # per volume: unchanged tissue looks darker after contrast
    assert np.abs(j["post1"] - j["pre"])[outside].max() <= 1  # joint: unchanged tissue, same grey level
    assert (j["post1"] - j["pre"])[~outside].min() > 50  # and the enhancing region is brighter
    assert joint["pre"]["intensity_max"] == joint["post1"]["intensity_max"] == pytest.approx(post_arr.max(), rel=1e-6)
    assert joint["pre"]["joint_scale"] and not separate["pre"]["joint_scale"]
