"""The real workflow, run with Snakemake on the tiny phantom cohort (integration layer)."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
import torch

from dcesynth import dicom, phantom
from dcesynth.bench.dag import placeholder_weights
from dcesynth.training.checkpoints import load_generator

from conftest import REPO, copy_of_run, default_config, make_workdir, run_snakemake, tiny_config

pytestmark = pytest.mark.integration


def test_every_stage_produces_its_outputs(tiny_run):
    wd = tiny_run
    cfg = tiny_config()
    specs = phantom.plan_cohort(cfg["phantom"])
    for spec in specs:
        for seq in ("pre", "post1", "post2"):
            nii = sitk.ReadImage(str(wd / "results" / "nifti" / spec.case_id / f"{seq}.nii.gz"))
            assert nii.GetSize() == (spec.cols, spec.rows, spec.slices)
            n4 = sitk.ReadImage(str(wd / "results" / "n4" / spec.case_id / f"{seq}.nii.gz"))
            assert n4.GetSize() == nii.GetSize() and n4.GetOrigin() == nii.GetOrigin()
            stack = np.load(wd / "results" / "slices" / spec.case_id / f"{seq}.npy", mmap_mode="r")
            assert stack.shape == (spec.slices, 32, 32) and stack.dtype == np.uint8
            transform = json.loads((wd / "results" / "slices" / spec.case_id / f"{seq}.json").read_text())
            assert transform["volume_shape"] == [spec.slices, spec.rows, spec.cols]
        assert (wd / "results" / "nifti" / spec.case_id / "mask.nii.gz").exists() == spec.has_mask
    # geometry and voxels are what SimpleITK's own series reader (GDCM) makes of the DICOM series
    spec = specs[0]
    series = dicom.select_dce(dicom.find_series(wd / "data" / "phantom" / "dicom" / spec.case_id), "dyn|vibrant")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(series[0].path)))
    ref = reader.Execute()
    nii = sitk.ReadImage(str(wd / "results" / "nifti" / spec.case_id / "pre.nii.gz"))
    assert nii.GetOrigin() == pytest.approx(ref.GetOrigin(), abs=1e-5)
    assert nii.GetSpacing() == pytest.approx(ref.GetSpacing(), abs=1e-6)
    assert nii.GetDirection() == pytest.approx(ref.GetDirection(), abs=1e-6)
    np.testing.assert_allclose(sitk.GetArrayFromImage(nii), sitk.GetArrayFromImage(ref), rtol=1e-6)
    syn = pd.read_csv(wd / "results" / "splits" / "synthesis.tsv", sep="\t")
    assert set(syn["split"]) == {"train", "val", "test"}
    for rule in ("n4_bias_correction", "extract_slices"):
        bench = pd.read_csv(wd / "benchmarks" / rule / f"{spec.case_id}.tsv", sep="\t")
        assert {"s", "max_rss"} <= set(bench.columns)
    report = (wd / "report.html").read_text(errors="replace")
    for name in ("cohort.png", "synthesis.tsv", "losses.png", "val_pairs.png"):
        assert name in report, name


def test_gan_chain_outputs(tiny_run):
    gan = tiny_run / "results" / "models" / "tiny"
    assert sorted(p.name for p in (gan / "generator").iterdir()) == ["epoch_2.pt", "epoch_4.pt"]
    # full training states are temporary: only the last one stays (to extend training later)
    assert sorted(p.name for p in (gan / "state").iterdir()) == ["epoch_4.pt"]
    state = torch.load(gan / "state" / "epoch_4.pt", weights_only=True)
    assert state["epoch"] == 4 and set(state) >= {"generator", "discriminator", "opt_G", "opt_D", "rng", "config"}
    assert state["meta"]["vgg"]["mode"] == "random"
    log = pd.read_csv(gan / "train_log.tsv", sep="\t")
    assert sorted(log["epoch"].unique()) == [1, 2, 3, 4]
    assert log.groupby("epoch")["lr"].first().tolist() == pytest.approx([2e-4, 2e-4, 2e-4, 1e-4])
    G = load_generator(gan / "generator" / "epoch_4.pt")
    assert sum(p.numel() for p in G.parameters()) > 0
    preview = pd.read_csv(gan / "val_preview.tsv", sep="\t")
    assert len(preview) >= 1 and np.isfinite(preview["mae_synthetic_vs_real"]).all()


def test_a_further_model_runs_through_the_same_rules(tiny_run):
    """The tiny run's NCA (config models): its own run folder, one training job per epoch, every
    epoch evaluated, SAMe's choice exported, volumes synthesised with it, its Table 1 (labelled with
    SAMe's choice) and tumour-region table."""
    from dcesynth.models.files import load_model
    from dcesynth.models.nca import NCA

    run = tiny_run / "results"
    log = pd.read_csv(run / "models/nca/train_log.tsv", sep="\t")
    assert sorted(log["epoch"].unique()) == [1, 2] and {"loss", "L1"} <= set(log.columns)
    assert sorted(p.name for p in (run / "models/nca/state").iterdir()) == ["epoch_2.pt"]
    epochs = pd.read_csv(run / "metrics/nca/epochs.tsv", sep="\t")
    assert sorted(epochs["epoch"]) == [1, 2]
    best = json.loads((run / "metrics/nca/best_epoch.json").read_text())
    model, record = load_model(run / "models/nca/generator_best.pt")
    assert isinstance(model, NCA) and record["family"] == "nca" and record["meta"]["epoch"] == best["epoch"]
    assert record["meta"]["target"] == "post" and model.stochastic_inference and model.evolve_image
    table1 = pd.read_csv(run / "tables/nca/table1.tsv", sep="\t")
    assert "real_post_vs_syn_post_best" in set(table1["comparison"])
    assert set(table1["generator_epoch"].astype(str)) == {str(best["epoch"])} and np.isfinite(table1["ssim"]).all()
    tumour = pd.read_csv(run / "tables/nca/tumour_region.tsv", sep="\t")
    assert len(tumour) > 0 and np.isfinite(tumour["mae_synthetic"]).all()
    for volume in (run / "synthetic/tiny").glob("*/post1.nii.gz"):
        nca = sitk.ReadImage(str(run / "synthetic/nca" / volume.parent.name / "post1.nii.gz"))
        assert nca.GetSize() == sitk.ReadImage(str(volume)).GetSize()
    assert (run / "figures/nca/synthesis_grid.png").stat().st_size > 1000
    # the ranking (MAMA-SYNTH's eight metrics): both models ranked, the pre-contrast image apart
    ranking = pd.read_csv(run / "tables/model_ranking.tsv", sep="\t")
    assert ranking["model"].tolist()[-1] == "pre-contrast (as is)" and pd.isna(ranking["rank"].iloc[-1])
    assert set(ranking["model"][:2]) == {"tiny", "nca"} and sorted(ranking["rank"][:2]) == [1, 2]
    metrics = ["mse_full_image", "lpips_full_image", "ssim_roi", "frd_roi", "auroc_contrast", "auroc_tumour_roi", "dice", "hd95"]
    assert ranking.columns.tolist()[3:11] == metrics and {f"rank_{m}" for m in metrics} <= set(ranking.columns)
    assert {"p_rank_1", "p_same_rank", "lpips_provenance", "segmenter", "cohort"} <= set(ranking.columns)
    assert ranking["lpips_provenance"].str.contains("UNTRAINED").all()  # the tiny run's LPIPS is a random network
    assert ranking["segmenter"].str.startswith("nnU-Net real_pre: ").all()
    # the tiny run has one annotated test case: a Fréchet distance between sets of one is undefined
    assert ranking["frd_roi"].isna().all() and ranking["n_cases"].eq(1).all()
    cases = pd.read_csv(run / "tables/model_ranking_cases.tsv", sep="\t")
    test = pd.read_csv(run / "splits/synthesis.tsv", sep="\t").query("split == 'test' and has_mask")["case_id"]
    assert sorted(cases["case"].unique()) == sorted(test) and len(cases) == 3 * len(test)
    # every run's export, in the evaluator's layout; the per-case metrics recomputed here from the
    # exported files as the challenge's evaluator computes them
    from skimage.metrics import structural_similarity

    for model in ("tiny", "nca"):
        export = run / "mama_synth" / model
        for case in test:
            read = lambda sub: sitk.GetArrayFromImage(sitk.ReadImage(str(export / sub / f"{case}.mha"))).astype(np.float64)  # noqa: E731
            pred, real, mask = read("predictions"), read("ground_truth/images"), read("ground_truth/masks") > 0
            pre = read("ground_truth/precontrast")
            assert pred.ndim == 2 and mask.any() and (real - pre).mean() > 0  # z-scored alike: the enhancement shows
            row = cases[(cases["model"] == model) & (cases["case"] == case)].iloc[0]
            assert row["mse_full_image"] == pytest.approx(((pred - real) ** 2).mean(), rel=1e-5)
            ssim_map = structural_similarity(pred, real, data_range=10.0, full=True)[1]
            assert row["ssim_roi"] == pytest.approx(ssim_map[mask].mean(), abs=1e-5)
    classifiers = pd.read_csv(run / "tables/classifiers.tsv", sep="\t")
    assert classifiers["classifier"].tolist() == ["contrast", "tumour_roi"] and classifiers["trained"].all()
    assert classifiers["cohort"].str.startswith("phantom").all()
    assert (run / "classifiers/contrast.pkl").stat().st_size > 0
    assert ranking[["auroc_contrast", "auroc_tumour_roi"]].notna().all().all()
    # the fixed segmenter's Dice on the evaluated slice (the label crop's largest tumour area),
    # worked out here from the prediction and the label crop; an empty prediction is imputed
    seg_test = pd.read_csv(run / "splits/segmentation.tsv", sep="\t").query("role == 'test'")["case_id"]
    for model, prediction in (("nca", "nca/fixed_segmenter/predictions/syn_post"),
                              ("tiny", "tiny/fixed_segmenter/predictions/syn_post"),
                              ("pre-contrast (as is)", "tiny/real_pre/predictions/real_pre")):  # fmt: skip
        for case in set(seg_test) & set(test):
            label = sitk.GetArrayFromImage(sitk.ReadImage(str(run / f"segmentation/tiny/crops/{case}/label.nii.gz"))) > 0
            z = int(np.argmax(label.reshape(len(label), -1).sum(1)))
            pred = sitk.GetArrayFromImage(sitk.ReadImage(str(run / "segmentation" / prediction / f"{case}.nii.gz")))[z] > 0
            row = cases[(cases["model"] == model) & (cases["case"] == case)].iloc[0]
            assert row["imputed_dice"] == (not pred.any()), (model, case)
            imputed = cases.loc[cases["model"] == model, "imputed_dice"].sum()
            assert ranking.set_index("model").loc[model, "n_imputed_segmentation"] == imputed
            if pred.any():
                assert row["dice"] == pytest.approx(2 * (pred & label[z]).sum() / (pred.sum() + label[z].sum())), (model, case)
    assert not list((run / "segmentation/nca/crops").glob("*/label.nii.gz"))  # labels are cut once, for the main run


