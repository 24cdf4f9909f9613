"""A cohort of one's own: MAMA-MIA's layout through to synthesis, and every mistake refused by the dry run.

The MAMA-MIA-shaped cohort (``conftest.write_mama_mia``) is annotated throughout, as the published
dataset is: the GAN's training cases are drawn from annotated ones (splits.min_gan_train_cases).
"""

from __future__ import annotations

import copy
import re

import pandas as pd
import SimpleITK as sitk
import numpy as np
import pytest
import yaml

from conftest import (REPO, copy_of_run, default_config, make_workdir, parse_refusal, run_snakemake, tiny_config,
                      write_mama_mia)

pytestmark = pytest.mark.integration

# Post-contrast phases per case; SITE1_005 has one, fewer than data.post_phases = 2: skipped.
PHASES = [2, 3, 4, 2, 1, 3, 2, 4, 2]
# With this seed the per-case draws give 3 GAN training, 3 validation (CV) and 2 test cases.
SPLITS = {"seed": 20, "annotated_gan_fraction": 0.3, "test_fraction": 0.35, "n_folds": 2}


def mama_mia_config(root, **overrides):
    cfg = tiny_config(
        data={"source": "mama_mia", "root": str(root), "mask_pattern": None, "cohort": "MAMA-MIA-shaped test cohort"},
        splits=SPLITS,
        gan={"niter": 1, "niter_decay": 1, "eval_every": 1},
        **overrides,
    )
    # One scenario: nnU-Net trained on real pre-contrast plus synthetic post-contrast crops.
    cfg["segmentation"]["scenarios"] = {"real_pre+syn_post": {"id": 502, "test_on": ["real_post"]}}
    return cfg


@pytest.fixture(scope="module")
def mama_mia_run(tmp_path_factory):
    """The run up to the synthetic volumes, where MAMA-MIA's difference from the other sources ends
    (the reading of its files and masks, its skipped cases and splits, and the return to each file's
    own grid); what follows (evaluation, segmentation) is the tiny run's. The last epoch synthesises
    (synthesis.epoch), so no epoch is scored."""
    from dcesynth.plan import load, path

    base = tmp_path_factory.mktemp("mama_mia")
    cases = write_mama_mia(base / "MAMA-MIA", PHASES)
    cfg = mama_mia_config(base / "MAMA-MIA", synthesis={"epoch": 2})
    wd = make_workdir(base / "work", cfg)
    plan = load(copy.deepcopy(cfg), REPO)
    targets = [path("synthetic", run="tiny", case=c, seq="post1") for c in plan.synth_cases]
    targets += [path("mask", case=c) for c in plan.masked] + ["results/models/tiny/train_log.tsv"]
    targets += [path("splits", table=t) for t in ("synthesis", "segmentation", "skipped")]
    proc = run_snakemake(wd, "--cores", "2", *targets, timeout=1800)
    assert "evaluate_epoch" not in proc.stdout + proc.stderr
    return wd, cases, proc.stderr


def jobs_to_run(proc) -> set[tuple[str, str]]:
    """(rule, case) of every job a dry run lists."""
    out = set()
    for block in re.split(r"\n(?=rule \w+:)", proc.stdout):
        rule = re.match(r"rule (\w+):", block)
        case = re.search(r"wildcards: .*?case=([\w.-]+)", block)
        if rule:
            out.add((rule.group(1), case.group(1) if case else ""))
    return out


