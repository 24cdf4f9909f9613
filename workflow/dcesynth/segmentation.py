"""Tumour segmentation experiments (the paper's Tables 2 and 3): breast crops, nnU-Net v2 raw
datasets with patient-level folds, and the Dice / HD95 evaluation of the fold ensembles.

nnU-Net itself is only driven (``dcesynth.nnunet``), never re-implemented here.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

# scipy.ndimage (0.2 s to import) is imported inside the functions that use it: the Snakefile
# imports this module at every parse.

from . import io
from .geometry import hd95, left_right_axis  # noqa: F401  (segmentation.hd95: the tables' HD95)
from .errors import ConfigError, InputError

# The images a training set can be made of (and a pretrained model tested on), and the domains
# a model trained here is tested on.
IMAGES = ("real_pre", "real_post", "syn_post")
TEST_DOMAINS = ("real_pre", "real_post")
LABEL = "label"


def scenario_images(name: str) -> list[str]:
    """The training images of a scenario named like ``real_pre+syn_post``."""
    parts = name.split("+")
    bad = [p for p in parts if p not in IMAGES]
    if bad or len(set(parts)) != len(parts) or not parts:
        raise ConfigError(
            f"segmentation.scenarios: '{name}' is not a '+'-joined set of {', '.join(IMAGES)}"
        )
    return parts


def dataset_name(dataset_id: int, scenario: str) -> str:
    """nnU-Net's folder name for a scenario's dataset, e.g. Dataset501_real_pre_plus_syn_post."""
    return f"Dataset{int(dataset_id):03d}_{scenario.replace('+', '_plus_')}"


def check_scenarios(scenarios: dict) -> None:
    """Scenario names parse, test domains are known, and no two scenarios share a dataset id."""
    ids: dict[int, str] = {}
    for name, spec in scenarios.items():
        scenario_images(name)
        for domain in spec["test_on"]:
            if domain not in TEST_DOMAINS:
                raise ConfigError(f"segmentation.scenarios.{name}.test_on: '{domain}' is not one of {', '.join(TEST_DOMAINS)}")
        if spec["id"] in ids:
            raise ConfigError(f"segmentation.scenarios: '{name}' and '{ids[spec['id']]}' share dataset id {spec['id']}")
        ids[spec["id"]] = name


def chosen_scenarios(scenarios: dict, run: list[str] | None, pretrained: bool = False) -> dict:
    """The scenarios ``segmentation.run`` names (in its order), or all of them when it is null.
    An empty list trains nothing, which only makes sense beside a pretrained model."""
    if run is None:
        return dict(scenarios)
    unknown = [s for s in run if s not in scenarios]
    if unknown:
        raise ConfigError(f"segmentation.run: {', '.join(unknown)} not in segmentation.scenarios ({', '.join(scenarios)})")
    if not run and not pretrained:
        raise ConfigError("segmentation.run is empty: name a scenario, set segmentation.pretrained_model.folder, "
                          "or set segmentation.enabled: false")  # fmt: skip
    return {s: scenarios[s] for s in run}


# The scenario name under which a pretrained model's predictions appear ('+'-joined training images
# cannot take it).
PRETRAINED = "pretrained"

# The scenario name under which the model ranking's fixed segmenter (MAMA-SYNTH's) predicts a run's
# synthetic test images: the main run's model of segmentation.ranking_segmenter (by default
# FIXED_SCENARIO, trained on real post-contrast crops, as the challenge's). Its predictions and
# metrics are filed under each run like a scenario's.
FIXED = "fixed_segmenter"
FIXED_SCENARIO = "real_post"


def pretrained_model(cfg: dict) -> dict | None:
    """An existing nnU-Net v2 model folder (``segmentation.pretrained_model``), checked at parse time.

    Returns its folder, folds (given, or every ``fold_k`` with a ``checkpoint_final.pth``, or
    ``all`` when it has only ``fold_all``), test
    domains, and the dataset name and id its predictions are filed under (the folder's parent when
    it is named like ``Dataset123_Name``, else ``Dataset999_pretrained``). The model must take one
    input channel: a test domain is one image per case.
    """
    import json

    if not cfg.get("folder"):
        return None
    key = "segmentation.pretrained_model"
    folder = Path(cfg["folder"])
    missing = [n for n in ("dataset.json", "plans.json") if not (folder / n).is_file()]
    if not folder.is_dir() or missing:
        raise ConfigError(f"{key}.folder: {folder} is not an nnU-Net v2 model folder (needs dataset.json, plans.json "
                          "and fold_k/checkpoint_final.pth: the Trainer__Plans__configuration folder of nnUNet_results)")  # fmt: skip
    # fold_k folders (k an integer), and nnU-Net's fold_all (trained on every case)
    found = [int(k) if k.isdigit() else k for k in
             sorted(p.parent.name[5:] for p in folder.glob("fold_*/checkpoint_final.pth"))
             if k.isdigit() or k == "all"]  # fmt: skip
    folds = list(cfg.get("folds") or [k for k in found if k != "all"] or found)
    absent = [f for f in folds if f not in found]
    if not folds or absent:
        raise ConfigError(f"{key}: no fold_{absent[0] if absent else 'k'}/checkpoint_final.pth in {folder}")
    channels = json.loads((folder / "dataset.json").read_text()).get("channel_names", {})
    if len(channels) != 1:
        raise ConfigError(f"{key}: the model takes {len(channels)} input channels ({', '.join(map(str, channels.values()))}); "
                          "only single-channel models can predict one test domain at a time")  # fmt: skip
    bad = [d for d in cfg["test_on"] if d not in IMAGES]
    if bad or not cfg["test_on"]:
        raise ConfigError(f"{key}.test_on: name one or more of {', '.join(IMAGES)}")
    parent = folder.resolve().parent.name
    dataset = parent if re.fullmatch(r"Dataset\d{3}_\w+", parent) else "Dataset999_pretrained"
    return {"folder": str(folder), "folds": folds, "test_on": list(cfg["test_on"]), "dataset": dataset,
            "id": int(dataset[7:10])}  # fmt: skip


# --- single-breast crop ------------------------------------------------------------------------------

def tumour_half(mask: sitk.Image, case: str | None = None) -> tuple[list[int], list[int]]:
    """Index and size of the half image (split left-right at the middle) holding the tumour's centre of mass."""
    from scipy import ndimage

    arr = sitk.GetArrayViewFromImage(mask)  # z, y, x
    if not arr.any():
        raise InputError(case, None, "the tumour mask is empty: the tumour side cannot be chosen", "check the mask file")
    com_zyx = ndimage.center_of_mass(arr > 0)
    axis = left_right_axis(mask)
    com = com_zyx[::-1][axis]  # in index order x, y, z
    size = list(mask.GetSize())
    index = [0] * len(size)
    half = size[axis] // 2
    if com < half:
        size[axis] = half
    else:
        index[axis] = half
        size[axis] = size[axis] - half
    return index, size