@pytest.mark.long
def test_an_external_model_ranks_beside_the_trained_ones(tmp_path, tiny_run):
    """Volumes another model family wrote to disk (the NCA's synthetic stacks, as volumes in scanner
    units, as a tool elsewhere would write them) enter as an external run: imported and checked, no
    training job, ranked beside the trained runs with the NCA's own scores (up to requantisation)."""
    from dcesynth.synthesis import read_transform, stack_to_volume

    wd = copy_of_run(tiny_run, tmp_path / "run")
    res, outside = wd / "results", tmp_path / "elsewhere"
    outside.mkdir()
    # one validation case has no volume (an entry may lack some): left out of Table 1, the tumour
    # regions and the figures, not refused (the ranking's imputation of a missing test case is
    # test_mama_synth's: the tiny run ranks one test case)
    split = pd.read_csv(res / "splits/synthesis.tsv", sep="\t")
    left_out = split.loc[split["split"] == "val", "case_id"].iloc[0]
    for stack in sorted(res.glob("synthetic/nca/*/post1.npy")):
        case = stack.parent.name
        if case == left_out:
            continue
        reference = sitk.ReadImage(str(res / f"n4/{case}/pre.nii.gz"))
        volume = stack_to_volume(np.load(stack), read_transform(res / f"slices/{case}/pre.json"), reference, "scanner",
                                 read_transform(res / f"slices/{case}/post1.json"))  # fmt: skip
        sitk.WriteImage(volume, str(outside / f"{case}_0001.nii.gz"))
    # shown to radiologists as the main run is (export.runs): DICOM series and a viewer of its own
    (wd / "ext.yaml").write_text(f"models:\n  elsewhere:\n    family: external\n    images: {outside}/{{case}}_0001.nii.gz\n"
                                 "export:\n  runs: [elsewhere]\n")  # fmt: skip
    jobs = dry_run_jobs(wd, "--configfile", "config/config.yaml", "ext.yaml")
    assert {r for r, w in jobs if "run=elsewhere" in w} == {"external_model", "import_external", "mama_synth_export",
                                                             "image_quality_tables", "tumour_region_metrics", "plot_synthesis",
                                                             "nnunet_test_images", "nnunet_predict", "crop_synthetic",
                                                             "export_dicom", "viewer"}  # fmt: skip
    assert not [(r, w) for r, w in jobs if "run=tiny" in w or "run=nca" in w]  # the trained runs are left as they are
    assert not [(r, w) for r, w in jobs if f"case={left_out}" in w and "run=elsewhere" in w]
    run_snakemake(wd, "--cores", "2", "--configfile", "config/config.yaml", "ext.yaml")
    ranking = pd.read_csv(res / "tables/model_ranking.tsv", sep="\t").set_index("model")
    assert ranking.loc["elsewhere", "family"] == "external" and ranking.loc["elsewhere", "rank"] in (1, 2, 3)
    assert ranking["n_missing_cases"].to_dict() == {m: 0 for m in ranking.index}  # the ranked test case is there
    cases = pd.read_csv(res / "tables/model_ranking_cases.tsv", sep="\t").set_index(["model", "case"])
    for m in ("mse_full_image", "ssim_roi", "lpips_full_image"):
        for case in cases.loc["nca"].index:
            assert cases.loc[("elsewhere", case), m] == pytest.approx(cases.loc[("nca", case), m], rel=0.02, abs=1e-3), m
    assert not cases["missing_prediction"].any()
    assert (res / "mama_synth/elsewhere/predictions").is_dir()
    series = sorted((res / "dicom/elsewhere").glob("*/synthetic_post1"))
    assert len(series) == len(list(outside.iterdir())) and (res / "viewer/elsewhere/index.html").stat().st_size > 10_000
    header = pydicom.dcmread(sorted(series[0].glob("*.dcm"))[0], stop_before_pixels=True)
    assert "SYNTHETIC" in header.SeriesDescription and "external" in header.SeriesDescription, header.SeriesDescription
    # Table 1 and the tumour regions of the cases it has (the NCA's on all)
    regions = {r: pd.read_csv(res / f"tables/{r}/tumour_region.tsv", sep="\t") for r in ("elsewhere", "nca")}
    assert set(regions["nca"]["case_id"]) - set(regions["elsewhere"]["case_id"]) == {left_out}
    table1 = pd.read_csv(res / "tables/elsewhere/table1.tsv", sep="\t")
    assert table1["generator_epoch"].str.startswith("external (").all()
    # a volume replaced by one off the pre-contrast grid, its time older than every output (as
    # `rsync -a` leaves it), reruns its import through the volumes' fingerprint, and is refused by name
    case = sorted(outside.iterdir())[0]
    image = sitk.ReadImage(str(case))
    image.SetSpacing([2 * s for s in image.GetSpacing()])
    sitk.WriteImage(image, str(case))
    os.utime(case, (1_000_000_000, 1_000_000_000))
    imports = [w for r, w in dry_run_jobs(wd, "--configfile", "config/config.yaml", "ext.yaml") if r == "import_external"]
    assert len(imports) == 1 and f"case={case.name[:-12]}" in imports[0], imports
    out = run_snakemake(wd, "--cores", "2", "--configfile", "config/config.yaml", "ext.yaml", check=False)
    assert out.returncode != 0 and f"{case}: its spacing" in (wd / f"logs/import_external/elsewhere/{case.name[:-12]}.log").read_text()


