"""The MAMA-SYNTH challenge's evaluation of a synthesis model, per test case and per test set.

The definitions follow the challenge's Grand Challenge evaluator (RichardObi/MAMA-SYNTH-codebase,
``mama-synth-gc-eval``: ``evaluate.py`` and ``evaluators/*.py``), read, not copied; where our choice
differs, ``config/README.md`` (``model_ranking``) says so.

Per annotated test case, one axial slice: the one with the largest tumour area. The prediction,
the real post-contrast and the pre-contrast slice are z-scored with the case's pre-contrast
statistics (mean and sd of the pre-contrast volume, in scanner units). On these slices:

- ``mse_full_image``: the mean squared difference over the whole slice;
- ``lpips_full_image``: LPIPS (AlexNet by default) of the slices clipped to ±5 sd and divided by 5;
- ``ssim_roi``: scikit-image's SSIM map (``data_range=10``, its default 7 × 7 window) averaged
  inside the tumour mask;
- ``frd_roi`` (a set metric): FRD of the radiomic features of the tumour regions, predictions
  against real post-contrast slices, over the test cases;
- ``auroc_contrast`` and ``auroc_tumour_roi`` (set metrics): the AUROC of two classifiers trained
  on real images of training cases (:func:`fit_classifiers`), applied to the synthetic slices;
- ``dice`` and ``hd95`` of a fixed segmenter on the evaluated slice (:func:`segmentation_scores`);
  a missing or empty prediction is imputed with the worst value observed (:func:`impute_worst`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import SimpleITK as sitk

# The eight metrics the challenge ranks, all weighted equally, and which way is better
CHALLENGE_METRICS = ("mse_full_image", "lpips_full_image", "ssim_roi", "frd_roi", "auroc_contrast",
                     "auroc_tumour_roi", "dice", "hd95")  # fmt: skip
HIGHER_IS_BETTER = ("ssim_roi", "auroc_contrast", "auroc_tumour_roi", "dice")
# Per test case (the others are computed over a set of cases)
CASE_METRICS = ("mse_full_image", "lpips_full_image", "ssim_roi", "dice", "hd95")
SEGMENTATION_METRICS = ("dice", "hd95")
SSIM_DATA_RANGE = 10.0
LPIPS_CLIP = 5.0
# LPIPS' AlexNet pools a slice down 5 times: a shorter side below this is enlarged (bilinear) first
LPIPS_MIN_SIZE = 64
# The export's folders (the evaluator's local mode) and what each holds per case
EXPORT_FOLDERS = {"prediction": "predictions", "real": "ground_truth/images", "mask": "ground_truth/masks",
                  "pre": "ground_truth/precontrast"}  # fmt: skip
CLASSIFIERS = ("contrast", "tumour_roi")


def largest_tumour_slice(mask: np.ndarray) -> int:
    """The axial slice (index of the first array axis) with the largest tumour area."""
    area = mask.reshape(mask.shape[0], -1).sum(1)
    if not area.any():
        raise ValueError("the tumour mask is empty")
    return int(np.argmax(area))


class Plane:
    """The evaluated slice of a case on the grid of its mask: the axial slice with the largest
    tumour area, turned so that its columns run left-right (as an axial slice is shown and as the
    tumour is mirrored to the other breast), with its (column, row) pixel spacing."""

    def __init__(self, mask_img: sitk.Image):
        from ..geometry import left_right_axis
        from ..slices import axial_axis

        self.grid = mask_img
        self.axis = axial_axis(mask_img)
        rows, cols = (a for a in range(3) if a != self.axis)
        lr = 2 - left_right_axis(mask_img)  # the numpy axis closest to left-right
        self.transpose = lr == rows and lr != cols
        self.z = largest_tumour_slice(np.moveaxis(sitk.GetArrayViewFromImage(mask_img) > 0, self.axis, 0))
        sp = mask_img.GetSpacing()  # x, y, z: numpy axis a has spacing[2 - a]
        col_sp, row_sp = float(sp[2 - cols]), float(sp[2 - rows])
        self.spacing = (row_sp, col_sp) if self.transpose else (col_sp, row_sp)

    def of(self, image: sitk.Image | np.ndarray) -> np.ndarray:
        """The plane of a volume on the mask's grid (an image or its array)."""
        arr = sitk.GetArrayFromImage(image) if isinstance(image, sitk.Image) else np.asarray(image)
        plane = np.moveaxis(arr, self.axis, 0)[self.z]
        return np.ascontiguousarray(plane.T if self.transpose else plane)

    def resampled(self, image: sitk.Image, label: bool = False) -> np.ndarray:
        """The plane of an image on another grid (a segmentation crop), resampled onto the mask's
        (nearest neighbour for a label), zero outside it."""
        interpolator = sitk.sitkNearestNeighbor if label else sitk.sitkLinear
        return self.of(sitk.Resample(image, self.grid, sitk.Transform(), interpolator, 0.0, image.GetPixelID()))