@pytest.mark.integration
def test_changed_data_reruns_exactly_its_case(tmp_path):
    """A MAMA-MIA-shaped cohort (upper-case folders, lower-case files, other sizes), preprocessed: an
    image edited in place reruns its case's ingest and what follows; a corrected mask copied in with
    an older time than every output (as `cp -p` and `rsync -a` leave it) reruns that case's mask; no
    job of another case runs; an untouched tree stays done. A case copied in under a second id is
    refused by its ingest, naming the first."""
    import os
    import subprocess

    cases = write_mama_mia(tmp_path / "MAMA-MIA", [2, 2, 2, 2])
    cfg = mama_mia_config(tmp_path / "MAMA-MIA")
    cfg["splits"]["allow_empty"] = True  # 4 cases: preprocessing needs no full set of splits
    wd = make_workdir(tmp_path / "work", cfg)
    run_snakemake(wd, "--cores", "2", "preprocess")
    untouched = run_snakemake(wd, "-n", "preprocess")
    assert "Nothing to be done" in untouched.stdout + untouched.stderr, untouched.stdout[-2000:]
    a, b = sorted(cases)[:2]
    image = tmp_path / "MAMA-MIA" / "images" / a / f"{a.lower()}_0001.nii.gz"
    edited = sitk.ReadImage(str(image))
    sitk.WriteImage(sitk.Cast(edited * 2, edited.GetPixelID()), str(image))  # in place: other voxels
    mask = tmp_path / "MAMA-MIA" / "segmentations" / "expert" / f"{b.lower()}.nii.gz"
    arr = sitk.GetArrayFromImage(sitk.ReadImage(str(mask)))
    arr[tuple(np.argwhere(arr > 0)[0])] = 0  # the radiologist's correction: one voxel less tumour
    corrected = sitk.GetImageFromArray(arr)
    corrected.CopyInformation(sitk.ReadImage(str(mask)))
    sitk.WriteImage(corrected, str(tmp_path / "corrected.nii.gz"))
    os.utime(tmp_path / "corrected.nii.gz", (1_000_000_000, 1_000_000_000))  # 2001: older than every output
    subprocess.run(["cp", "-p", str(tmp_path / "corrected.nii.gz"), str(mask)], check=True)
    jobs = jobs_to_run(run_snakemake(wd, "-n", "preprocess"))
    assert {c for r, c in jobs if r == "ingest"} == {a}, jobs
    assert {c for r, c in jobs if r == "ingest_mask"} == {a, b}, jobs  # a's mask is resampled onto its new image
    assert ("n4_bias_correction", a) in jobs and {c for _, c in jobs if c} == {a, b}, jobs
    # One patient, one id: b's images copied in again under a new id (other files, the same voxels)
    import shutil

    twin = tmp_path / "MAMA-MIA" / "images" / "SITE3_099"
    twin.mkdir()
    for k in range(3):
        shutil.copy(tmp_path / "MAMA-MIA" / "images" / b / f"{b.lower()}_{k:04d}.nii.gz", twin / f"site3_099_{k:04d}.nii.gz")
    shutil.copy(mask, tmp_path / "MAMA-MIA" / "segmentations" / "expert" / "site3_099.nii.gz")
    proc = run_snakemake(wd, "--cores", "1", "results/nifti/SITE3_099/pre.nii.gz", check=False)
    assert proc.returncode != 0
    assert (f"case SITE3_099: {twin}/site3_099_0000.nii.gz: its pre-contrast pixel data are exactly those of case {b} "
            f"(results/nifti/{b}/pre.nii.gz)") in proc.stdout + proc.stderr, proc.stderr[-3000:]  # fmt: skip
    assert not (wd / "results/nifti/SITE3_099/pre.nii.gz").exists()


def test_mama_mia_cohort_runs_end_to_end(mama_mia_run):
    wd, cases, summary = mama_mia_run
    # the summary says what will happen, and names the case left out
    assert "Cohort: MAMA-MIA-shaped test cohort (data.source: mama_mia)" in summary, summary
    assert "cases      8, annotated 8" in summary
    assert "post-contrast phases available per case: 2: 4 cases, 3: 2 cases, 4: 2 cases" in summary
    assert "GAN        train 3 (3 annotated), validation 3, test 2" in summary
    assert "skipped    1 case(s): SITE1_005 (1 post-contrast phase(s))  (results/splits/skipped.tsv)" in summary
    split = pd.read_csv(wd / "results/splits/synthesis.tsv", sep="\t").set_index("case_id")
    seg = pd.read_csv(wd / "results/splits/segmentation.tsv", sep="\t").set_index("case_id")
    train = set(split.index[split["split"] == "train"])
    assert len(train) == 3 and split["has_mask"].all() and "SITE1_005" not in split.index
    skipped = pd.read_csv(wd / "results/splits/skipped.tsv", sep="\t")
    assert skipped[["case_id", "reason"]].values.tolist() == [["SITE1_005", "1 post-contrast phase(s)"]]
    # the GAN trained on real pairs: finite losses over every pair of the training cases' slices
    pairs = pd.read_csv(wd / "results/models/tiny/pairs/train.tsv", sep="\t")
    assert set(pairs["case_id"]) == train and (pairs["n_slices"] > 0).all(), pairs
    log = pd.read_csv(wd / "results/models/tiny/train_log.tsv", sep="\t")
    assert set(log["epoch"]) == {1, 2} and np.isfinite(log.select_dtypes("number").to_numpy()).all(), log
    # no synthesised (or segmented) case trained the GAN that synthesised it
    synthesised = {p.name for p in (wd / "results/synthetic/tiny").iterdir() if p.is_dir()}
    assert synthesised == set(split.index[split["split"] != "train"]) and not synthesised & train
    assert not set(seg.index[seg["role"].isin(["cv", "test"])]) & train
    # each synthetic volume sits on the grid of its source file, however that file was stored
    for case in synthesised:
        src = sitk.ReadImage(str(cases[case]["pre"]))
        syn = sitk.ReadImage(str(wd / f"results/synthetic/tiny/{case}/post1.nii.gz"))
        assert syn.GetSize() == src.GetSize(), case
        np.testing.assert_allclose(syn.GetSpacing(), src.GetSpacing(), atol=1e-4)
        np.testing.assert_allclose(syn.GetOrigin(), src.GetOrigin(), atol=1e-3)
        np.testing.assert_allclose(syn.GetDirection(), src.GetDirection(), atol=1e-6)
    # the 0/255 mask became a 0/1 mask; segmentation ran on the held-out cases
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(wd / "results/nifti/SITE2_002/mask.nii.gz")))
    assert set(np.unique(mask)) == {0, 1}


