"""The MAMA-SYNTH challenge's per-case metrics, classifiers and export (dcesynth.evaluation.mama_synth),
each against a reference worked out here: numpy, scikit-image, scikit-learn, the lpips package."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from dcesynth.evaluation import mama_synth as ms


def _volume(arr: np.ndarray, spacing=(0.8, 0.7, 2.0), direction=None) -> sitk.Image:
    img = sitk.GetImageFromArray(arr.astype(np.float32))
    img.SetSpacing(spacing)
    img.SetOrigin((-10.0, 5.0, 3.0))
    if direction is not None:
        img.SetDirection(direction)
    return img


@pytest.mark.parametrize("left_right_rows", [False, True])
def test_the_evaluated_slice_is_z_scored_with_the_pre_contrast_volume(tmp_path, left_right_rows):
    """The largest-tumour axial slice of the volumes as acquired, (x - mean) / sd of the whole
    pre-contrast volume, worked out here from the raw arrays; its columns run left-right (a volume
    whose index axis y points left-right comes back transposed); a model's prediction comes from
    its 0-255 slice stack at another size, put back with the real post-contrast window."""
    from dcesynth.slices import extract_slices, plan_transform

    rng = np.random.default_rng(0)
    shape = (5, 32, 40)
    zz, yy, xx = np.mgrid[: shape[0], : shape[1], : shape[2]]
    pre = 250 + 100 * np.sin(xx / 6.0) * np.cos(yy / 5.0) + 5 * zz  # smooth: a resize keeps it
    post = pre * 1.5 + 150 * (1 + np.cos(xx / 7.0 + yy / 9.0))
    mask = np.zeros(shape)
    mask[1, 10:14, 10:14] = 1
    mask[3, 8:20, 9:30] = 1  # the largest area
    # identity, or index axis y along the patient's left-right axis (then the slice's rows run left-right)
    direction = (0, 1, 0, 1, 0, 0, 0, 0, 1) if left_right_rows else None
    files = {}
    for name, arr in (("pre", pre), ("post", post), ("mask", mask)):
        sitk.WriteImage(_volume(arr, direction=direction), str(tmp_path / f"{name}.nii.gz"))
        files[name] = str(tmp_path / f"{name}.nii.gz")
    fake = np.clip(post + 30 * np.sin(yy / 4.0), post.min(), post.max())  # within the real window
    transforms = {}
    for name, arr in (("pre", pre), ("post", post)):
        t = plan_transform(_volume(arr, direction=direction), size=48)  # resized: 48 px for 40 x 32 mm... slices
        (tmp_path / f"{name}.json").write_text(json.dumps(t))
        transforms[name] = str(tmp_path / f"{name}.json")
    np.save(tmp_path / "fake.npy", extract_slices(_volume(fake, direction=direction), json.loads((tmp_path / "post.json").read_text())))
    s = ms.case_slices(files["mask"], {"pre": files["pre"], "real": files["post"]},
                       {"model": {"stack": tmp_path / "fake.npy", "transforms": transforms}})  # fmt: skip
    turn = (lambda a: a.T) if left_right_rows else (lambda a: a)  # noqa: E731
    assert s["z"] == 3 and s["mask"].sum() == 12 * 21 and s["mask"].shape == turn(mask[3]).shape
    assert s["spacing"] == pytest.approx((0.7, 0.8) if left_right_rows else (0.8, 0.7))
    mean, sd = pre.mean(), pre.std()
    assert s["mean"] == pytest.approx(mean) and s["sd"] == pytest.approx(sd)
    np.testing.assert_allclose(s["pre"], turn((pre[3] - mean) / sd), atol=1e-5)
    np.testing.assert_allclose(s["real"], turn((post[3] - mean) / sd), atol=1e-5)
    assert (s["mask"] == turn(mask[3] > 0)).all()
    # the prediction went through 0-255 and a resize: close to the raw values, not equal
    err = np.abs(s["model"] - turn((fake[3] - mean) / sd))
    assert np.median(err) < 0.1 and err.max() < 1.0
    # the z-scores keep the enhancement: post-contrast sits above pre-contrast (a per-slice z-score would not)
    assert s["real"].mean() > s["pre"].mean() + 1.0
    # an external model's volume (z-scored with the pre-contrast statistics) comes back as it is
    sitk.WriteImage(_volume((fake - mean) / sd, direction=direction), str(tmp_path / "ext.nii.gz"))
    ext = ms.case_slices(files["mask"], {"pre": files["pre"], "real": files["post"]},
                         {"ext": {"volume": tmp_path / "ext.nii.gz", "intensity": "zscore"}})  # fmt: skip
    np.testing.assert_allclose(ext["ext"], turn((fake[3] - mean) / sd), atol=1e-4)


def test_the_fixed_segmenter_is_scored_on_the_evaluated_slice_of_the_mask_grid(tmp_path):
    """A prediction on a breast crop (a sub-grid with its own origin) is compared on the mask's grid:
    the crop's own largest slice index would be another plane."""
    mask = np.zeros((6, 30, 40), np.uint8)
    mask[2, 10:15, 25:30] = 1
    mask[4, 8:18, 24:34] = 1  # the evaluated slice: z = 4
    img = sitk.Cast(_volume(mask), sitk.sitkUInt8)
    sitk.WriteImage(img, str(tmp_path / "mask.nii.gz"))
    crop = img[20:40, 5:25, 1:6]  # x 20-39, y 5-24, z 1-5: the crop's index 3 is the mask's 4
    pred = sitk.GetArrayFromImage(crop)
    pred[3, 3:13, 2:14] = 1  # the tumour (columns 4-13 of the crop), grown by 2 columns to the left
    out = sitk.GetImageFromArray(pred)
    out.CopyInformation(crop)
    sitk.WriteImage(out, str(tmp_path / "pred.nii.gz"))
    plane = ms.Plane(sitk.ReadImage(str(tmp_path / "mask.nii.gz")))
    got = ms.segmenter_on_slice(plane, str(tmp_path / "pred.nii.gz"))
    # predicted 10 x 12 = 120 pixels (the tumour's 100 and 20 more): Dice 200 / 220
    assert got["dice"] == pytest.approx(200 / 220)
    assert all(np.isnan(v) for v in ms.segmenter_on_slice(plane, str(tmp_path / "none.nii.gz")).values())


