"""Synthetic volumes sit exactly on their input grid (the pre-contrast volume's); the inverse path adds no error."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import torch

from dcesynth import phantom
from dcesynth.models.pix2pixhd.networks import build_generator
from dcesynth.slices import extract_slices, plan_transform
from dcesynth.synthesis import stack_to_volume, subtraction, synthetic_stacks
from conftest import TINY, default_config, deep_update, tiny_config


def test_real_post_through_the_inverse_path_is_the_real_volume():
    cfg = deep_update(default_config(), TINY)["phantom"]
    spec = phantom.plan_cohort({**cfg, "pixel_spacing_mm": [1.0, 1.0], "rows": [20, 24], "cols": [28, 30]})[0]
    vols = phantom.draw_case(spec)
    ref = sitk.GetImageFromArray(vols["pre"].astype(np.float32))
    ref.SetSpacing((1.0, 1.0, 3.0))
    ref.SetOrigin((-12.5, 30.0, -44.0))
    ref.SetDirection((1, 0, 0, 0, -1, 0, 0, 0, 1))
    post = sitk.GetImageFromArray(vols["post1"].astype(np.float32))
    post.CopyInformation(ref)
    size = max(spec.rows, spec.cols)  # no resampling: only padding, rotation and 8-bit quantisation
    t_pre = plan_transform(ref, size, rotate90=1)
    t_post = plan_transform(post, size, rotate90=1)
    stack = extract_slices(post, t_post)
    back = stack_to_volume(stack, t_pre, ref, "scanner", t_post)
    step = (t_post["intensity_max"] - t_post["intensity_min"]) / 255
    assert np.abs(sitk.GetArrayFromImage(back) - vols["post1"]).max() <= 0.5 * step + 1e-3
    for get in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
        assert getattr(back, get)() == getattr(ref, get)()


def test_subtraction_clips_negatives():
    pre = sitk.GetImageFromArray(np.array([[[10.0, 50.0], [5.0, 0.0]]]))
    post = sitk.GetImageFromArray(np.array([[[30.0, 20.0], [5.0, 7.0]]]))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(subtraction(post, pre)), [[[20, 0], [0, 7]]])


def test_synthetic_stacks_single_and_multi_phase():
    torch.manual_seed(0)
    pre = np.random.default_rng(0).integers(0, 255, (3, 16, 16), dtype=np.uint8)
    single = build_generator(ngf=4, n_downsample_global=1, n_blocks_global=1).eval()
    (stack,) = synthetic_stacks(single, pre, 1, batch_size=2)
    assert stack.shape == (3, 16, 16) and stack.dtype == np.uint8
    multi = build_generator(input_nc=1, output_nc=2, ngf=4, n_downsample_global=1, n_blocks_global=1).eval()
    stacks = synthetic_stacks(multi, pre, 2, batch_size=2)
    assert len(stacks) == 2 and not np.array_equal(stacks[0], stacks[1])
    with pytest.raises(ValueError, match="2 output channels for 3 targets"):
        synthetic_stacks(multi, pre, 3, batch_size=2)


@pytest.mark.integration
def test_every_synthetic_volume_has_its_input_geometry(tiny_run):
    run = tiny_config()["gan"]["run"]
    volumes = sorted((tiny_run / "results" / "synthetic" / run).glob("*/post1.nii.gz"))
    assert len(volumes) >= 3
    shapes, spacings = set(), set()
    for vol in volumes:
        case = vol.parent.name
        source = tiny_run / "results" / "n4" / case / "pre.nii.gz"
        others = [vol, *(tiny_run / "results" / "subtraction" / run / case).glob("*.nii.gz")]
        assert len(others) == 3
        s_src = sitk.ReadImage(str(source))
        n_src = nib.load(source)
        for path in others:
            s_img = sitk.ReadImage(str(path))
            assert s_img.GetSize() == s_src.GetSize(), path
            assert s_img.GetSpacing() == s_src.GetSpacing(), path
            assert s_img.GetOrigin() == s_src.GetOrigin(), path
            assert s_img.GetDirection() == s_src.GetDirection(), path
            n_img = nib.load(path)
            assert n_img.shape == n_src.shape
            np.testing.assert_allclose(n_img.affine, n_src.affine, atol=1e-5)
            assert nib.aff2axcodes(n_img.affine) == nib.aff2axcodes(n_src.affine)
        shapes.add(s_src.GetSize())
        spacings.add(tuple(round(v, 3) for v in s_src.GetSpacing()))
        arr = sitk.GetArrayFromImage(sitk.ReadImage(str(vol)))
        assert 0 <= arr.min() and arr.max() <= 255 and arr.std() > 0
    assert len(shapes) > 1, "cases must differ in in-plane size or slice count"
    assert all(sp[2] > 1.3 * sp[0] for sp in spacings), "anisotropic voxels"
    figures = tiny_run / "results" / "figures" / run
    assert (figures / "synthesis_grid.png").stat().st_size > 10_000
    assert (figures / "tumour_crops.png").stat().st_size > 10_000
    report = (tiny_run / "report.html").read_text(errors="replace")
    assert "synthesis_grid.png" in report and "tumour_crops.png" in report