def dry_run_error(wd) -> str:
    """The dry run's refusal: it must fail at parse time, before any job is planned."""
    proc = run_snakemake(wd, "-n", check=False, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Configuration error" in out and "Job stats" not in out, out[-3000:]
    return out


def test_missing_weights_files_are_refused_by_the_dry_run(tmp_path):
    cfg = tiny_config(
        gan={"vgg": {"mode": "pretrained", "weights": "weights/vgg19-dcbb9e9d.pth"}, "init_generator": "G.pth"},
        metrics={"lpips": {"mode": "pretrained", "weights": None}},
    )
    out = dry_run_error(make_workdir(tmp_path, cfg))
    assert "gan.vgg.weights: weights/vgg19-dcbb9e9d.pth does not exist" in out
    assert "metrics.lpips.weights is not set, but metrics.lpips.mode is pretrained" in out
    assert "gan.init_generator: G.pth does not exist" in out


@pytest.mark.parametrize(
    "splits, words, dry_run",
    [
        ({"min_gan_train_cases": 0}, "no GAN training case for synthesis: add unannotated cases", True),
        ({"n_folds": 4}, "segmentation folds [3] have no case (3 annotated CV cases for splits.n_folds = 4)", False),
    ],
)
def test_empty_sets_are_refused(tmp_path, splits, words, dry_run):
    """Refused at parse time (in-process, as common.smk does); the first also by a real dry run."""
    write_mama_mia(tmp_path / "mm", PHASES)
    cfg = mama_mia_config(tmp_path / "mm")
    cfg["splits"].update(splits)
    out = parse_refusal(cfg)
    assert "the splits cannot run" in out and words in out, out[-2000:]
    if not dry_run:
        return
    assert words in dry_run_error(make_workdir(tmp_path / "wd", cfg))
    # splits.allow_empty: the same problems as warnings, and the parts that can run are planned
    cfg["splits"]["allow_empty"] = True
    proc = run_snakemake(make_workdir(tmp_path / "wd2", cfg), "-n", "--cores", "1", "preprocess", timeout=300)
    assert f"WARNING: {words}" in proc.stderr and "extract_slices" in proc.stdout


def test_a_multi_label_mask_fails_its_job_with_one_line(tmp_path):
    """Reading every mask costs minutes at MAMA-MIA scale, so mask values are checked by the
    mask's own ingest job (the first job of its case), not at parse time."""
    write_mama_mia(tmp_path / "mm", PHASES)
    mask_file = tmp_path / "mm/segmentations/expert/site1_001.nii.gz"
    mask = sitk.ReadImage(str(mask_file))
    arr = sitk.GetArrayFromImage(mask)
    arr[arr > 0] = np.where(np.arange(int((arr > 0).sum())) % 2, 1, 2)
    labelled = sitk.GetImageFromArray(arr)
    labelled.CopyInformation(mask)
    sitk.WriteImage(labelled, str(mask_file))
    wd = make_workdir(tmp_path / "wd", mama_mia_config(tmp_path / "mm"))
    target = "results/nifti/SITE1_001/mask.nii.gz"
    proc = run_snakemake(wd, "--cores", "1", target, check=False, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert ("site1_001.nii.gz: mask has 3 distinct values (0, 1, 2), not a binary tumour mask. "
            "Set 'data.mask_label' to the tumour's label.") in out, out[-3000:]  # fmt: skip
    (wd / "label.yaml").write_text("data:\n  mask_label: 2\n")
    run_snakemake(wd, "--cores", "1", target, "--configfile", "config/config.yaml", "label.yaml", timeout=300)


def job_counts(wd, *args) -> dict[str, int]:
    """Jobs per rule in a dry run (Snakemake's job stats table)."""
    out = run_snakemake(wd, "-n", "--cores", "1", *args, timeout=300).stdout
    table = out.split("Job stats:")[1].split("total")[0]
    return {line.split()[0]: int(line.split()[1]) for line in table.splitlines()[3:] if line.strip()}


def test_parts_by_name_chosen_scenarios_and_every_case_synthesised(tmp_path):
    wd = make_workdir(tmp_path, tiny_config())
    every = job_counts(wd)
    assert job_counts(wd, "preprocess").keys().isdisjoint({"train_epoch", "nnunet_train"})
    synthesis = job_counts(wd, "synthesis")
    assert synthesis["train_epoch"] == 4 and "nnunet_train" not in synthesis
    assert job_counts(wd, "segmentation")["nnunet_train"] == every["nnunet_train"] == 2 * 2
    # an extra config file cannot remove a scenario from the mapping, but segmentation.run chooses
    (wd / "one.yaml").write_text("segmentation:\n  run: [real_pre+syn_post]\n")
    one = job_counts(wd, "--configfile", "config/config.yaml", "one.yaml")
    assert one["nnunet_train"] == 2 and one["nnunet_predict"] == 1, one
    typo = tiny_config(segmentation={"run": ["real_pre+syn_pots"]})
    assert "segmentation.run: real_pre+syn_pots not in segmentation.scenarios (real_pre, real_pre+syn_post)" in parse_refusal(typo)
    # synthesis.cases: all adds the GAN's own training cases, evaluation stays on validation and test
    (wd / "all.yaml").write_text("synthesis:\n  cases: all\n")
    everything = job_counts(wd, "--configfile", "config/config.yaml", "all.yaml")
    split = run_snakemake(wd, "-n", "--cores", "1").stderr.split("GAN        train ")[1]
    n_train = int(split.split()[0].rstrip(","))
    assert everything["synthesize_volume"] == every["synthesize_volume"] + n_train > every["synthesize_volume"]
    assert everything["image_quality_tables"] == 1 and everything["nnunet_train"] == every["nnunet_train"]


def test_directory_without_config_uses_the_shipped_one_and_the_default_profile(tmp_path):
    """`snakemake --directory DIR` from anywhere: the demo config is found beside the Snakefile, and
    Snakemake 9 finds the shipped default profile there too (its gpu=1 limit among them)."""
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", "preprocess", timeout=300)
    out = proc.stdout + proc.stderr
    assert "Using workflow specific profile" in out and "profiles/default" in out, out[-2000:]
    assert "Cohort: phantom" in out and "make_phantom" in out


def test_a_published_generator_synthesises_without_training(tmp_path, shared, tiny_run):
    """gan.init_generator and no epochs: a synthesis-only DAG (NVIDIA's *_net_G.pth format, the
    seeded fixture generator from ../shared/data standing in for a published one), run on a copy
    of the tiny run: its preprocessed cases are kept, the rest is this config's."""
    import torch

    fx = torch.load(shared / "data" / "pix2pixhd_tiny_global_G_fixture.pt", weights_only=True)
    torch.save(fx["state_dict"], tmp_path / "30_net_G.pth")
    opts = {k: fx["options"][k] for k in ("ngf", "n_downsample_global", "n_blocks_global")}
    cfg = tiny_config(gan={"niter": 0, "niter_decay": 0, "init_generator": str(tmp_path / "30_net_G.pth"),
                           "generator": opts}, segmentation={"enabled": False})  # fmt: skip
    wd = make_workdir(copy_of_run(tiny_run, tmp_path / "wd"), cfg)
    jobs = job_counts(wd)
    assert not {"train_epoch", "evaluate_epoch", "select_best_epoch", "tabulate_epochs"} & set(jobs), jobs
    assert not {"make_phantom", "ingest", "n4_bias_correction", "extract_slices"} & set(jobs), jobs
    assert jobs["synthesize_volume"] > 0 and jobs["export_generator"] == 1
    # the synthesis and Table 1 (the DICOM export, viewer and figures made from them are the tiny run's)
    from dcesynth.plan import load, path

    plan = load(copy.deepcopy(cfg), REPO)
    run_snakemake(wd, "--cores", "2", "results/tables/tiny/table1.tsv",
                  *(path("synthetic", run="tiny", case=c, seq="post1") for c in plan.synth_cases), timeout=900)
    table1 = pd.read_csv(wd / "results/tables/tiny/table1.tsv", sep="\t")
    assert set(table1["generator_epoch"]) == {"0 (gan.init_generator 30_net_G.pth; not trained here)"}
    # the synthetic slices are that generator's translation of the pre-contrast slices: built here from
    # NVIDIA's options and state dict, fed [-1, 1] grey stacked to 3 channels, the channels' mean in 0..255
    from dcesynth.models.pix2pixhd.networks import build_generator

    G = build_generator(**opts)
    G.load_state_dict(fx["state_dict"])
    G.eval()
    stacks = sorted((wd / "results/synthetic/tiny").glob("*/post1.npy"))
    assert stacks and len(stacks) == len(list((wd / "results/synthetic/tiny").glob("*/post1.nii.gz")))
    for stack in stacks:
        pre = np.load(wd / "results/slices" / stack.parent.name / "pre.npy")
        with torch.no_grad():
            y = G(torch.from_numpy(pre.astype(np.float32) / 127.5 - 1.0)[:, None].repeat(1, 3, 1, 1)).numpy()
        expected = np.rint(np.round((np.clip(y, -1, 1) + 1) * 127.5).mean(axis=1))
        got = np.load(stack).astype(float)
        assert np.abs(got - expected).max() <= 1 and (got != expected).mean() < 0.01, stack
    # without a generator there is nothing to synthesise with
    cfg["gan"]["init_generator"] = None
    out = parse_refusal(cfg)
    assert "gan.niter + gan.niter_decay is 0 (no training), so gan.init_generator must name the generator" in out


@pytest.mark.long
def test_a_pretrained_nnunet_predicts_without_training(tmp_path, tiny_run):
    """segmentation.pretrained_model: an existing model folder (the tiny run's own real_pre model,
    standing in for a published one) predicts real and synthetic test domains; nothing trains."""
    wd = copy_of_run(tiny_run, tmp_path / "wd")
    model = next((tiny_run / "results/segmentation/tiny/real_pre/nnUNet_results").glob("Dataset501_*/*__*"))
    (wd / "pretrained.yaml").write_text(yaml.safe_dump({"segmentation": {
        "run": [], "pretrained_model": {"folder": str(model), "folds": None, "test_on": ["real_pre", "syn_post"]}}}))
    args = ("--configfile", "config/config.yaml", "pretrained.yaml")
    jobs = job_counts(wd, *args)
    assert not {"nnunet_train", "nnunet_plan", "nnunet_dataset"} & set(jobs), jobs
    assert jobs["nnunet_predict"] == 2 and jobs["segmentation_metrics"] == 2, jobs
    run_snakemake(wd, "--cores", "2", *args, timeout=900)
    table = pd.read_csv(wd / "results/tables/tiny/segmentation.tsv", sep="\t")
    rows = table[table["train_on"] == "pretrained"]
    assert sorted(rows["test_on"]) == ["real_pre", "syn_post"] and rows["dice"].notna().all(), table
    assert set(rows["dataset_id"]) == {501}
    # the same model predicts real_pre as it did in the run that trained it
    ours = pd.read_csv(tiny_run / "results/segmentation/tiny/real_pre/metrics_real_pre.tsv", sep="\t")
    again = pd.read_csv(wd / "results/segmentation/tiny/pretrained/metrics_real_pre.tsv", sep="\t")
    np.testing.assert_allclose(again.sort_values("case_id")["dice"], ours.sort_values("case_id")["dice"], atol=1e-6)
    out = parse_refusal(tiny_config(segmentation={"pretrained_model": {"folder": str(tmp_path)}}))
    assert f"segmentation.pretrained_model.folder: {tmp_path} is not an nnU-Net v2 model folder" in out


def test_a_config_from_before_these_keys_still_runs(tmp_path):
    """Keys added for one's own cohort have schema defaults: an older config.yaml keeps working."""
    cfg = default_config()
    for section, key in (("data", "mask_label"), ("splits", "sheet"), ("splits", "min_gan_train_cases"),
                         ("splits", "annotated_gan_fraction"), ("synthesis", "cases"), ("segmentation", "run"),
                         ("segmentation", "pretrained_model"), ("segmentation", "ranking_segmenter"),
                         ("gan", "augment"), ("metrics", "sample_order"), ("metrics", "fid_normalize"),
                         ("metrics", "authors_size")):  # fmt: skip
        del cfg[section][key]
    del cfg["models"]  # pix2pixHD alone (the schema's default)
    jobs = job_counts(make_workdir(tmp_path, cfg))
    assert jobs["nnunet_train"] == 7 * 2 and jobs["synthesize_volume"] == 12