def test_evaluation_outputs(tiny_run):
    run = tiny_run / "results"
    epochs = pd.read_csv(run / "metrics" / "tiny" / "epochs.tsv", sep="\t")
    assert epochs["epoch"].tolist() == [2, 4]
    assert {"ssim", "mse", "mae", "fid_imagenet", "fid_radimagenet", "same", "same_rank"} <= set(epochs.columns)
    assert sorted(epochs["same"].round(9).tolist())[0] == 0.0  # min-max scaled: the best epoch scores 0
    best = json.loads((run / "metrics" / "tiny" / "best_epoch.json").read_text())["epoch"]
    assert best in (2, 4)
    assert (run / "models" / "tiny" / "generator_best.pt").read_bytes() == (
        run / "models" / "tiny" / "generator" / f"epoch_{best}.pt"
    ).read_bytes()
    val = pd.read_csv(run / "metrics" / "tiny" / "val" / "epoch_2.tsv", sep="\t")
    assert val.loc[val["metric"] == "fid_imagenet", "provenance"].item().startswith("UNTRAINED")
    table1 = pd.read_csv(run / "tables" / "tiny" / "table1.tsv", sep="\t")
    assert set(table1["dataset"]) == {"val", "test"} or set(table1["dataset"]) == {"val", "test", "split_test"}
    assert {"ssim", "ms_ssim", "psnr", "mse", "mae", "fid_imagenet", "fid_radimagenet", "lpips", "n_pairs"} <= set(table1.columns)
    pixel_rows = table1[table1["dataset"] != "split_test"]
    assert pixel_rows["lpips_provenance"].str.contains("UNTRAINED").all()  # the untrained backbone is stated
    assert (pixel_rows["lpips"] > 0).all() and (pixel_rows["lpips"] < 1).all()
    # each LPIPS is of its row's images: the 4-epoch tiny generator is far from the real post-contrast
    # image (MSE several times the pre-contrast image's), and LPIPS orders the rows as MSE does
    for dataset, rows in pixel_rows.groupby("dataset"):
        rows = rows.set_index("comparison")
        syn, pre = rows.loc["real_post_vs_syn_post_best"], rows.loc["real_post_vs_real_pre"]
        assert syn["mse"] > 3 * pre["mse"] and syn["lpips"] > pre["lpips"], (dataset, rows[["mse", "lpips"]])
    region = pd.read_csv(run / "tables" / "tiny" / "tumour_region.tsv", sep="\t")
    assert set(region["region"]) == {"mask_dilated", "bounding_box"} and (region["voxels"] > 0).all()
    # every table names its cohort; the networks' provenance and the generator behind the data
    for table in (epochs, table1, region):
        assert table["cohort"].str.contains("phantom").all() and table["cohort"].nunique() == 1
    assert epochs["fid_imagenet_provenance"].str.startswith("UNTRAINED (seeded random tf_inception").all()
    assert epochs["fid_radimagenet_provenance"].str.startswith("UNTRAINED").all() and "same_paper" in epochs
    authors = ["mae_authors", "mse_authors", "psnr_authors", "ssim_authors", "ms_ssim_authors", "lpips_authors"]
    assert {*authors, "mae_authors_sd", "lpips_authors_sd", "fid_imagenet_n"} <= set(table1.columns)
    assert (pixel_rows["authors_size"] == 192).all() and "ssim_authors" in epochs
    assert (table1["generator_epoch"] == best).all() and table1["generator_vgg"].str.startswith("UNTRAINED").all()
    assert pixel_rows[authors].notna().all().all()
    report = (tiny_run / "report.html").read_text(errors="replace")
    for name in ("epochs.png", "table1.tsv", "paper_table1.tsv", "tumour_region.tsv"):
        assert name in report, name


