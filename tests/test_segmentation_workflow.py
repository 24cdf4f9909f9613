"""The nnU-Net stage of the real workflow on the tiny phantom cohort (integration layer)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy import ndimage

from dcesynth import segmentation
from conftest import TINY_SCENARIOS

pytestmark = pytest.mark.integration


def _seg_dir(wd: Path) -> Path:
    return wd / "results" / "segmentation" / "tiny"


def _dataset_dir(wd: Path, kind: str, scenario: str) -> Path:
    return _seg_dir(wd) / scenario / kind / segmentation.dataset_name(TINY_SCENARIOS[scenario]["id"], scenario)


def test_tables_have_every_configured_row(tiny_run):
    table = pd.read_csv(tiny_run / "results" / "tables" / "tiny" / "segmentation.tsv", sep="\t", dtype={"experiment": str})
    rows = list(zip(table["experiment"], table["train_on"], table["test_on"]))
    assert rows == [("1", "real_pre", "real_pre"), ("2", "real_pre", "real_post"), ("2", "real_pre+syn_post", "real_post")]
    assert table["paper_dice"].tolist() == pytest.approx([0.569, 0.484, 0.663])
    assert table["dice"].between(0, 1).all() and table["cohort"].str.contains("phantom").all()
    best = json.loads((tiny_run / "results" / "metrics" / "tiny" / "best_epoch.json").read_text())["epoch"]
    assert (table["generator_epoch"] == best).all() and table["generator_vgg"].str.startswith("UNTRAINED").all()
    table2 = pd.read_csv(tiny_run / "results" / "tables" / "tiny" / "segmentation_table2.tsv", sep="\t")
    assert len(table2) == 3  # all three rows are experiments 1 and 2
    table3 = pd.read_csv(tiny_run / "results" / "tables" / "tiny" / "segmentation_table3.tsv", sep="\t")
    assert table3.empty
    per_case = pd.read_csv(tiny_run / "results" / "tables" / "tiny" / "segmentation_cases.tsv", sep="\t")
    seg = pd.read_csv(tiny_run / "results" / "splits" / "segmentation.tsv", sep="\t")
    test_cases = set(seg.loc[seg["role"] == "test", "case_id"])
    assert test_cases and set(per_case["case_id"]) == test_cases
    assert len(per_case) == 3 * len(test_cases)
    assert (tiny_run / "results" / "figures" / "tiny" / "segmentation_dice.png").stat().st_size > 10_000
    report = (tiny_run / "report.html").read_text(errors="replace")
    for name in ("segmentation.tsv", "segmentation_table2.tsv", "segmentation_table3.tsv", "segmentation_dice.png"):
        assert name in report, name


def test_no_case_is_on_both_sides_of_a_fold(tiny_run):
    seg = pd.read_csv(tiny_run / "results" / "splits" / "segmentation.tsv", sep="\t")
    cv = seg[seg["role"] == "cv"]
    for scenario in TINY_SCENARIOS:
        # the folds nnU-Net trained with: splits_final.json beside the plans
        splits = json.loads((_dataset_dir(tiny_run, "nnUNet_preprocessed", scenario) / "splits_final.json").read_text())
        images = {p.name.removesuffix("_0000.nii.gz") for p in (_dataset_dir(tiny_run, "nnUNet_raw", scenario) / "imagesTr").glob("*.nii.gz")}
        assert len(images) == len(cv) * len(segmentation.scenario_images(scenario))
        seen_in_val = []
        for k, fold in enumerate(splits):
            train = {i.split("__")[0] for i in fold["train"]}
            val = {i.split("__")[0] for i in fold["val"]}
            assert not train & val, (scenario, k)
            assert val == set(cv.loc[cv["fold"] == k, "case_id"])
            assert set(fold["train"]) | set(fold["val"]) == images
            seen_in_val += fold["val"]
        assert sorted(seen_in_val) == sorted(images)  # every copy validated exactly once
        test = set(seg.loc[seg["role"] == "test", "case_id"])
        assert not {i.split("__")[0] for i in images} & test


def test_crops_keep_the_tumour_where_it_was(tiny_run):
    seg = pd.read_csv(tiny_run / "results" / "splits" / "segmentation.tsv", sep="\t")
    for case in seg.loc[seg["role"].isin(["cv", "test"]), "case_id"]:
        full = sitk.ReadImage(str(tiny_run / "results" / "nifti" / case / "mask.nii.gz"))
        crop = sitk.ReadImage(str(_seg_dir(tiny_run) / "crops" / case / "label.nii.gz"))
        centres = []
        for im in (full, crop):
            com = ndimage.center_of_mass(sitk.GetArrayFromImage(im) > 0)
            centres.append(im.TransformContinuousIndexToPhysicalPoint([float(c) for c in com[::-1]]))
        np.testing.assert_allclose(centres[1], centres[0], atol=1e-4)
        assert crop.GetSize()[0] < full.GetSize()[0]
        image = sitk.ReadImage(str(_seg_dir(tiny_run) / "crops" / case / "real_pre.nii.gz"))
        assert image.GetSize() == crop.GetSize() and image.GetOrigin() == pytest.approx(crop.GetOrigin())


def test_predictions_are_on_the_label_grid(tiny_run):
    seg = pd.read_csv(tiny_run / "results" / "splits" / "segmentation.tsv", sep="\t")
    for case in seg.loc[seg["role"] == "test", "case_id"]:
        label = sitk.ReadImage(str(_seg_dir(tiny_run) / "crops" / case / "label.nii.gz"))
        for scenario, spec in TINY_SCENARIOS.items():
            for domain in spec["test_on"]:
                pred = sitk.ReadImage(str(_seg_dir(tiny_run) / scenario / "predictions" / domain / f"{case}.nii.gz"))
                assert pred.GetSize() == label.GetSize()
                assert pred.GetOrigin() == pytest.approx(label.GetOrigin(), abs=1e-4)
                assert set(np.unique(sitk.GetArrayViewFromImage(pred))) <= {0, 1}


def test_prediction_finds_our_trainer_without_nnunets_search(tiny_run, tmp_path, nnunet_searches):
    """The prediction job's code (``dcesynth.nnunet._predict``, run here in this process) loads the
    tiny trainer's folds without nnU-Net's search of its trainer package, and predicts what the run
    predicted."""
    import torch

    from dcesynth import nnunet

    segmenter = tiny_run / "results/segmentation/tiny/fixed_segmenter"
    model = next((tiny_run / "results/segmentation/tiny/real_pre/nnUNet_results").glob("Dataset501_*/nnUNetTrainer_dcesynth_tiny__*"))
    images = next((segmenter / "nnUNet_raw").glob("Dataset501_*/imagesTs_syn_post"))
    threads = torch.get_num_threads()
    try:
        nnunet._predict(str(model), [0, 1], str(images), str(tmp_path), 1, "cpu", False, 0.5)
    finally:
        torch.set_num_threads(threads)
    assert nnunet_searches == []
    for ours in tmp_path.glob("*.nii.gz"):
        run = segmenter / "predictions" / "syn_post" / ours.name
        np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(ours))),
                                      sitk.GetArrayFromImage(sitk.ReadImage(str(run))))  # fmt: skip
    assert list(tmp_path.glob("*.nii.gz"))


def test_datasets_pass_nnunet_integrity_check(tiny_run, tmp_path):
    for scenario in TINY_SCENARIOS:
        log = (tiny_run / "logs" / "nnunet_plan" / "tiny" / scenario / f"{_dataset_dir(tiny_run, 'x', scenario).name}.log").read_text()
        assert "--verify_dataset_integrity" in log and "verify_dataset_integrity Done" in log
    # and once more by hand, on a copy, with nnU-Net's own command
    scenario = "real_pre+syn_post"
    raw = _dataset_dir(tiny_run, "nnUNet_raw", scenario)
    shutil.copytree(raw, tmp_path / "raw" / raw.name)
    env = {**os.environ, "nnUNet_raw": str(tmp_path / "raw"), "nnUNet_preprocessed": str(tmp_path / "pre"),
           "nnUNet_results": str(tmp_path / "res")}
    exe = Path(sys.executable).parent / "nnUNetv2_extract_fingerprint"
    cmd = [str(exe), "-d", str(TINY_SCENARIOS[scenario]["id"]), "--verify_dataset_integrity", "-np", "1"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # a label whose shape differs from its image's is caught by the same check
    victim = sorted((tmp_path / "raw" / raw.name / "labelsTr").glob("*.nii.gz"))[0]
    im = sitk.ReadImage(str(victim))
    sitk.WriteImage(im[:-1, :, :], str(victim))
    proc = subprocess.run([*cmd, "--clean"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0


def test_killed_fold_resumes_from_its_last_epoch(tmp_path, tiny_run):
    """Kill Snakemake and its nnU-Net fold after the first epoch; --rerun-incomplete continues it
    (a copy of the tiny run with that fold deleted: its dataset and plans are kept)."""
    import signal
    import time

    from conftest import REPO, copy_of_run, run_snakemake

    wd = copy_of_run(tiny_run, tmp_path / "wd")
    fold_dir = _dataset_dir(wd, "nnUNet_results", "real_pre") / "nnUNetTrainer_dcesynth_tiny__nnUNetPlans__3d_fullres" / "fold_0"
    shutil.rmtree(fold_dir)
    log_file = wd / "logs" / "nnunet_train" / "tiny" / "real_pre" / fold_dir.parents[1].name / fold_dir.parent.name / "fold_0.log"
    log_file.unlink()
    target = str((fold_dir / "checkpoint_final.pth").relative_to(wd))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(wd), "--cores", "2", target]
    proc = subprocess.Popen(cmd, cwd=wd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.time() + 600
    started = False
    while time.time() < deadline and proc.poll() is None:
        logs = list(fold_dir.glob("training_log_*.txt"))
        if logs and any(line.rstrip().endswith(": Epoch 1") for line in logs[0].read_text().splitlines()):
            started = True
            break
        time.sleep(0.05)
    assert started and proc.poll() is None, "the fold ended before its second epoch started"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (fold_dir / "checkpoint_final.pth").exists()
    assert (fold_dir / "checkpoint_latest.pth").exists()
    # our short trainers draw nnU-Net's progress plot after the last epoch only (about 1 s an epoch)
    assert not (fold_dir / "progress.png").exists()
    run_snakemake(wd, "--unlock")
    proc = run_snakemake(wd, "--cores", "2", "--rerun-incomplete", target)
    assert "rule nnunet_plan:" not in proc.stdout + proc.stderr  # only the fold reruns
    log = log_file.read_text()
    assert "resuming from its last checkpoint" in log
    assert (fold_dir / "checkpoint_final.pth").stat().st_size > 0
    lines = [line.rstrip() for f in sorted(fold_dir.glob("training_log_*.txt")) for line in f.read_text().splitlines()]
    assert sum(line.endswith(": Epoch 0") for line in lines) == 1  # the first epoch is not repeated
    assert sum(line.endswith(": Epoch 1") for line in lines) == 2  # the killed second epoch is run again
    assert any(line.endswith("Training done.") for line in lines)
    assert (fold_dir / "progress.png").stat().st_size > 0


def test_tta_turns_nnunet_test_time_mirroring_on(tiny_run, tmp_path, monkeypatch):
    """segmentation.tta reaches nnU-Net's predictor: the tiny run's real_pre model predicts one test
    image with it (its log says what the predictor did; the tiny run's own predictions, tta false,
    say mirroring was off), and the key reruns the prediction jobs, not training."""
    from dcesynth import nnunet

    from conftest import run_snakemake

    model = next((_seg_dir(tiny_run) / "real_pre/nnUNet_results").glob("Dataset501_*/*__*"))
    image = sorted((_seg_dir(tiny_run) / "real_pre/nnUNet_raw").glob("*/imagesTs_real_pre/*.nii.gz"))[0]
    (tmp_path / "images").mkdir()
    shutil.copy(image, tmp_path / "images" / image.name)
    out, log = tmp_path / "out", tmp_path / "tta.log"
    monkeypatch.setattr(os, "environ", dict(os.environ))  # nnU-Net's variables for this test only
    nnunet.environment(tmp_path / "nnunet", 1, training=False)  # as the job sets them (our trainers' folder)
    nnunet.predict(model, [0, 1], tmp_path / "images", out, 1, "cpu", True, 0.5, log)
    assert "test-time mirroring on (axes (0, 1, 2))" in log.read_text(), log.read_text()[-2000:]
    assert (out / image.name.replace("_0000", "")).exists()
    ran = sorted((tiny_run / "logs/nnunet_predict/tiny").rglob("*.log"))
    assert ran and all("test-time mirroring off" in f.read_text() for f in ran)
    (tmp_path / "tta.yaml").write_text("segmentation:\n  tta: true\n")
    dry = run_snakemake(tiny_run, "-n", "--configfile", "config/config.yaml", str(tmp_path / "tta.yaml")).stdout
    assert "nnunet_predict" in dry and "nnunet_train" not in dry and "nnunet_plan" not in dry