def test_full_image_and_tumour_region_metrics_as_the_challenge_defines_them():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:48, :48]
    # a low-contrast slice (a fraction of an sd): SSIM's constants, set by data_range, then matter
    real = (0.3 * np.sin(xx / 5.0) * np.cos(yy / 7.0) + rng.normal(0, 0.05, (48, 48))).astype(np.float32)
    mask = np.zeros(real.shape, bool)
    mask[20:30, 18:31] = True
    fake = real.copy()
    fake[mask] = -fake[mask] + 0.5  # wrong inside the tumour only
    assert ms.mse_full_image(fake, real) == pytest.approx(((fake - real) ** 2).sum() / real.size, rel=1e-6)
    _, smap = structural_similarity(fake.astype(np.float64), real.astype(np.float64), data_range=10.0, full=True)
    assert ms.ssim_roi(fake, real, mask) == pytest.approx(smap[mask].mean(), abs=1e-9)
    # the map averaged in the mask, not the whole slice's SSIM, and data_range 10 (not the slices' range)
    assert abs(ms.ssim_roi(fake, real, mask) - smap.mean()) > 0.1
    other = structural_similarity(fake, real, data_range=1.0, full=True)[1][mask].mean()  # an older evaluator's
    assert abs(ms.ssim_roi(fake, real, mask) - other) > 0.01