def case_slices(mask_file: str, volumes: Mapping[str, str], predictions: Mapping[str, Mapping] | None = None) -> dict:
    """One case's evaluated slice (:class:`Plane`), z-scored with the pre-contrast volume's mean and sd.

    ``volumes``: the ``pre`` and ``real`` (post-contrast) volumes as acquired, in scanner units, on
    the mask's grid. ``predictions`` (by name): a model's output as its slice stack on the 0-255
    model scale (``stack``, with the ``transforms`` ``pre`` and ``post`` of the extraction: back
    onto the grid with the real post-contrast volume's window, as synthesis writes it), or as a
    volume on the grid (``volume``, in ``intensity`` ``scanner`` units or already ``zscore``d with
    the case's pre-contrast statistics).

    Returns ``z``, ``spacing`` (x, y in mm), ``mask`` (2D bool), ``mean`` and ``sd``, and the 2D
    float32 slices by name (``pre``, ``real`` and each prediction's)."""
    from ..synthesis import pre_statistics, read_transform, stack_to_volume

    mask_img = sitk.ReadImage(str(mask_file))
    plane = Plane(mask_img)
    pre = sitk.ReadImage(str(volumes["pre"]), sitk.sitkFloat64)
    mean, sd = pre_statistics(pre, str(volumes["pre"]))
    out = {"pre": plane.of(pre), "real": plane.of(sitk.ReadImage(str(volumes["real"]), sitk.sitkFloat64))}
    for name, p in (predictions or {}).items():
        if "stack" in p:
            pre_t, post_t = read_transform(p["transforms"]["pre"]), read_transform(p["transforms"]["post"])
            out[name] = plane.of(stack_to_volume(np.load(p["stack"]), pre_t, mask_img, "scanner", post_t))
        else:  # an external model's volume, on the pre-contrast grid as import_external checks
            from ..synthesis import check_geometry

            volume = sitk.ReadImage(str(p["volume"]), sitk.sitkFloat64)
            check_geometry(volume, pre, str(p["volume"]), str(volumes["pre"]))
            arr = plane.of(volume)
            out[name] = arr * sd + mean if p.get("intensity", "scanner") == "zscore" else arr
    slices = {k: ((np.asarray(v, np.float64) - mean) / sd).astype(np.float32) for k, v in out.items()}
    return {"z": plane.z, "spacing": plane.spacing, "mask": plane.of(mask_img) > 0, "mean": mean, "sd": sd, **slices}


def segmenter_on_slice(plane: Plane, prediction_file: str | None) -> dict[str, float]:
    """The fixed segmenter's Dice and HD95 on the evaluated slice (``plane``, of the case's mask):
    its prediction (on its own crop's grid) resampled onto the mask's grid, the plane taken there
    and compared with the mask's; NaN where the prediction is missing or empty."""
    pred = None
    if prediction_file is not None and Path(prediction_file).exists():
        pred = plane.resampled(sitk.ReadImage(str(prediction_file)) > 0, label=True) > 0
    return segmentation_scores(plane.of(plane.grid) > 0, pred, plane.spacing)


def write_slice(array: np.ndarray, spacing: tuple[float, float], path: str | Path) -> None:
    """A 2D slice as the evaluator reads it: a float32 (or uint8 mask) .mha with its pixel spacing."""
    from ..io import write_image

    img = sitk.GetImageFromArray(np.ascontiguousarray(array))
    img.SetSpacing([float(s) for s in spacing])
    write_image(img, path, compress=False)


def read_slice(path: str | Path) -> tuple[np.ndarray, tuple[float, float]]:
    img = sitk.ReadImage(str(path))
    arr = sitk.GetArrayFromImage(img)
    return (arr[0] if arr.ndim == 3 and arr.shape[0] == 1 else arr), tuple(img.GetSpacing()[:2])


def export_path(folder: str | Path, key: str, case: str) -> Path:
    """Where a run's export holds ``case``'s ``key`` slice (:data:`EXPORT_FOLDERS`)."""
    return Path(folder, EXPORT_FOLDERS[key], f"{case}.mha")