def resample_isotropic(image: sitk.Image, spacing_mm: float, label: bool) -> sitk.Image:
    """Resample onto a grid of ``spacing_mm`` voxels with the same origin and direction."""
    old_size = np.asarray(image.GetSize())
    old_spacing = np.asarray(image.GetSpacing())
    new_size = np.maximum(1, np.round(old_size * old_spacing / spacing_mm)).astype(int)
    interpolator = sitk.sitkNearestNeighbor if label else sitk.sitkLinear
    return sitk.Resample(
        image,
        [int(s) for s in new_size],
        sitk.Transform(),
        interpolator,
        image.GetOrigin(),
        [float(spacing_mm)] * image.GetDimension(),
        image.GetDirection(),
        0,
        image.GetPixelID(),
    )


def crop_breast(
    image: sitk.Image, mask: sitk.Image, resample_mm: float | None = None, label: bool = False, case: str | None = None
) -> sitk.Image:
    """The tumour-side breast of ``image``; every voxel keeps its physical position.

    ``RegionOfInterest`` moves the origin to the first kept voxel (the reference code kept the
    uncropped origin, shifting the crop in space). Optionally resampled to isotropic voxels.
    """
    problem = io.geometry_mismatch(image, mask)
    if problem:
        raise InputError(case, None, f"image and tumour mask grids differ ({problem})", "ingest the mask on the image's grid")
    index, size = tumour_half(mask, case)
    cropped = sitk.RegionOfInterest(image, size, index)
    if label:
        cropped = sitk.Cast(cropped > 0, sitk.sitkUInt8)
    else:
        cropped = sitk.Cast(cropped, sitk.sitkFloat32)
    if resample_mm:
        cropped = resample_isotropic(cropped, resample_mm, label)
    return cropped


# --- nnU-Net raw dataset ------------------------------------------------------------------------------

def training_identifier(case: str, kind: str) -> str:
    """nnU-Net identifier of one training image: every copy of a case carries the case id."""
    return f"{case}__{kind}"


def fold_splits(cv: pd.DataFrame, kinds: list[str], n_folds: int) -> list[dict[str, list[str]]]:
    """nnU-Net's ``splits_final.json``: fold k validates on the cases of fold k, every copy of them.

    ``cv`` has columns case_id and fold. No copy of a case can be on both sides of a fold.
    """
    out = []
    for k in range(n_folds):
        val_cases = sorted(cv.loc[cv["fold"] == k, "case_id"])
        train_cases = sorted(cv.loc[cv["fold"] != k, "case_id"])
        if not val_cases or not train_cases:
            raise ConfigError(f"segmentation fold {k} has no {'validation' if not val_cases else 'training'} case: use fewer splits.n_folds")
        out.append(
            {
                "train": [training_identifier(c, s) for c in train_cases for s in kinds],
                "val": [training_identifier(c, s) for c in val_cases for s in kinds],
            }
        )
    return out