def test_real_features_are_computed_once_per_run(tiny_run):
    """The feature cache (results/features): each stack of real slices has its features computed
    by one job of one run (epochs and runs that start together wait for its lock) and read by every
    other job that scores it, in that run and in the others; so are the per-pair values of Table 1's
    pre-contrast baseline (results/features/pairs), by one run's Table 1 for all."""
    from collections import Counter

    def lines(run, what="features of"):
        logs = [*sorted((tiny_run / "logs" / "evaluate_epoch" / run).glob("*.log")),
                tiny_run / "logs" / "image_quality_tables" / f"{run}.log"]  # fmt: skip
        return [ln for f in logs for ln in f.read_text().splitlines() if what in ln and "real slices" in ln]

    runs = sorted(p.name for p in (tiny_run / "logs" / "evaluate_epoch").iterdir())
    computed = {run: Counter(ln.rsplit(" ", 1)[-1] for ln in lines(run) if " computed " in ln) for run in runs}
    read = {run: Counter(ln.rsplit(" ", 1)[-1] for ln in lines(run) if " read from " in ln) for run in runs}
    everywhere = sum(computed.values(), Counter())
    entries = {str(p.relative_to(tiny_run)) for p in (tiny_run / "results" / "features").rglob("*.npy")}
    assert set(everywhere) == entries and {p.split("/")[2] for p in entries} == {"fid_imagenet", "fid_radimagenet", "frd"}
    assert set(everywhere.values()) == {1}, everywhere  # once in the whole workflow
    assert len(runs) >= 2 and all(set(r) <= entries for r in read.values())
    # every run reads real features (later epochs, Table 1), and some run reads what another computed
    assert all(read.values()) and any(set(read[run]) - set(computed[run]) for run in runs)
    # the baseline rows' values (validation and test): computed once, read by every other run's Table 1
    pairs = {how: {run: Counter(ln.rsplit(" ", 1)[-1] for ln in lines(run, "pairs of") if how in ln) for run in runs}
             for how in (" computed", " read from ")}  # fmt: skip
    made = sum(pairs[" computed"].values(), Counter())
    entries = {str(p.relative_to(tiny_run)) for p in (tiny_run / "results" / "features" / "pairs").glob("*.npz")}
    assert len(entries) == 2 and set(made) == entries and set(made.values()) == {1}, made
    assert all(set(pairs[" computed"][run]) | set(pairs[" read from "][run]) == entries for run in runs), pairs


def test_synthetic_series_open_as_valid_dicom(tiny_run):
    """Every synthetic volume is a DICOM MR series that dciodvfy (dicom3tools) passes without an
    error, and that pydicom and SimpleITK read back with the NIfTI's geometry and values."""
    import shutil

    dciodvfy = shutil.which("dciodvfy")
    if dciodvfy is None:
        message = "dciodvfy (Debian's dicom3tools) is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    volumes = sorted((tiny_run / "results" / "synthetic" / "tiny").glob("*/post1.nii.gz"))
    assert len(volumes) >= 4
    studies = {}
    for volume in volumes:
        case = volume.parent.name
        folder = tiny_run / "results" / "dicom" / "tiny" / case / "synthetic_post1"
        files = sorted(folder.glob("*.dcm"))
        nifti = sitk.ReadImage(str(volume))
        assert len(files) == nifti.GetSize()[2], case
        for f in files:
            proc = subprocess.run([dciodvfy, str(f)], capture_output=True, text=True)
            errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Error")]
            assert not errors, (f, errors)
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
        back = reader.Execute()
        np.testing.assert_allclose(back.GetOrigin(), nifti.GetOrigin(), atol=1e-3)
        np.testing.assert_allclose(back.GetSpacing(), nifti.GetSpacing(), atol=1e-3)
        np.testing.assert_allclose(back.GetDirection(), nifti.GetDirection(), atol=1e-6)
        ds = pydicom.dcmread(files[3])
        # the resampled 0-255 volume in 16-bit steps of (max - min) / 65535, or exact where the
        # resampling left whole numbers (slope 1)
        step = float(ds.RescaleSlope)
        assert step == 1 or step <= 255 / 65535 + 1e-9
        error = np.abs(sitk.GetArrayFromImage(back) - sitk.GetArrayFromImage(nifti)).max()
        assert error == 0 if step == 1 else error <= step / 2 + 1e-6, (case, step, error)
        assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"] and ds.Modality == "MR"
        assert ds.SeriesDescription.startswith("SYNTHETIC post1 pix2pixHD ep") and "no contrast agent" in ds.DerivationDescription
        assert ds.PatientID == case and ds.PatientName.family_name == case  # pseudonymous by default
        position = nifti.TransformIndexToPhysicalPoint((0, 0, int(ds.InstanceNumber) - 1))
        np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], position, atol=1e-3)
        studies[case] = ds.StudyInstanceUID
    assert len(set(studies.values())) == len(studies)  # one pseudonymous study per case


def test_predictions_are_dicom_seg_on_the_series_they_were_made_on(tiny_run):
    """Every prediction of a test case is a DICOM SEG that dciodvfy passes and that highdicom reads
    back as the prediction, placed on the frames of the series of its test image (which the export
    wrote from the volume the crop was cut from, with that volume's geometry)."""
    import highdicom as hd

    from conftest import dciodvfy_errors

    test = pd.read_csv(tiny_run / "results/splits/segmentation.tsv", sep="\t").query("role == 'test'")["case_id"]
    # the scenarios' predictions (the model ranking's fixed-segmenter predictions get no SEG)
    predictions = sorted(p for p in (tiny_run / "results/segmentation/tiny").glob("*/predictions/*/*.nii.gz")
                         if p.parts[-4] != "fixed_segmenter")  # fmt: skip
    assert len(predictions) == 3 * len(test) > 0  # two scenarios: three (scenario, domain) pairs
    seqs = {"real_pre": "pre", "real_post": "post1"}
    for prediction in predictions:
        case, domain, scenario = prediction.name[: -len(".nii.gz")], prediction.parent.name, prediction.parents[2].name
        folder = tiny_run / "results/dicom/tiny" / case
        seg_file = folder / f"seg_{scenario}_on_{domain}.dcm"
        assert not dciodvfy_errors(seg_file), seg_file
        series = folder / f"real_{seqs[domain]}"
        files = sorted(series.glob("*.dcm"))
        assert not dciodvfy_errors(files[0])
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames([str(f) for f in files])
        image = reader.Execute()
        volume = sitk.ReadImage(str(tiny_run / "results/n4" / case / f"{seqs[domain]}.nii.gz"))
        np.testing.assert_allclose(image.GetOrigin(), volume.GetOrigin(), atol=1e-3)
        np.testing.assert_allclose(image.GetDirection(), volume.GetDirection(), atol=1e-6)
        seg = hd.seg.segread(str(seg_file))
        uids = [pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files]
        mask = seg.get_pixels_by_source_instance(uids, segment_numbers=[1])[..., 0]  # (z, y, x) of the series
        # the crop is a sub-grid of the volume: the SEG is the prediction there and empty elsewhere
        pred_img = sitk.ReadImage(str(prediction))
        pred = sitk.GetArrayFromImage(pred_img) > 0
        x0, y0, z0 = volume.TransformPhysicalPointToIndex(pred_img.GetOrigin())
        window = (slice(z0, z0 + pred.shape[0]), slice(y0, y0 + pred.shape[1]), slice(x0, x0 + pred.shape[2]))
        assert np.array_equal(mask[window] > 0, pred), (case, scenario, domain)
        assert mask.sum() == pred.sum()
        ds = pydicom.dcmread(seg_file, stop_before_pixels=True)
        assert ds.PatientID == case and ds.SegmentSequence[0].SegmentLabel == "tumour"
        assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == pydicom.dcmread(files[0]).SeriesInstanceUID


