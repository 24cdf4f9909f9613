"""The MAMA-SYNTH challenge's per-case metrics, classifiers and export (dcesynth.evaluation.mama_synth),
each against a reference worked out here: numpy, scikit-image, scikit-learn, the lpips package."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from dcesynth.evaluation import mama_synth as ms


def _volume(arr: np.ndarray, spacing=(0.8, 0.8, 2.0)) -> sitk.Image:
    img = sitk.GetImageFromArray(arr.astype(np.float32))
    img.SetSpacing(spacing)
    img.SetOrigin((-10.0, 5.0, 3.0))
    return img


def _case_files(tmp_path, pre: np.ndarray, post: np.ndarray, mask: np.ndarray, fake: np.ndarray) -> dict:
    """A case as the workflow holds it: slice stacks on the 0-255 scale with their transforms
    (made by the workflow's own extraction, each volume on its own window), and the mask."""
    from dcesynth.slices import extract_slices, plan_transform

    files = {"transforms": {}}
    for name, arr in (("pre", pre), ("post", post)):
        img = _volume(arr)
        t = plan_transform(img, size=arr.shape[1])
        (tmp_path / f"{name}.json").write_text(json.dumps(t))
        np.save(tmp_path / f"{name}.npy", extract_slices(img, t))
        files["transforms"][name] = str(tmp_path / f"{name}.json")
        if name == "post":  # a prediction on the real post-contrast scale, as synthesis writes it
            np.save(tmp_path / "fake.npy", extract_slices(_volume(fake), t))
    sitk.WriteImage(sitk.Cast(_volume(mask), sitk.sitkUInt8), str(tmp_path / "mask.nii.gz"))
    files.update(mask=str(tmp_path / "mask.nii.gz"), pre=str(tmp_path / "pre.npy"), real=str(tmp_path / "post.npy"),
                 prediction=str(tmp_path / "fake.npy"))  # fmt: skip
    return files


def test_the_evaluated_slice_is_z_scored_with_the_pre_contrast_volume(tmp_path):
    """Slices back in scanner units, (x - mean) / sd of the whole pre-contrast volume: worked out
    here from the raw arrays (error at most half a grey level of each volume's 0-255 window)."""
    rng = np.random.default_rng(0)
    pre = rng.uniform(100, 400, (5, 32, 32))
    post = pre * 1.5 + rng.uniform(0, 300, pre.shape)
    mask = np.zeros(pre.shape)
    mask[1, 10:14, 10:14] = 1
    mask[3, 8:20, 9:22] = 1  # the largest area
    fake = np.clip(post + rng.normal(0, 20, pre.shape), post.min(), post.max())  # within the real window
    f = _case_files(tmp_path, pre, post, mask, fake)
    s = ms.case_slices(f["mask"], f["transforms"], {k: f[k] for k in ("pre", "real", "prediction")})
    assert s["z"] == 3 and s["spacing"] == pytest.approx((0.8, 0.8)) and s["mask"].sum() == 12 * 13
    mean, sd = pre.mean(), pre.std()
    assert s["mean"] == pytest.approx(mean, rel=1e-3) and s["sd"] == pytest.approx(sd, rel=1e-2)
    for name, raw, window in (("pre", pre, np.ptp(pre)), ("real", post, np.ptp(post)), ("prediction", fake, np.ptp(post))):
        expected = (raw[3] - mean) / sd
        assert np.abs(s[name] - expected).max() <= 0.51 * window / 255 / sd + 0.02 * np.abs(expected).max(), name
    # the z-scores keep the enhancement: post-contrast sits above pre-contrast (a per-slice z-score would not)
    assert s["real"].mean() > s["pre"].mean() + 1.0


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


def test_the_classifiers_and_their_auroc():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    pos, neg = rng.normal(1.0, 1.0, (12, 6)), rng.normal(-1.0, 1.0, (12, 6))
    clf = ms.fit_classifier(pos, neg, seed=4)
    p_pos, p_neg = ms.probabilities(clf, pos), ms.probabilities(clf, neg)
    assert ms.auroc(p_pos, p_neg) == pytest.approx(roc_auc_score(np.r_[np.ones(12), np.zeros(12)], np.r_[p_pos, p_neg]))
    assert ms.cross_validated_auroc(pos, neg, seed=4) > 0.9
    assert ms.cross_validated_auroc(pos, neg, seed=4) == ms.cross_validated_auroc(pos, neg, seed=4)  # seeded
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