def _link_or_copy(src: str | Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_training_set(
    dataset_dir: str | Path,
    training: dict[tuple[str, str], tuple[str, str]],
    channel_name: str,
    description: str,
) -> dict:
    """Write the training part of an nnU-Net v2 raw dataset (imagesTr, labelsTr, dataset.json).

    ``training`` maps (case, kind) (a kind of IMAGES) to (image file, label file). Each folder is written
    atomically; the dataset.json is returned.
    """
    dataset_dir = Path(dataset_dir)
    with io.atomic_path(dataset_dir / "imagesTr") as images, io.atomic_path(dataset_dir / "labelsTr") as labels:
        images.mkdir()
        labels.mkdir()
        for (case, kind), (image, label) in sorted(training.items()):
            ident = training_identifier(case, kind)
            _link_or_copy(image, images / f"{ident}_0000.nii.gz")
            _link_or_copy(label, labels / f"{ident}.nii.gz")
    meta = {
        "channel_names": {"0": channel_name},
        "labels": {"background": 0, "tumour": 1},
        "numTraining": len(training),
        "file_ending": ".nii.gz",
        "description": description,
    }
    io.write_json(meta, dataset_dir / "dataset.json")
    return meta


# Where a test folder names the cases it has no image of, each with its label crop's grid
NO_IMAGE = "no_image"


def write_test_images(folder: str | Path, cases: dict[str, str | dict]) -> None:
    """An ``imagesTs_<domain>`` folder: {case: image} as nnU-Net's ``<case>_0000.nii.gz`` files.

    A case given as ``{"no_image": label}`` (an external model's missing volume) is listed in the
    folder's ``no_image/`` (nnU-Net reads none of it): :func:`dcesynth.nnunet.predict` writes it an
    empty prediction on the label's grid. Kept apart from the training set so that adding a test
    case never retrains a model.
    """
    import json

    with io.atomic_path(folder) as tmp:
        tmp.mkdir()
        for case, image in sorted(cases.items()):
            if isinstance(image, dict):
                (tmp / NO_IMAGE).mkdir(exist_ok=True)
                (tmp / NO_IMAGE / f"{case}.json").write_text(json.dumps({"label": str(image[NO_IMAGE])}))
            else:
                _link_or_copy(image, tmp / f"{case}_0000.nii.gz")


# --- evaluation ---------------------------------------------------------------------------------------

def case_metrics(reference: str | Path, prediction: str | Path) -> dict:
    """Dice (nnU-Net's ``compute_metrics``) and HD95 of one predicted case against its label."""
    from nnunetv2.evaluation.evaluate_predictions import compute_metrics
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    ref_img, pred_img = io.read_image(reference), io.read_image(prediction)
    problem = io.geometry_mismatch(ref_img, pred_img)
    if problem:
        raise InputError(None, prediction, f"not on its label's grid ({problem})", "rerun nnunet_predict")
    nn = compute_metrics(str(reference), str(prediction), SimpleITKIO(), [1])
    m = nn["metrics"][1]
    ref = sitk.GetArrayFromImage(ref_img) > 0
    pred = sitk.GetArrayFromImage(pred_img) > 0
    return {
        "dice": float(m["Dice"]),
        "hd95_mm": hd95(ref, pred, ref_img.GetSpacing()[::-1]),
        "tumour_voxels": int(m["n_ref"]),
        "predicted_voxels": int(m["n_pred"]),
    }


def segmentation_table(
    per_case: pd.DataFrame, paper: pd.DataFrame, scenarios: dict, cohort: str, provenance: dict | None = None
) -> pd.DataFrame:
    """Tables 2 and 3: one row per (experiment, training set, test domain) with the paper's Dice beside.
    ``provenance`` (the GAN epoch that made the synthetic volumes, its VGG weights) adds columns.

    ``per_case`` has columns scenario, test_on, case_id, dice, hd95_mm. Rows follow the paper's
    experiment blocks; scenario/domain pairs the paper did not run come last as experiment "extra".
    """
    summary = (
        per_case.groupby(["scenario", "test_on"])
        .agg(
            dice=("dice", "mean"),
            dice_sd=("dice", "std"),
            hd95_mm=("hd95_mm", "mean"),
            hd95_sd=("hd95_mm", "std"),
            hd95_undefined=("hd95_mm", lambda s: int(s.isna().sum())),
            n_cases=("case_id", "nunique"),
        )
        .reset_index()
    )
    paper = paper.rename(columns={"train_on": "scenario", "dice": "paper_dice"})
    paper["experiment"] = paper["experiment"].astype(str)
    rows = paper.merge(summary, on=["scenario", "test_on"], how="inner")
    done = set(zip(rows["scenario"], rows["test_on"]))
    extra = summary[[(s, t) not in done for s, t in zip(summary["scenario"], summary["test_on"])]].copy()
    extra["experiment"] = "extra"
    extra["paper_dice"] = np.nan
    table = pd.concat([rows, extra], ignore_index=True)
    table["dataset_id"] = [scenarios[s]["id"] for s in table["scenario"]]
    table["cohort"] = cohort
    table = table.assign(**(provenance or {}))
    cols = ["experiment", "scenario", "test_on", "dice", "dice_sd", "hd95_mm", "hd95_sd", "hd95_undefined",
            "n_cases", "paper_dice", "dataset_id", "cohort", *(provenance or {})]
    return table[cols].rename(columns={"scenario": "train_on"})