def test_viewer_opens_in_a_headless_browser(tiny_run, tmp_path):
    """The viewer of the tiny run in headless Chromium: every validation and test case is embedded,
    the page draws images, another slice is another picture, and nothing logs an error. The report
    embeds it."""
    from matplotlib.image import imread

    from conftest import browse

    page = tiny_run / "results/viewer/tiny/index.html"
    split = pd.read_csv(tiny_run / "results/splits/synthesis.tsv", sep="\t")
    evaluated = split.loc[split["split"].isin(["val", "test"]), "case_id"].tolist()
    data = json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', page.read_text(), re.S)[1])
    assert sorted(c["case"] for c in data["cases"]) == sorted(evaluated)  # 4 <= report.viewer_cases
    case = data["cases"][0]["case"]
    pictures = []
    for k, fragment in enumerate([f"case={case}&plane=axial&slice=2", f"case={case}&plane=axial&slice=6",
                                  f"case={case}&plane=sagittal&slice=15"]):  # fmt: skip
        out = browse(page, fragment, tmp_path / f"{k}.png")
        assert f'data-ready="{fragment.replace("&", "&amp;")}"' in out["dom"], out["dom"][-2000:]
        assert "data-errors" not in out["dom"] and not out["console_errors"], out
        pictures.append(imread(tmp_path / f"{k}.png")[90:460, :, :3])
        assert pictures[-1].std() > 0.03  # images, not a blank page
    assert np.abs(pictures[0] - pictures[1]).mean() > 0.002 and np.abs(pictures[0] - pictures[2]).mean() > 0.002
    assert "interactive viewer" in (tiny_run / "report.html").read_text(errors="replace")


def test_evaluation_keys_do_not_rerun_training(tiny_run, tmp_path):
    (tmp_path / "eval_only.yaml").write_text(
        "gan:\n  eval_every: 4\n  preview:\n    n_figure_pairs: 1\nmetrics:\n  n_pixel_pairs: 7\n  selection: same_rank\n"
    )
    out = run_snakemake(tiny_run, "-n", "--configfile", "config/config.yaml", str(tmp_path / "eval_only.yaml")).stdout
    assert "preview_model" in out and "evaluate_epoch" in out and "select_best_epoch" in out
    assert "train_epoch" not in out and "init_model" not in out


def test_switching_device_reruns_nothing(tiny_run, tmp_path):
    """The device is where a job runs, not what it computes: after a finished run, no job reruns."""
    for device in ("auto", "cuda"):  # cuda also asks the scheduler for a GPU: resources, not params
        (tmp_path / "device.yaml").write_text(f"device: {device}\n")
        out = run_snakemake(tiny_run, "-n", "--configfile", "config/config.yaml", str(tmp_path / "device.yaml")).stdout
        for rule in ("train_epoch", "evaluate_epoch", "synthesize_volume", "nnunet_train", "nnunet_predict"):
            assert rule not in out, (device, rule)
        assert "Nothing to be done" in out, device


@pytest.mark.parametrize(
    ("keys", "reruns", "untouched"),
    [
        # a new best epoch reruns synthesis and what follows, but no epoch is scored again
        ("metrics:\n  selection: same_rank\n", "select_best_epoch", ("evaluate_epoch", "train_epoch")),
        ("metrics:\n  tumour_margin_mm: 5\n", "tumour_region_metrics",
         ("evaluate_epoch", "train_epoch", "select_best_epoch", "image_quality_tables", "synthesize_volume")),
        # the test-set FID sample is Table 1's alone
        ("metrics:\n  n_fid_pairs_test: 5\n", "image_quality_tables",
         ("evaluate_epoch", "train_epoch", "select_best_epoch", "synthesize_volume")),
        # LPIPS is scored in Table 1 only
        ("metrics:\n  lpips:\n    seed: 1\n", "image_quality_tables",
         ("evaluate_epoch", "train_epoch", "select_best_epoch", "synthesize_volume")),
        # which epochs are evaluated changes SAMe's scale, not training
        ("gan:\n  eval_epochs: [4]\n", "select_best_epoch", ("train_epoch", "init_model")),
        # the cohort's name reaches the tables, nothing else
        ("data:\n  cohort: renamed\n", "image_quality_tables",
         ("evaluate_epoch", "train_epoch", "select_best_epoch", "synthesize_volume", "nnunet_train", "extract_slices")),
    ],
)  # fmt: skip
def test_selection_and_tumour_keys_do_not_rescore_epochs(tiny_run, tmp_path, keys, reruns, untouched):
    """Epoch selection and the tumour margin are not scoring keys: no epoch is evaluated again."""
    (tmp_path / "one_key.yaml").write_text(keys)
    out = run_snakemake(tiny_run, "-n", "--configfile", "config/config.yaml", str(tmp_path / "one_key.yaml")).stdout
    assert reruns in out
    for rule in untouched:
        assert rule not in out, rule


def dry_run_blocks(wd: Path, *args: str) -> list[tuple[str, str]]:
    """(rule, the job's lines) of every job a dry run schedules."""
    out = run_snakemake(wd, "-n", *args).stdout
    blocks = re.split(r"^(?=(?:local)?rule \w+:)", out, flags=re.M)[1:]
    return [(re.match(r"(?:local)?rule (\w+):", b)[1], b) for b in blocks]