def test_lpips_of_the_full_image_clips_at_five_sd_and_maps_to_minus_one_one():
    import torch

    from dcesynth.evaluation.features import lpips_network

    net = lpips_network({"mode": "random", "net": "alex", "weights": None, "seed": 0})
    rng = np.random.default_rng(2)
    real = rng.normal(0, 2, (64, 64)).astype(np.float32)
    fake = real + rng.normal(0, 0.5, real.shape).astype(np.float32)
    got = ms.lpips_full_image(net, fake, real)
    # the lpips package itself, on the same inputs prepared here
    a, b = (torch.from_numpy(np.clip(x, -5, 5) / 5)[None, None].expand(-1, 3, -1, -1) for x in (fake, real))
    assert got == pytest.approx(float(net.model(a, b).item()), rel=1e-5)
    assert ms.lpips_full_image(net, real, real) == pytest.approx(0.0, abs=1e-6)
    # beyond ±5 sd nothing changes: values clipped alike
    louder = fake.copy()
    louder[fake > 5] = 50.0
    assert ms.lpips_full_image(net, louder, real) == pytest.approx(got, rel=1e-6)


def test_segmentation_on_the_slice_and_the_challenges_imputation():
    label = np.zeros((20, 20), bool)
    label[5:10, 5:10] = True
    pred = np.zeros_like(label)
    pred[5:10, 7:12] = True  # 15 of 25 voxels overlap
    got = ms.segmentation_scores(label, pred, (0.5, 2.0))
    assert got["dice"] == pytest.approx(2 * 15 / 50)
    # HD95 in mm with the slice's spacing: x (columns) 0.5 mm, y (rows) 2 mm; the shift is along x
    assert 0.5 <= got["hd95"] <= 1.0 + 1e-9
    assert all(np.isnan(v) for v in ms.segmentation_scores(label, np.zeros_like(label), (1, 1)).values())
    assert all(np.isnan(v) for v in ms.segmentation_scores(label, None, (1, 1)).values())
    table = pd.DataFrame({"model": ["a", "a", "b", "b"], "case": ["c0", "c1", "c0", "c1"],
                          "dice": [0.8, np.nan, 0.3, 0.6], "hd95": [2.0, np.nan, 9.0, 4.0]})  # fmt: skip
    out = ms.impute_worst(table)
    # the worst observed value: the lowest Dice, the highest HD95, over every model and case
    assert out.loc[1, "dice"] == 0.3 and out.loc[1, "hd95"] == 9.0
    assert out["imputed_dice"].tolist() == [False, True, False, False]
    # a baseline's values never count for a run's (they would make it depend on the baseline)
    base = pd.concat([table, pd.DataFrame({"model": ["pre"] * 2, "case": ["c0", "c1"], "dice": [0.0, np.nan],
                                           "hd95": [50.0, np.nan]})], ignore_index=True)  # fmt: skip
    out = ms.impute_worst(base, cases=["c0", "c1"], baseline="pre")
    assert out.loc[1, "dice"] == 0.3 and out.loc[1, "hd95"] == 9.0
    assert out.loc[5, "dice"] == 0.0 and out.loc[5, "hd95"] == 50.0  # the baseline's: the worst of all
    # only the cases named take part
    assert np.isnan(ms.impute_worst(table, cases=["c0"]).loc[1, "dice"])


