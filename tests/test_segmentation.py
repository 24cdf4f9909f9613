"""Unit tests of the segmentation stage: breast crops, nnU-Net folds, HD95, scenario checks, tables."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch
from scipy import ndimage

from dcesynth import nnunet, segmentation
from dcesynth.errors import ConfigError, InputError


def _volume(direction=None, origin=(-120.0, 35.5, -60.0), spacing=(0.8, 0.7, 2.5), tumour_x=(40, 48)):
    """An oblique 64x40x12 volume with a tumour box in one breast, and its mask."""
    arr = np.random.default_rng(0).normal(100, 10, (12, 40, 64)).astype(np.float32)
    mask = np.zeros(arr.shape, np.uint8)
    mask[4:8, 15:22, tumour_x[0]:tumour_x[1]] = 1
    arr[mask > 0] += 200
    img, msk = sitk.GetImageFromArray(arr), sitk.GetImageFromArray(mask)
    for im in (img, msk):
        im.SetSpacing(spacing)
        im.SetOrigin(origin)
        if direction is not None:
            im.SetDirection(direction)
    return img, msk


def _physical_centre(mask: sitk.Image) -> np.ndarray:
    com_zyx = ndimage.center_of_mass(sitk.GetArrayFromImage(mask) > 0)
    return np.array(mask.TransformContinuousIndexToPhysicalPoint([float(c) for c in com_zyx[::-1]]))


def _rotation(deg):
    t = np.deg2rad(deg)
    return (np.cos(t), -np.sin(t), 0.0, np.sin(t), np.cos(t), 0.0, 0.0, 0.0, 1.0)


@pytest.mark.parametrize("direction", [None, _rotation(12)])
@pytest.mark.parametrize("tumour_x", [(40, 48), (5, 12)])
def test_crop_keeps_physical_position_of_tumour(direction, tumour_x):
    img, msk = _volume(direction, tumour_x=tumour_x)
    crop_img = segmentation.crop_breast(img, msk)
    crop_msk = segmentation.crop_breast(msk, msk, label=True)
    assert crop_img.GetSize() == (32, 40, 12)  # one half, left-right
    assert sitk.GetArrayViewFromImage(crop_msk).sum() == sitk.GetArrayViewFromImage(msk).sum()
    np.testing.assert_allclose(_physical_centre(crop_msk), _physical_centre(msk), atol=1e-6)
    # a voxel of the crop holds the intensity the uncropped image has at the same physical point
    point = crop_img.TransformIndexToPhysicalPoint((3, 17, 5))
    assert crop_img[3, 17, 5] == pytest.approx(img[img.TransformPhysicalPointToIndex(point)])
    if tumour_x[0] > 32:
        assert crop_img.GetOrigin() != img.GetOrigin()  # the reference code's defect: origin kept


def test_crop_resampled_to_isotropic_keeps_tumour_position():
    img, msk = _volume()
    crop = segmentation.crop_breast(msk, msk, resample_mm=1.0, label=True)
    assert crop.GetSpacing() == (1.0, 1.0, 1.0)
    assert crop.GetSize() == (round(32 * 0.8), round(40 * 0.7), round(12 * 2.5))
    # nearest-neighbour resampling moves the centre by at most about half a source voxel
    assert np.abs(_physical_centre(crop) - _physical_centre(msk)).max() < 1.3
    assert set(np.unique(sitk.GetArrayViewFromImage(crop))) == {0, 1}


def test_crop_refuses_empty_mask_and_other_grid():
    img, msk = _volume()
    empty = sitk.Image(msk.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(msk)
    with pytest.raises(InputError, match="mask is empty"):
        segmentation.crop_breast(img, empty, case="C1")
    moved = sitk.Image(msk)
    moved.SetOrigin((0.0, 0.0, 0.0))
    with pytest.raises(InputError, match="grids differ"):
        segmentation.crop_breast(img, moved, case="C1")


def test_fold_splits_keep_every_copy_of_a_case_in_its_fold():
    cv = pd.DataFrame({"case_id": [f"C{i}" for i in range(7)], "fold": [0, 1, 2, 0, 1, 2, 0]})
    images = ["real_pre", "syn_post"]
    splits = segmentation.fold_splits(cv, images, 3)
    assert len(splits) == 3
    for k, fold in enumerate(splits):
        train_cases = {i.split("__")[0] for i in fold["train"]}
        val_cases = {i.split("__")[0] for i in fold["val"]}
        assert not train_cases & val_cases
        assert val_cases == set(cv.loc[cv["fold"] == k, "case_id"])
        assert train_cases | val_cases == set(cv["case_id"])
        assert len(fold["train"]) == 2 * len(train_cases) and len(fold["val"]) == 2 * len(val_cases)
    with pytest.raises(ConfigError, match="fold 3"):
        segmentation.fold_splits(cv, images, 4)


def test_hd95_hand_computed():
    a = np.zeros((5, 20, 20), bool)
    b = np.zeros_like(a)
    a[:, 5, :] = True  # two parallel planes 4 rows apart: every surface distance is 4 rows
    b[:, 9, :] = True
    assert segmentation.hd95(a, b, (3.0, 0.5, 0.5)) == pytest.approx(2.0)
    assert segmentation.hd95(a, a, (3.0, 0.5, 0.5)) == 0.0
    c = np.zeros_like(a)
    c[1, 5, 5] = True
    d = np.zeros_like(a)
    d[4, 5, 9] = True  # single voxels: 3 slices of 3 mm and 4 columns of 0.5 mm apart
    assert segmentation.hd95(c, d, (3.0, 0.5, 0.5)) == pytest.approx(np.hypot(9.0, 2.0))
    assert np.isnan(segmentation.hd95(c, np.zeros_like(c), (1, 1, 1)))


def test_hd95_equals_medpy_where_it_differs_from_hausdorff_and_each_direction(request, tmp_path):
    """Against MedPy's own hd95 (installed for the test in a folder of its own, run in a subprocess)
    on irregular shapes: two ellipsoids, one with a thin spike, anisotropic spacing. There the
    95th percentile is neither the maximum distance (Hausdorff) nor either directed value alone."""
    import subprocess
    import sys

    from conftest import side_package

    z, y, x = np.ogrid[:12, :24, :24]
    a = ((z - 6) / 4.5) ** 2 + ((y - 11) / 7) ** 2 + ((x - 12) / 6) ** 2 <= 1
    b = ((z - 6) / 4) ** 2 + ((y - 12) / 6.5) ** 2 + ((x - 11) / 7) ** 2 <= 1
    b[5:7, 12, 18:23] = True  # a thin spike, far from a
    spacing = (2.0, 0.7, 0.8)
    np.savez(tmp_path / "masks.npz", a=a, b=b)
    code = ("import sys, numpy as np; from medpy.metric.binary import hd95, hd; m = np.load(sys.argv[1]); "
            f"s = {spacing}; print(hd95(m['a'], m['b'], s), hd95(m['b'], m['a'], s), hd(m['a'], m['b'], s))")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(side_package(request, "medpy==0.5.2"))}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "masks.npz")], env=env, check=True,
                         capture_output=True, text=True).stdout.split()  # fmt: skip
    medpy_ab, medpy_ba, hausdorff = map(float, out)
    ours = segmentation.hd95(a, b, spacing)
    assert ours == pytest.approx(medpy_ab, rel=1e-9) and ours == pytest.approx(medpy_ba, rel=1e-9)
    # the shapes tell them apart: the spike makes the maximum larger, and one direction alone is smaller
    from scipy import ndimage

    cross = ndimage.generate_binary_structure(3, 1)
    sa, sb = (m ^ ndimage.binary_erosion(m, structure=cross) for m in (a, b))
    directed = [np.percentile(ndimage.distance_transform_edt(~t, sampling=spacing)[s], 95) for s, t in ((sa, sb), (sb, sa))]
    assert hausdorff > ours + 0.5 and max(directed) > ours + 0.1 and min(directed) < ours - 0.1


def test_case_metrics_dice_from_nnunet(tmp_path):
    ref = np.zeros((6, 10, 10), np.uint8)
    ref[2:4, 2:6, 2:6] = 1  # 32 voxels
    pred = np.zeros_like(ref)
    pred[2:4, 2:6, 4:8] = 1  # 32 voxels, 16 shared
    for name, arr in (("ref", ref), ("pred", pred)):
        im = sitk.GetImageFromArray(arr)
        im.SetSpacing((1.0, 1.0, 2.0))
        sitk.WriteImage(im, str(tmp_path / f"{name}.nii.gz"))
    m = segmentation.case_metrics(tmp_path / "ref.nii.gz", tmp_path / "pred.nii.gz")
    assert m["dice"] == pytest.approx(2 * 16 / 64)
    assert m["tumour_voxels"] == 32 and m["predicted_voxels"] == 32
    assert m["hd95_mm"] == pytest.approx(2.0)


def test_scenarios_are_checked():
    segmentation.check_scenarios({"real_pre+syn_post": {"id": 502, "test_on": ["real_post"]}})
    assert segmentation.scenario_images("real_post+real_pre+syn_post") == ["real_post", "real_pre", "syn_post"]
    assert segmentation.dataset_name(7, "real_pre+syn_post") == "Dataset007_real_pre_plus_syn_post"
    with pytest.raises(ConfigError, match="real_pst"):
        segmentation.check_scenarios({"real_pst": {"id": 1, "test_on": ["real_pre"]}})
    with pytest.raises(ConfigError, match="share dataset id"):
        segmentation.check_scenarios({"real_pre": {"id": 1, "test_on": ["real_pre"]}, "syn_post": {"id": 1, "test_on": ["real_pre"]}})
    with pytest.raises(ConfigError, match="syn_post"):
        segmentation.check_scenarios({"real_pre": {"id": 1, "test_on": ["syn_post"]}})


def test_segmentation_table_follows_paper_rows():
    from conftest import REPO

    paper = pd.read_csv(REPO / "resources" / "paper_segmentation_dice.tsv", sep="\t")
    scenarios = {"real_pre": {"id": 1}, "syn_post": {"id": 3}, "real_post+real_pre": {"id": 6}}
    rows = []
    # each (training set, test domain) its own per-case values, so a row routed to another pair shows
    pairs = [("real_pre", "real_pre"), ("real_pre", "real_post"), ("syn_post", "real_pre"), ("syn_post", "real_post"),
             ("real_post+real_pre", "real_pre")]
    for k, (s, d) in enumerate(pairs):
        for case, dice, hd in (("A", 0.1 * k, 1.0 + k), ("B", 0.1 * k + 0.3, 4.0 + 2 * k)):
            rows.append({"scenario": s, "test_on": d, "case_id": case, "dice": dice, "hd95_mm": hd})
    expected_dice = {p: 0.1 * k + 0.15 for k, p in enumerate(pairs)}
    expected_hd = {p: 2.5 + 1.5 * k for k, p in enumerate(pairs)}
    table = segmentation.segmentation_table(pd.DataFrame(rows), paper, scenarios, "phantom")
    # syn_post on real_post is in two paper blocks (2 and 3), syn_post on real_pre in blocks 1 and 4
    assert list(zip(table["experiment"], table["train_on"], table["test_on"])) == [
        ("1", "real_pre", "real_pre"), ("1", "syn_post", "real_pre"), ("2", "real_pre", "real_post"),
        ("2", "syn_post", "real_post"), ("3", "syn_post", "real_post"), ("4", "syn_post", "real_pre"),
        ("extra", "real_post+real_pre", "real_pre"),
    ]
    keys = list(zip(table["train_on"], table["test_on"]))
    assert table["dice"].tolist() == pytest.approx([expected_dice[k] for k in keys])
    assert table["hd95_mm"].tolist() == pytest.approx([expected_hd[k] for k in keys])
    assert table["dice_sd"].tolist() == pytest.approx([0.3 / np.sqrt(2)] * 7)  # pandas' sample sd of two values
    assert table.loc[0, "paper_dice"] == pytest.approx(0.569)
    assert np.isnan(table["paper_dice"].iloc[-1])
    assert (table["n_cases"] == 2).all() and (table["cohort"] == "phantom").all()


def test_raw_dataset_layout(tmp_path):
    img, msk = _volume()
    sitk.WriteImage(img, str(tmp_path / "img.nii.gz"))
    sitk.WriteImage(msk, str(tmp_path / "lab.nii.gz"))
    i, lab = str(tmp_path / "img.nii.gz"), str(tmp_path / "lab.nii.gz")
    training = {("C1", "real_pre"): (i, lab), ("C1", "syn_post"): (i, lab), ("C2", "real_pre"): (i, lab)}
    root = tmp_path / "raw" / "Dataset001_x"
    meta = segmentation.write_training_set(root, training, "MRI", "d")
    segmentation.write_test_images(root / "imagesTs_real_post", {"T1": i})
    assert sorted(p.name for p in (root / "imagesTr").iterdir()) == [
        "C1__real_pre_0000.nii.gz", "C1__syn_post_0000.nii.gz", "C2__real_pre_0000.nii.gz"]
    assert sorted(p.name for p in (root / "labelsTr").iterdir()) == [
        "C1__real_pre.nii.gz", "C1__syn_post.nii.gz", "C2__real_pre.nii.gz"]
    assert [p.name for p in (root / "imagesTs_real_post").iterdir()] == ["T1_0000.nii.gz"]
    assert json.loads((root / "dataset.json").read_text()) == meta
    assert meta["numTraining"] == 3 and meta["labels"] == {"background": 0, "tumour": 1}
    assert sorted(p.name for p in root.iterdir()) == ["dataset.json", "imagesTr", "imagesTs_real_post", "labelsTr"]


def test_truncated_nnunet_checkpoint_is_refused_before_prediction(tmp_path):
    model = tmp_path / "nnUNetTrainer__nnUNetPlans__3d_fullres"
    for f in (0, 1):
        (model / f"fold_{f}").mkdir(parents=True)
        torch.save({"network_weights": {"w": torch.randn(64, 64)}, "current_epoch": 5}, model / f"fold_{f}" / "checkpoint_final.pth")
    bad = model / "fold_1" / "checkpoint_final.pth"
    assert nnunet._complete_checkpoint(bad)
    bad.write_bytes(bad.read_bytes()[:-200])
    assert not nnunet._complete_checkpoint(bad)
    with pytest.raises(InputError, match=r"fold_1/checkpoint_final.pth: corrupt or truncated nnU-Net checkpoint\. delete it"):
        nnunet.predict(model, [0, 1], tmp_path / "imagesTs", tmp_path / "out", 1, "cpu", False, 0.5)


def test_our_trainers_are_found_without_searching_nnunets_package(nnunet_searches):
    """nnU-Net's lookup imports every module of its trainer package before it tries
    nnUNet_extTrainer: a trainer of ours is returned without that search, nnU-Net's own are still
    found by it, and the lookup is nnU-Net's again afterwards."""
    from nnunetv2.run import run_training
    from nnunetv2.inference import predict_from_raw_data

    original = run_training.recursive_find_trainer_class_by_name
    with nnunet.our_trainers_found_first(*nnunet.TRAINER_LOOKUPS):
        for module in (run_training, predict_from_raw_data):
            tiny = module.recursive_find_trainer_class_by_name("nnUNetTrainer_dcesynth_tiny")
            assert tiny.__name__ == "nnUNetTrainer_dcesynth_tiny"
            assert tiny.__module__ == "dcesynth.nnunet_trainers.nnUNetTrainer_dcesynth" and tiny.EPOCHS == 2
        assert nnunet_searches == []
        theirs = run_training.recursive_find_trainer_class_by_name("nnUNetTrainer")
        assert theirs.__module__ == "nnunetv2.training.nnUNetTrainer.nnUNetTrainer" and nnunet_searches == ["nnUNetTrainer"]
    assert run_training.recursive_find_trainer_class_by_name is original
    assert predict_from_raw_data.recursive_find_trainer_class_by_name is original