def export_case(folder: str | Path, case: str, slices: Mapping) -> None:
    """One case into a run's export folder (the evaluator's local-mode layout); a case without a
    prediction (an external model's missing volume) gets its ground truth only, as a submission
    that left the case out."""
    for key in EXPORT_FOLDERS:
        if key not in slices:
            continue
        arr = slices[key].astype(np.uint8) if key == "mask" else slices[key].astype(np.float32)
        write_slice(arr, slices["spacing"], export_path(folder, key, case))


def read_export(folder: str | Path, case: str) -> dict:
    """What :func:`export_case` wrote for ``case`` (the mask as bool)."""
    out = {}
    for key in EXPORT_FOLDERS:
        out[key], out["spacing"] = read_slice(export_path(folder, key, case))
    out["mask"] = out["mask"] > 0
    return out


# --- per-case metrics ----------------------------------------------------------------------------

def mse_full_image(prediction: np.ndarray, real: np.ndarray) -> float:
    return float(np.mean((np.asarray(prediction, np.float64) - np.asarray(real, np.float64)) ** 2))


def ssim_roi(prediction: np.ndarray, real: np.ndarray, mask: np.ndarray) -> float:
    """scikit-image's SSIM map of the whole slice (``data_range=10``) averaged inside the mask."""
    from skimage.metrics import structural_similarity

    _, smap = structural_similarity(np.asarray(prediction, np.float64), np.asarray(real, np.float64),
                                    data_range=SSIM_DATA_RANGE, full=True)  # fmt: skip
    return float(smap[np.asarray(mask, bool)].mean())


def lpips_full_image(net, prediction: np.ndarray, real: np.ndarray) -> float:
    """LPIPS of the two z-scored slices clipped to ±5 and divided by 5 ([-1, 1], LPIPS' range)."""
    import torch

    a, b = (torch.from_numpy(np.clip(np.asarray(x, np.float32), -LPIPS_CLIP, LPIPS_CLIP) / LPIPS_CLIP)[None, None]
            for x in (prediction, real))  # fmt: skip
    short = min(a.shape[-2:])
    if short < LPIPS_MIN_SIZE:  # too small for the backbone's pooling: both slices enlarged alike
        size = [round(n * LPIPS_MIN_SIZE / short) for n in a.shape[-2:]]
        a, b = (torch.nn.functional.interpolate(t, size=size, mode="bilinear", align_corners=False) for t in (a, b))
    return float(net.signed(a, b)[0])


def segmentation_scores(label: np.ndarray, prediction: np.ndarray | None, spacing_xy) -> dict[str, float]:
    """Dice and HD95 (mm) of a 2D prediction against the 2D label; NaN for both where the
    prediction is missing or empty (the challenge imputes them, :func:`impute_worst`)."""
    from ..geometry import hd95

    ref = np.asarray(label, bool)
    if prediction is None or not np.asarray(prediction).any():
        return {"dice": float("nan"), "hd95": float("nan")}
    pred = np.asarray(prediction, bool)
    dice = 2.0 * float((ref & pred).sum()) / float(ref.sum() + pred.sum())
    return {"dice": dice, "hd95": hd95(ref, pred, tuple(reversed(spacing_xy)))}


def _worst(observed, metric: str, higher_is_better=HIGHER_IS_BETTER) -> float:
    return observed.min() if metric in higher_is_better else observed.max()


def impute_worst(table, metrics=SEGMENTATION_METRICS, higher_is_better=HIGHER_IS_BETTER, cases=None, baseline=None,
                 exclude=None):  # fmt: skip
    """The challenge's imputation: a missing value gets the worst value observed for that metric
    (over every run and case); an ``imputed_<metric>`` column marks where. Only rows of ``cases``
    (all if None) take part, and none that ``exclude`` (a boolean column) marks. A run's value is the
    worst among the runs' only: the ``baseline``'s never enters a run's, so adding or removing the
    baseline cannot change the runs' order; the baseline's own missing values get the worst of all."""
    table = table.copy()
    scored = table["case"].isin(list(cases)) if cases is not None else table["case"].notna()
    if exclude is not None:
        scored &= ~exclude
    runs = scored & (table["model"] != baseline)
    for m in metrics:
        missing = table[m].isna()
        table[f"imputed_{m}"] = scored & missing
        for rows, pool in ((runs, runs), (scored & ~runs, scored)):
            observed = table.loc[pool & ~missing, m]
            if (rows & missing).any() and len(observed):
                table.loc[rows & missing, m] = _worst(observed, m, higher_is_better)
    return table