def test_a_case_without_a_prediction_gets_the_run_s_own_worst_values():
    """The challenge's protocol: a case a submission left out gets, for each metric, the worst value
    that submission scored on its other cases (its own: another run's values never move it)."""
    table = pd.DataFrame({"model": ["a", "a", "a", "b", "b", "b"], "case": ["c0", "c1", "c2"] * 2,
                          "mse_full_image": [0.5, 0.9, np.nan, 3.0, 4.0, 5.0],
                          "ssim_roi": [0.7, 0.4, np.nan, 0.1, 0.2, 0.05],
                          "missing_prediction": [False, False, True, False, False, False]})  # fmt: skip
    out = ms.impute_missing_cases(table, ["mse_full_image", "ssim_roi"])
    assert out.loc[2, "mse_full_image"] == 0.9 and out.loc[2, "ssim_roi"] == 0.4  # a's worst: highest MSE, lowest SSIM
    pd.testing.assert_frame_equal(out.drop(index=2), table.drop(index=2))  # nothing else changes
    # with cases (Dice and HD95: the segmentation test cases), a missing case outside them stays empty
    seg = table.assign(dice=[0.5, 0.2, np.nan, 0.1, 0.2, 0.3])
    out = ms.impute_missing_cases(seg, ["dice"], cases=["c0", "c2"])
    assert out.loc[2, "dice"] == 0.5  # a's own worst over its segmentation test cases (c0 only; c1's 0.2 is not one)
    assert np.isnan(ms.impute_missing_cases(seg, ["dice"], cases=["c0", "c1"]).loc[2, "dice"])
    # the run's ranking does not depend on how badly another run did
    worse_b = table.assign(mse_full_image=table["mse_full_image"].where(table["model"] == "a", 99.0))
    assert ms.impute_missing_cases(worse_b, ["mse_full_image"]).loc[2, "mse_full_image"] == 0.9


def test_the_classifiers_and_their_auroc():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    pos, neg = rng.normal(1.0, 1.0, (12, 6)), rng.normal(-1.0, 1.0, (12, 6))
    clf = ms.fit_classifier(pos, neg, seed=4)
    p_pos, p_neg = ms.probabilities(clf, pos), ms.probabilities(clf, neg)
    assert ms.auroc(p_pos, p_neg) == pytest.approx(roc_auc_score(np.r_[np.ones(12), np.zeros(12)], np.r_[p_pos, p_neg]))
    cases = [f"c{i}" for i in range(12)]
    assert ms.cross_validated_auroc(pos, neg, cases, seed=4) > 0.9
    assert ms.cross_validated_auroc(pos, neg, cases, seed=4) == ms.cross_validated_auroc(pos, neg, cases, seed=4)
    # ties count half, as roc_auc_score
    a, b = np.array([0.2, 0.5, 0.5, 0.9]), np.array([0.5, 0.1, 0.5])
    assert ms.auroc(a, b) == pytest.approx(roc_auc_score(np.r_[np.ones(4), np.zeros(3)], np.r_[a, b]))
    assert np.isnan(ms.auroc(a, [])) and np.isnan(ms.auroc(ms.probabilities(None, pos), p_neg))
    with pytest.raises(ValueError, match="at least 2 training samples per class"):
        ms.fit_classifier(pos[:1], neg, seed=0)


def test_tumour_features_inside_the_mask_and_its_mirror():
    from dcesynth.frd import image_features

    rng = np.random.default_rng(5)
    image = rng.normal(0, 2, (40, 40))
    mask = np.zeros(image.shape, bool)
    mask[8:20, 5:15] = True
    # a rectangular ROI: its features are those of the cropped rectangle, nothing from outside leaks in
    np.testing.assert_allclose(ms.roi_features(image, mask),
                               image_features(image[8:20, 5:15], np.ones((12, 10), bool), normalize=False), rtol=1e-10)  # fmt: skip
    assert not np.allclose(ms.roi_features(image, mask), ms.roi_features(image + 1.0, mask))  # the level counts
    mirror = ms.mirrored(mask)
    assert mirror[8:20, 25:35].all() and mirror.sum() == mask.sum()
    centred = np.zeros(image.shape, bool)
    centred[10:20, 15:25] = True
    assert ms.mirrored(centred) is None  # on the midline, the mirror is the tumour