@pytest.mark.parametrize("change", ["nothing", "plans", "dataset", "folds", "trainer", "truncated checkpoint"])
def test_a_killed_fold_resumes_only_from_the_same_inputs(tmp_path, change):
    """nnU-Net continues a killed fold from checkpoint_latest.pth only when plans, dataset.json,
    the folds and the trainer are those it was trained with, and the checkpoint reads to its end;
    otherwise the fold folder is cleared and training starts again."""
    import torch

    from dcesynth.nnunet import prepare_fold

    pre, fold = tmp_path / "preprocessed", tmp_path / "results" / "fold_0"
    pre.mkdir()
    for name, value in (("nnUNetPlans.json", {"plans": 1}), ("dataset.json", {"numTraining": 4}),
                        ("splits_final.json", [{"train": ["a", "b"], "val": ["c"]}])):  # fmt: skip
        (pre / name).write_text(json.dumps(value))
    assert prepare_fold(fold, pre, "nnUNetTrainer_x", "3d_fullres") is False  # a fresh fold
    torch.save({"current_epoch": 1, "weights": torch.zeros(1000)}, fold / "checkpoint_latest.pth")
    (fold / "training_log_1.txt").write_text("Epoch 0\n")
    trainer = "nnUNetTrainer_x"
    if change == "plans":
        (pre / "nnUNetPlans.json").write_text(json.dumps({"plans": 2}))
    elif change == "dataset":
        (pre / "dataset.json").write_text(json.dumps({"numTraining": 5}))
    elif change == "folds":
        (pre / "splits_final.json").write_text(json.dumps([{"train": ["a", "c"], "val": ["b"]}]))
    elif change == "trainer":
        trainer = "nnUNetTrainer_y"
    elif change == "truncated checkpoint":
        data = (fold / "checkpoint_latest.pth").read_bytes()
        (fold / "checkpoint_latest.pth").write_bytes(data[: len(data) // 2])
    resume = prepare_fold(fold, pre, trainer, "3d_fullres")
    assert resume is (change == "nothing")
    assert (fold / "checkpoint_latest.pth").exists() is resume and (fold / "training_log_1.txt").exists() is resume
    assert prepare_fold(fold, pre, trainer, "3d_fullres") is resume  # a restarted fold has no checkpoint yet
