"""A cohort of one's own: MAMA-MIA's layout end to end, and every mistake refused by the dry run.

The MAMA-MIA-shaped cohort (``conftest.write_mama_mia``) is annotated throughout, as the published
dataset is: the GAN's training cases are drawn from annotated ones (splits.min_gan_train_cases).
"""

from __future__ import annotations

import pandas as pd
import SimpleITK as sitk
import numpy as np
import pytest

from conftest import make_workdir, run_snakemake, tiny_config, write_mama_mia

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
    base = tmp_path_factory.mktemp("mama_mia")
    cases = write_mama_mia(base / "MAMA-MIA", PHASES)
    wd = make_workdir(base / "work", mama_mia_config(base / "MAMA-MIA"))
    dry = run_snakemake(wd, "-n", "--cores", "1")
    run_snakemake(wd, "--cores", "2", timeout=1800)
    return wd, cases, dry.stderr


def test_mama_mia_cohort_runs_end_to_end(mama_mia_run):
    wd, cases, summary = mama_mia_run
    # the summary says what will happen, and names the case left out
    assert "Cohort: MAMA-MIA-shaped test cohort (data.source: mama_mia)" in summary, summary
    assert "cases      8, annotated 8" in summary
    assert "post-contrast phases available per case: 2: 4 cases, 3: 2 cases, 4: 2 cases" in summary
    assert "GAN        train 3 (3 annotated), validation 3, test 2" in summary
    assert "skipped    1 case(s): SITE1_005 (1 post-contrast phase(s))" in summary
    split = pd.read_csv(wd / "results/splits/synthesis.tsv", sep="\t").set_index("case_id")
    seg = pd.read_csv(wd / "results/splits/segmentation.tsv", sep="\t").set_index("case_id")
    train = set(split.index[split["split"] == "train"])
    assert len(train) == 3 and split["has_mask"].all() and "SITE1_005" not in split.index
    # the GAN trained on real pairs: finite losses over every pair of the training cases' slices
    log = pd.read_csv(wd / "results/gan/tiny/train_log.tsv", sep="\t")
    assert (log["n_pairs"] > 0).all() and np.isfinite(log.select_dtypes("number").to_numpy()).all(), log
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
    table = pd.read_csv(wd / "results/tables/tiny/segmentation.tsv", sep="\t")
    assert set(table["cohort"]) == {"MAMA-MIA-shaped test cohort"} and table["dice"].notna().all(), table