def impute_missing_cases(table, metrics, higher_is_better=HIGHER_IS_BETTER, flag="missing_prediction", cases=None):
    """The challenge's protocol for a case a submission has no output for: each metric gets the
    worst value that submission scored on its other cases ("the worst observed score for that
    metric prior to aggregation"). Only the rows flagged ``flag`` change; each model's worst comes
    from its own rows, so no other model (nor the baseline) can move it. With ``cases``, only the
    rows of those cases take part (the segmentation test cases for Dice and HD95)."""
    table = table.copy()
    scored = table["case"].isin(list(cases)) if cases is not None else table["case"].notna()
    for model, rows in table[scored].groupby("model", sort=False):
        missing = rows.index[rows[flag]]
        if not len(missing):
            continue
        for m in metrics:
            observed = rows.loc[~rows[flag], m].dropna()
            if len(observed):
                table.loc[missing, m] = _worst(observed, m, higher_is_better)
    return table


# --- tumour-region features and the classifiers ------------------------------------------------

def roi_features(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Radiomic features (FRD's, :mod:`dcesynth.frd`) of a z-scored slice inside ``mask``, without
    z-scoring again: the level relative to the pre-contrast image is what tells contrast apart."""
    from ..frd import image_features

    return image_features(np.asarray(image, np.float64), mask, normalize=False)


def mirrored(mask: np.ndarray) -> np.ndarray | None:
    """The tumour mask mirrored left-right (the columns of an axial slice), or None where the
    mirror is the tumour itself (a tumour on the midline)."""
    out = np.ascontiguousarray(np.fliplr(mask))
    return None if np.array_equal(out, mask) else out


def classifier_samples(slices: Mapping) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The two classifiers' (positive, negative) feature vectors of one case's real images:
    contrast = real post-contrast against pre-contrast (whole slice); tumour ROI = the tumour
    against its mirror on the real post-contrast slice (absent where there is no mirror)."""
    whole = np.ones(slices["real"].shape, dtype=bool)
    out = {"contrast": (roi_features(slices["real"], whole), roi_features(slices["pre"], whole))}
    mirror = mirrored(slices["mask"])
    if mirror is not None:
        out["tumour_roi"] = (roi_features(slices["real"], slices["mask"]), roi_features(slices["real"], mirror))
    return out


def fit_classifier(positive: np.ndarray, negative: np.ndarray, seed: int):
    """A seeded scikit-learn classifier (standardised features, L2 logistic regression) of
    positive (1) against negative (0) feature vectors."""
    if len(positive) < 2 or len(negative) < 2:
        raise ValueError(f"a classifier needs at least 2 training samples per class, got {len(positive)} and {len(negative)}")
    return _classifier(seed).fit(*_samples(positive, negative))


def _classifier(seed: int):
    """The unfitted classifier: standardised features, L2 logistic regression, seeded."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, random_state=seed))


def _samples(positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features (non-finite values as 0) and labels (1 positive, 0 negative) of both classes."""
    return _finite(np.vstack([positive, negative])), np.r_[np.ones(len(positive)), np.zeros(len(negative))].astype(int)


def _finite(X: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(X, np.float64), nan=0.0, posinf=0.0, neginf=0.0)


def probabilities(classifier, X: np.ndarray) -> np.ndarray:
    """The classifier's probability of the positive class per row of ``X``; NaN without a classifier."""
    if classifier is None:
        return np.full(len(X), np.nan)
    return classifier.predict_proba(_finite(X))[:, 1]


def cross_validated_auroc(positive: np.ndarray, negative: np.ndarray, cases: list[str], seed: int, folds: int = 5) -> float:
    """The AUROC of :func:`fit_classifier` on held-out cases: stratified k-fold grouped by case
    (``cases[i]`` made the i-th positive and the i-th negative sample, which stay in one fold), at
    most ``folds``, fewer with fewer cases; NaN below 2 cases."""
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict

    k = min(folds, len(set(cases)))
    if k < 2:
        return float("nan")
    X, y = _samples(positive, negative)
    groups = np.r_[np.asarray(cases), np.asarray(cases)]
    cv = StratifiedGroupKFold(k, shuffle=True, random_state=seed)
    p = cross_val_predict(_classifier(seed), X, y, groups=groups, cv=cv, method="predict_proba")[:, 1]
    return auroc(p[y == 1], p[y == 0])


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """The AUROC of classifier scores, positives (label 1) against negatives (the Mann-Whitney U
    over all pairs, ties counted half: scikit-learn's ``roc_auc_score``, without its overhead on
    every bootstrap draw); NaN with fewer than one of each or without scores."""
    from scipy.stats import rankdata

    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    if len(positive) == 0 or len(negative) == 0 or np.isnan(positive).any() or np.isnan(negative).any():
        return float("nan")
    ranks = rankdata(np.r_[positive, negative])
    n1, n0 = len(positive), len(negative)
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