def dry_run_jobs(wd: Path, *args: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run schedules ("" for a rule without wildcards)."""
    jobs = []
    for rule, block in dry_run_blocks(wd, *args):
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        jobs.append((rule, wildcards[1] if wildcards else ""))
    return jobs


@pytest.mark.parametrize(
    ("keys", "runs", "not_runs"),
    [
        # a training key retrains from epoch 1, and only the run whose key it is
        # (the synthetic images change, so the nnU-Net trained on them retrains; the one on real images does not)
        ("gan:\n  lr: 0.0003\n", [("train_epoch", "run=tiny, epoch=1"), ("synthesize_volume", "run=tiny"),
                                    ("nnunet_train", "scenario=real_pre+syn_post")],
         ["run=nca", "ingest", "extract_slices", "scenario=real_pre,"]),
        # one further model's keys retrain that model only (its first epoch included)
        ("models:\n  nca:\n    lr: 0.002\n", [("train_epoch", "run=nca, epoch=1"), ("model_ranking", "")],
         ["run=tiny", "ingest", "extract_slices", "nnunet_train"]),
        # slices.size reruns the extraction and what follows, not ingest or N4
        ("slices:\n  size: 24\n", [("extract_slices", "case=Phantom_001"), ("train_epoch", "run=tiny, epoch=1")],
         ["make_phantom", "ingest", "ingest_mask", "n4_bias_correction", "crop_breast"]),
        # a new cross-validation case (Phantom_009; 007 is a test and 008 a GAN training case, which
        # retrains the GAN) changes the folds: real_pre's nnU-Net (no synthetic images) is trained
        # again; the cases already there are not preprocessed again
        ("phantom:\n  n_cases: 9\nsegmentation:\n  run: [real_pre]\n",
         [("nnunet_dataset", "scenario=real_pre"), ("nnunet_plan", "scenario=real_pre"), ("nnunet_train", "scenario=real_pre"),
          ("ingest", "case=Phantom_009")],
         [f"{rule}:case=Phantom_00{i}" for rule in ("make_phantom", "ingest", "n4_bias_correction", "extract_slices",
                                                   "crop_breast") for i in range(1, 7)]),
    ],
)  # fmt: skip
def test_documented_rerun_scopes(tiny_run, tmp_path, keys, runs, not_runs):
    """config/README.md's claims of what a key reruns, against the jobs a dry run schedules."""
    (tmp_path / "scope.yaml").write_text(keys)
    jobs = dry_run_jobs(tiny_run, "--configfile", "config/config.yaml", str(tmp_path / "scope.yaml"))
    for rule, wildcards in runs:
        assert any(r == rule and wildcards in w for r, w in jobs), (rule, wildcards, jobs)
    for word in not_runs:  # a rule, a wildcard ("case=X") or both ("rule:case=X")
        rule, _, wildcard = word.rpartition(":") if ":" in word else ("", "", word)
        if not rule and "=" not in wildcard:
            rule, wildcard = wildcard, ""
        assert not [(r, w) for r, w in jobs if (not rule or r == rule) and wildcard in w], (word, jobs)


def test_use_n4_false_extracts_slices_from_the_ingested_volumes(tiny_run, tmp_path):
    """slices.use_n4: false: every slice stack is cut from the ingested volume, not the N4-corrected
    one, and no N4 job is needed for it (nor is anything ingested again)."""
    (tmp_path / "n4.yaml").write_text("slices:\n  use_n4: false\n")
    blocks = dry_run_blocks(tiny_run, "--configfile", "config/config.yaml", str(tmp_path / "n4.yaml"))
    inputs = [b.split("output:")[0] for rule, b in blocks if rule == "extract_slices"]
    assert len(inputs) == 6 and all("results/nifti/" in i and "results/n4/" not in i for i in inputs), inputs
    for rule in ("n4_bias_correction", "ingest", "make_phantom"):
        assert rule not in {r for r, _ in blocks}, rule


def test_adding_a_case_runs_only_its_jobs_and_the_aggregates(tiny_run, tmp_path):
    """Phantom_007 is annotated and drawn into the test split: no other case's job, no training."""
    (tmp_path / "one_more.yaml").write_text("phantom:\n  n_cases: 7\n")
    out = run_snakemake(tiny_run, "-n", "--configfile", "config/config.yaml", str(tmp_path / "one_more.yaml")).stdout
    cases = set(re.findall(r"rule (\w+):(?:(?!\nrule ).)*?wildcards: (?:run=\w+, )?case=([\w.-]+)", out, re.S))
    # nnunet_predict predicts every test case in one job per scenario and domain (an aggregate), so
    # the other test cases' DICOM SEG jobs follow their rewritten predictions; nothing else reruns
    test_cases = set(pd.read_csv(tiny_run / "results/splits/segmentation.tsv", sep="\t").query("role == 'test'")["case_id"])
    assert {c for r, c in cases if r != "export_dicom_seg"} == {"Phantom_007"}, cases
    assert {c for r, c in cases if r == "export_dicom_seg"} == test_cases | {"Phantom_007"}, cases
    for rule in ("make_phantom", "ingest", "ingest_mask", "synthesize_volume", "split_cases", "image_quality_tables",
                 "crop_breast", "nnunet_test_images", "nnunet_predict", "segmentation_tables"):
        assert rule in out, rule
    # a new test case is predicted by the trained folds: no model is retrained
    for rule in ("train_epoch", "init_model", "nnunet_dataset", "nnunet_plan", "nnunet_train"):
        assert rule not in out, rule


def test_killed_training_epoch_resumes_to_the_same_result(tmp_path, tiny_run):
    """Kill Snakemake and its jobs in the second epoch of training from scratch; --rerun-incomplete
    trains on to the generator of epoch 2 the uninterrupted run exported (a copy of the tiny run with its
    training chain deleted: its preprocessed slices and pair lists are kept)."""
    wd = copy_of_run(tiny_run, tmp_path / "wd")
    for folder in ("state", "generator"):
        shutil.rmtree(wd / "results" / "models" / "tiny" / folder)
    shutil.rmtree(wd / "logs" / "train_epoch" / "tiny")
    target = "results/models/tiny/generator/epoch_2.pt"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(wd), "--cores", "2", target]
    proc = subprocess.Popen(cmd, cwd=wd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = wd / "logs" / "train_epoch" / "tiny" / "epoch_2.log"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and "training pairs" in log.read_text():
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before epoch 2 started"
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and its jobs, mid-epoch
    proc.wait()
    state_dir = wd / "results" / "models" / "tiny" / "state"
    assert not (state_dir / "epoch_2.pt").exists()  # no partial state
    assert (state_dir / "epoch_1.pt").exists()  # the first epoch is kept: the rerun starts at epoch 2
    run_snakemake(wd, "--unlock")
    proc = run_snakemake(wd, "--cores", "2", "--rerun-incomplete", target)
    rerun = proc.stdout + proc.stderr
    assert "init_model" not in rerun and rerun.count("rule train_epoch:") == 1, rerun[-3000:]
    resumed = torch.load(wd / target, weights_only=True)
    reference = torch.load(tiny_run / target, weights_only=True)
    assert resumed["epoch"] == 2
    for k, v in reference["state_dict"].items():
        assert torch.equal(resumed["state_dict"][k], v), k


def test_no_planted_identifier_leaves_the_dicom_tree(tiny_run):
    """Every identifying attribute of the PS3.15 basic profile we plant (text, dates, times, ages,
    sizes and weights, identifiers inside sequences, a private block, and every UID) carries a planted
    value in the input DICOM; none of them appears in any output, log, benchmark or the report."""
    wd = tiny_run
    planted = set()
    for spec in phantom.plan_cohort(tiny_config()["phantom"]):
        planted |= set(phantom.planted_identifiers(spec).values())
    # the identifiers are really in the input, every attribute of the profile, so this test can fail
    uids = set()
    for f in sorted((wd / "data" / "phantom" / "dicom").rglob("1-001.dcm")):
        ds = pydicom.dcmread(f)
        for key in phantom.planted_identifiers(spec):
            assert phantom.planted_value(ds, key) in planted, (f, key)
        uids |= {str(e.value) for e in ds.iterall() if e.VR == "UI" and str(e.value).count(".") > 4}
        uids.discard(str(ds.SOPClassUID))
    assert len(uids) > 20
    needles = {p.encode() for p in planted | uids} | {p.replace("^", " ").encode() for p in planted}
    # Ages are four bytes ("059Y"): in megabytes of float weights such a pattern occurs by chance
    # (it did, in an nnU-Net checkpoint), so in binary files they are searched only in the first
    # kilobyte, where NIfTI, npy and zip/pickle headers keep their text; in text files everywhere.
    # The report embeds its images and tables as base64 data: URIs ("033Y" came up in an image's
    # base64 by chance): each is decoded and searched as a file of its own.
    short = {n for n in needles if len(n) < 6}
    assert short, "the ages should be among the planted values"
    # thousands of needles in megabytes of outputs: one Aho-Corasick pass per file, not one
    # substring search per needle (bytes as latin-1 text: one character per byte)
    import ahocorasick

    def automaton(words):
        a = ahocorasick.Automaton()
        for w in words:
            a.add_word(w.decode("latin-1"), w.decode("latin-1"))
        a.make_automaton()
        return a

    every, long_only = automaton(needles), automaton(needles - short)

    def hits(data: bytes) -> set:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:  # binary: the short needles only in its header
            text = data.decode("latin-1")
            return {w for _, w in long_only.iter(text)} | {w for _, w in every.iter(text[:1024])}
        return {w for _, w in every.iter(data.decode("latin-1"))}

    data_uri = re.compile(rb"data:[\w/+.-]+(?:;[^;,\"'\s]*)*;base64,([A-Za-z0-9+/=]+)")
    checked = embedded = 0
    for top in ("results", "logs", "benchmarks", "report.html"):
        for f in [wd / top] if (wd / top).is_file() else (wd / top).rglob("*"):
            if not f.is_file():
                continue
            data = f.read_bytes()
            if f.name.endswith(".gz"):
                data = gzip.decompress(data)
            found = set()
            if f.suffix == ".html":
                for m in data_uri.finditer(data):
                    found |= hits(base64.b64decode(m.group(1)))
                    embedded += 1
                data = data_uri.sub(b" ", data)
            found |= hits(data)
            assert not found, f"{f.relative_to(wd)} contains {found}"
            checked += 1
    assert embedded > 10  # the report's images and tables were decoded and searched
    assert checked > 50
    # the DICOM export (synthetic and real series, SEG objects) and the viewer are among the outputs checked
    assert any((wd / "results" / "dicom").rglob("synthetic_post1/*.dcm")) and any((wd / "results" / "dicom").rglob("real_pre/*.dcm"))
    assert any((wd / "results" / "dicom").rglob("seg_*.dcm")) and (wd / "results/viewer/tiny/index.html").is_file()


def test_nothing_to_do_after_a_run(tiny_run):
    out = run_snakemake(tiny_run, "-n", "--cores", "1")
    assert "Nothing to be done" in out.stdout + out.stderr


def corrupt_cases(root: Path, specs) -> dict[str, str]:
    """Break four of the cases the way real data breaks; return {case: expected message part}."""
    series = {s.case_id: dicom.select_dce(dicom.find_series(root / s.case_id), "dyn|vibrant") for s in specs}
    a, b, c, d = (s.case_id for s in specs[:4])
    victim = sorted(series[a][1].path.iterdir())[2]
    victim.write_bytes(victim.read_bytes()[:-300])
    for s in series[b][1:]:
        for f in s.path.iterdir():
            f.unlink()
        s.path.rmdir()
    for f in series[c][1].path.iterdir():
        ds = pydicom.dcmread(f)
        ds.PixelSpacing = [float(ds.PixelSpacing[0]) * 1.5, float(ds.PixelSpacing[1]) * 1.5]
        ds.save_as(f)
    (series[d][0].path / "Thumbs.db").write_bytes(b"\x00\x01not dicom")
    return {
        a: f"case {a}: {victim}: truncated DICOM file",
        b: f"case {b}: {root / b}: only a pre-contrast DCE series found",
        c: f"case {c}: {series[c][1].path}: post1 geometry does not match the pre-contrast series: spacing",
        d: f"case {d}: {series[d][0].path / 'Thumbs.db'}: not a DICOM file",
    }


def test_bad_input_fails_alone_with_one_line_errors(tmp_path):
    # every case of this tree has a mask, so three train the GAN: too few are left for two folds
    cfg = tiny_config(segmentation={"enabled": False})
    specs = phantom.plan_cohort({**cfg["phantom"], "n_cases": 5})
    root = tmp_path / "dicom"
    for s in specs:
        phantom.write_case(s, root / s.case_id, tmp_path / "masks" / f"{s.case_id}.nii.gz")
    expected = corrupt_cases(root, specs)
    cfg["data"].update(source="dicom", root=str(root), mask_pattern=str(tmp_path / "masks" / "{case}.nii.gz"))
    wd = make_workdir(tmp_path / "wd", cfg)
    proc = run_snakemake(wd, "--cores", "2", "--keep-going", check=False)
    assert proc.returncode != 0
    console = proc.stdout + proc.stderr
    for case, message in expected.items():
        log = (wd / "logs" / "ingest" / f"{case}.log").read_text()
        assert f"ERROR: {message}" in log, log
        assert f"ERROR: {message}" in console
        assert "Traceback" not in log  # one line, not a stack trace
        assert not (wd / "results" / "nifti" / case / "pre.nii.gz").exists()
    # the summary at the end names every failed case once
    assert f"Cases with a failed job: {', '.join(sorted(expected))}" in proc.stderr
    good = specs[4]
    for seq in ("pre", "post1", "post2"):
        assert (wd / "results" / "slices" / good.case_id / f"{seq}.npy").exists()
    # aggregates wait for every case they cover (docs/own-data.md, --keep-going): the GAN's training pairs,
    # its validation pairs and Table 1 each cover a failed case; none is made from the others
    split = pd.read_csv(wd / "results/splits/synthesis.tsv", sep="\t")
    assert set(split.query("split == 'train'")["case_id"]) & set(expected), split
    made = {p.relative_to(wd).as_posix() for p in (wd / "results").rglob("*")
            if p.is_file() and p.parts[len(wd.parts) + 1] in ("models", "tables", "metrics")}  # fmt: skip
    assert made <= {"results/models/tiny/state/epoch_0.pt"}, made  # the untrained initial state needs no case
    # the good case's outputs are those of a run that never saw the bad cases
    alone_root = tmp_path / "alone"
    alone_root.mkdir()
    (alone_root / good.case_id).symlink_to(root / good.case_id)
    cfg["data"]["root"] = str(alone_root)
    cfg["splits"]["allow_empty"] = True  # one case has no GAN training case: preprocess it anyway
    alone = make_workdir(tmp_path / "wd_alone", cfg)
    targets = [f"results/{stage}/{good.case_id}/{seq}.{ext}" for stage, ext in (("n4", "nii.gz"), ("slices", "npy"))
               for seq in ("pre", "post1", "post2")] + [f"results/nifti/{good.case_id}/mask.nii.gz"]  # fmt: skip
    run_snakemake(alone, "--cores", "2", *targets)
    for t in targets:
        if t.endswith(".npy"):
            assert (alone / t).read_bytes() == (wd / t).read_bytes(), t
        else:
            a, b = sitk.ReadImage(str(alone / t)), sitk.ReadImage(str(wd / t))
            np.testing.assert_array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))
            assert a.GetOrigin() == b.GetOrigin() and a.GetSpacing() == b.GetSpacing(), t