def test_the_export_is_what_the_evaluator_reads(tmp_path):
    """Each case's four slices as 2D .mha files with their spacing; read back as the challenge's
    loader reads them (SimpleITK, float), they are the arrays exported."""
    rng = np.random.default_rng(6)
    mask = np.zeros((16, 24), bool)
    mask[4:9, 5:11] = True
    slices = {"prediction": rng.normal(size=(16, 24)).astype(np.float32), "real": rng.normal(size=(16, 24)).astype(np.float32),
              "pre": rng.normal(size=(16, 24)).astype(np.float32), "mask": mask, "spacing": (0.7, 1.1)}  # fmt: skip
    ms.export_case(tmp_path, "case_1", slices)
    for key, sub in ms.EXPORT_FOLDERS.items():
        img = sitk.ReadImage(str(tmp_path / sub / "case_1.mha"))
        assert img.GetSpacing() == pytest.approx((0.7, 1.1)) and img.GetSize() == (24, 16)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(img), slices[key].astype(sitk.GetArrayFromImage(img).dtype))
    back = ms.read_export(tmp_path, "case_1")
    assert back["mask"].dtype == bool and (back["mask"] == mask).all()
    # a case the model has no volume of: its ground truth only, as a submission that left it out
    ms.export_case(tmp_path, "case_2", {k: v for k, v in slices.items() if k != "prediction"})
    assert not (tmp_path / "predictions" / "case_2.mha").exists()
    assert all((tmp_path / sub / "case_2.mha").exists() for key, sub in ms.EXPORT_FOLDERS.items() if key != "prediction")


def test_a_case_without_an_image_gets_an_empty_prediction_on_its_label_grid(tmp_path):
    """What nnunet_predict writes for an external model's missing test case: no foreground, on the
    label crop's grid (the ranking imputes the case)."""
    import torch

    from dcesynth import nnunet, segmentation

    label = sitk.Cast(_volume(np.ones((3, 5, 7)), direction=(0, 1, 0, 1, 0, 0, 0, 0, -1)), sitk.sitkUInt8)
    sitk.WriteImage(label, str(tmp_path / "label.nii.gz"))
    # the test folder names the case; nnU-Net is not started for a folder without an image
    segmentation.write_test_images(tmp_path / "imagesTs", {"Case_9": {"no_image": str(tmp_path / "label.nii.gz")}})
    assert not list((tmp_path / "imagesTs").glob("*.nii.gz")) and (tmp_path / "imagesTs/no_image/Case_9.json").exists()
    (tmp_path / "model/fold_0").mkdir(parents=True)
    torch.save({}, tmp_path / "model/fold_0/checkpoint_final.pth")
    nnunet.predict(tmp_path / "model", [0], tmp_path / "imagesTs", tmp_path / "out", 1, "cpu", False, 0.5)
    empty = sitk.ReadImage(str(tmp_path / "out/Case_9.nii.gz"))
    assert not sitk.GetArrayFromImage(empty).any() and empty.GetPixelID() == sitk.sitkUInt8
    for get in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
        assert getattr(empty, get)() == pytest.approx(getattr(label, get)()), get


def test_an_external_volume_must_lie_on_the_pre_contrast_grid(tmp_path):
    from dcesynth.synthesis import external_stacks

    ref = _volume(np.zeros((4, 16, 16)))
    sitk.WriteImage(ref, str(tmp_path / "pre.nii.gz"))
    shifted = _volume(np.zeros((4, 16, 16)))
    shifted.SetOrigin((0.0, 0.0, 0.0))
    sitk.WriteImage(shifted, str(tmp_path / "ext.nii.gz"))
    with pytest.raises(ValueError, match=r"ext.nii.gz: its origin .* differs from the case's pre-contrast image"):
        external_stacks({"post1": str(tmp_path / "ext.nii.gz")}, tmp_path / "pre.nii.gz", {"post1": "unused"})
    (tmp_path / "broken.nii.gz").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.nii.gz: not a readable image"):
        external_stacks({"post1": str(tmp_path / "broken.nii.gz")}, tmp_path / "pre.nii.gz", {"post1": "unused"})