def duke_tree(root: Path, ids: list[str]) -> None:
    cfg = tiny_config()["phantom"]
    for i, case in enumerate(ids):
        spec = phantom.plan_cohort({**cfg, "n_cases": i + 1, "post_phases": 2})[i]
        spec = phantom.CaseSpec(**{**spec.as_dict(), "case_id": case})
        phantom.write_case(spec, root / case, root.parent / "masks" / f"{case}.nii.gz")


def test_duke_config_builds_its_dag(tmp_path):
    ids = ["Breast_MRI_001", "Breast_MRI_003", "Breast_MRI_005", "Breast_MRI_009"]  # val, train, val, test
    root = tmp_path / "Duke-Breast-Cancer-MRI"
    duke_tree(root, ids)
    (tmp_path / "masks" / "Breast_MRI_003.nii.gz").unlink()  # a training case: no mask
    wd = make_workdir(tmp_path / "wd", tiny_config())
    site = f"data:\n  root: {root}\n  mask_pattern: {tmp_path}/masks/{{case}}.nii.gz\n"
    # four cases cannot fill five cross-validation folds: the synthesis part only
    site += "segmentation:\n  enabled: false\n" + placeholder_weights(tmp_path / "weights")
    (wd / "site.yaml").write_text(site)
    proc = run_snakemake(wd, "-n", "--configfile", "config/duke.yaml", "site.yaml")
    out = proc.stdout
    assert "make_phantom" not in out
    for rule, count in (("ingest", 4), ("ingest_mask", 3), ("n4_bias_correction", 4), ("extract_slices", 4)):
        assert any(line.split()[:2] == [rule, str(count)] for line in out.splitlines()), (rule, out[-2000:])


def test_lint_and_format_are_clean():
    lint = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert lint.returncode == 0 and "Congratulations" in lint.stdout + lint.stderr, lint.stdout + lint.stderr
    files = [str(REPO / "Snakefile"), str(REPO / "workflow" / "Snakefile"), *map(str, sorted((REPO / "workflow" / "rules").glob("*.smk")))]
    fmt = subprocess.run([sys.executable, "-m", "snakefmt", "--check", *files], capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.mark.long
def test_demo_model_learns_the_enhancement(tmp_path):
    """The demo config of the README: inside the tumour region (the mask dilated by 10 mm, and its
    bounding box) the synthetic post-contrast volume is closer to the real one than the
    pre-contrast volume is, on average and for most annotated cases. On the demo's joint intensity
    scale the pre-contrast image equals the post-contrast one wherever nothing enhances, so only the
    tumour region shows whether the model learned the enhancement rather than copying the anatomy."""
    cfg = default_config()
    # the demo's training, synthesising with its last epoch: no epoch is scored (SAMe's choice has its
    # own tests), which halves this test's time
    cfg["synthesis"]["epoch"] = cfg["gan"]["niter"] + cfg["gan"]["niter_decay"]
    wd = make_workdir(tmp_path, cfg)
    dry = run_snakemake(wd, "-n", "--cores", "2", f"results/tables/{cfg['gan']['run']}/tumour_region.tsv").stdout
    assert "evaluate_epoch" not in dry and "train_epoch" in dry
    # about 5 minutes alone on 2 cores, 12 beside the other test process's work; 40 leaves a slower machine room
    run_snakemake(wd, "--cores", "2", f"results/tables/{cfg['gan']['run']}/tumour_region.tsv", timeout=2400)
    table = pd.read_csv(wd / "results" / "tables" / cfg["gan"]["run"] / "tumour_region.tsv", sep="\t")
    assert set(table["region"]) == {"mask_dilated", "bounding_box"}
    for region, t in table.groupby("region"):
        assert len(t) >= 8, t
        assert t["mae_synthetic"].mean() < t["mae_pre"].mean(), t
        assert t["mse_synthetic"].mean() < t["mse_pre"].mean(), t
        assert (t["mae_synthetic"] < t["mae_pre"]).mean() >= 2 / 3, t


def test_killed_synthesis_resumes_to_the_same_volume(tmp_path, tiny_run):
    """Kill Snakemake while a synthesis job runs: no partial volume; --rerun-incomplete redoes it exactly."""
    wd = copy_of_run(tiny_run, tmp_path / "wd")
    case = sorted(p.name for p in (wd / "results" / "synthetic" / "tiny").iterdir())[0]
    target = f"results/synthetic/tiny/{case}/post1.nii.gz"
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(tiny_run / target)))
    log = wd / "logs" / "synthesize_volume" / "tiny" / f"{case}.log"
    log.unlink()
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(wd), "--cores", "1",
           "--forcerun", "synthesize_volume", target]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=wd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not log.exists():
        time.sleep(0.02)
    assert proc.poll() is None, "the synthesis job ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (wd / target).exists()  # removed before the job ran, and no partial file written
    assert not list((wd / target).parent.glob(".tmp-*"))
    run_snakemake(wd, "--unlock")
    run_snakemake(wd, "--cores", "1", "--rerun-incomplete", target)
    again = sitk.GetArrayFromImage(sitk.ReadImage(str(wd / target)))
    np.testing.assert_array_equal(again, reference)


@pytest.mark.parametrize(
    "override, words",
    [
        ({"metrics": {"n_fid_pairs": 1}}, "metrics.n_fid_pairs: 1 is less than the minimum of 2"),
        ({"metrics": {"fid_radimagenet": {"mode": "sometimes"}}},
         "metrics.fid_radimagenet.mode: 'sometimes' is not one of ['pretrained', 'random', 'off']"),
    ],
)
def test_config_values_out_of_range_are_refused_at_parse(tmp_path, override, words):
    """Through Snakemake: one line naming the key, not the validator's dump of the schema."""
    wd = make_workdir(tmp_path, tiny_config(**override))
    proc = run_snakemake(wd, "-n", check=False, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and f"Configuration error: {words}" in out, out[-2000:]
    assert "Failed validating" not in out and "Error validating config file" not in out


def test_resources_of_a_rule_that_does_not_exist_are_refused(tmp_path):
    """A misspelt `resources.<rule>` entry must not be silently ignored."""
    cfg = tiny_config()
    cfg["resources"]["train_epochs"] = {"mem_mb": 16000}
    wd = make_workdir(tmp_path, cfg)
    proc = run_snakemake(wd, "-n", check=False, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "resources.train_epochs names no rule" in out, out[-2000:]
    assert "train_epoch" in out.split("Rules:")[-1]
