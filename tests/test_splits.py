"""Patient-level splits and the case table."""

from __future__ import annotations

import pandas as pd
import pytest

from dcesynth import cohort, splits
from dcesynth.errors import ConfigError
from conftest import REPO, default_config


def cases(n=30, seed=0):
    cfg = default_config()
    cfg["phantom"]["n_cases"] = n
    return cohort.case_table(cfg)


def test_generated_splits_have_the_duke_shape():
    table = cases(40)
    syn, seg = splits.generated_splits(table, test_fraction=0.2, n_folds=5, seed=3)
    assert set(syn.loc[~syn["has_mask"], "split"]) == {"train"}
    assert set(syn.loc[syn["has_mask"], "split"]) == {"val", "test"}
    merged = syn.merge(seg, on="case_id")
    assert set(merged.loc[merged["role"] == "cv", "split"]) == {"val"}
    assert not merged.loc[merged["role"] == "cv", "multifocal"].any()
    assert set(merged.loc[merged["multifocal"] & (merged["split"] == "val"), "role"]) <= {"excluded"}
    folds = seg.loc[seg["role"] == "cv", "fold"].value_counts()
    assert set(folds.index) == set(range(5)) and folds.max() - folds.min() <= 1
    assert splits.check_splits(syn, seg, 5) == []
    syn2, seg2 = splits.generated_splits(table, test_fraction=0.2, n_folds=5, seed=3)
    pd.testing.assert_frame_equal(seg, seg2)


def test_duke_split_is_the_authors_sheet():
    sheet = pd.read_csv(REPO / "resources" / "duke_split.tsv", sep="\t", dtype=str, keep_default_na=False)
    ids = sheet["case_id"].tolist()
    table = pd.DataFrame({"case_id": ids, "has_mask": sheet["synthesis_split"] != "train", "multifocal": False})
    syn, seg = splits.duke_splits(table, sheet)
    assert syn["split"].value_counts().to_dict() == {"train": 668, "val": 224, "test": 30}
    assert seg["role"].value_counts().to_dict() == {"none": 668, "cv": 191, "excluded": 33, "test": 30}
    assert sorted(seg["fold"].dropna().unique().tolist()) == [0, 1, 2, 3, 4]
    with pytest.raises(ConfigError, match="not in the Duke split sheet: Breast_MRI_999"):
        splits.duke_splits(pd.DataFrame({"case_id": ["Breast_MRI_999"], "has_mask": [False], "multifocal": [False]}), sheet)


def test_case_table_from_dicom_root_and_sheet(tmp_path):
    root = tmp_path / "dicom"
    for c in ("Breast_MRI_002", "Breast_MRI_001"):
        (root / c).mkdir(parents=True)
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "Breast_MRI_002.nii.gz").write_bytes(b"x")
    cfg = default_config()
    cfg["data"].update(source="dicom", root=str(root), mask_pattern=str(tmp_path / "masks" / "{case}.nii.gz"))
    table = cohort.case_table(cfg)
    assert table["case_id"].tolist() == ["Breast_MRI_001", "Breast_MRI_002"]
    assert table["has_mask"].tolist() == [False, True]
    sheet = tmp_path / "cases.tsv"
    sheet.write_text("case_id\tmultifocal\nBreast_MRI_001\ttrue\nBreast MRI 3\tfalse\n")
    cfg["data"]["cases"] = str(sheet)
    with pytest.raises(ConfigError, match="no spaces.*'Breast MRI 3'"):
        cohort.case_table(cfg)
    sheet.write_text("case_id\tmultifocal\nBreast_MRI_001\ttrue\nBreast_MRI_007\tfalse\n")
    with pytest.raises(ConfigError, match="no folder under data.root.*Breast_MRI_007"):
        cohort.case_table(cfg)
    cfg["data"]["root"] = str(tmp_path / "nowhere")
    cfg["data"]["cases"] = None
    with pytest.raises(ConfigError, match="data.root: .*nowhere is not a folder"):
        cohort.case_table(cfg)


def test_nifti_sheet_needs_sequence_columns(tmp_path):
    (tmp_path / "vols").mkdir()
    for name in ("a.nii.gz", "b.nii.gz"):
        (tmp_path / "vols" / name).write_bytes(b"")
    sheet = tmp_path / "cases.tsv"
    sheet.write_text("case_id\tpre\tpost1\nN1\tvols/a.nii.gz\tvols/b.nii.gz\n")
    cfg = default_config()
    cfg["data"].update(source="nifti", cases=str(sheet), post_phases=2, mask_pattern=None)
    with pytest.raises(ConfigError, match=r"has no column\(s\) post2; the nifti source needs case_id, pre, post1, post2"):
        cohort.case_table(cfg)
    cfg["data"]["post_phases"] = 1
    # relative paths are read from the sheet's own folder, not the working directory
    assert cohort.case_table(cfg)["pre"].tolist() == [str(tmp_path / "vols" / "a.nii.gz")]


def test_nifti_sheet_problems_are_reported_all_at_once(tmp_path):
    (tmp_path / "a.nii.gz").write_bytes(b"")
    sheet = tmp_path / "cases.tsv"
    sheet.write_text(
        "case_id\tpre\tpost1\tmask\n"
        "N1\ta.nii.gz\t\t\n"  # empty post1 cell
        "N2\ta.nii.gz\tmissing.nii.gz\t\n"  # missing file
        "N3\t\ta.nii.gz\tnomask.nii.gz\n"  # empty pre cell and a missing mask
    )
    cfg = default_config()
    cfg["data"].update(source="nifti", cases=str(sheet), post_phases=1, mask_pattern=None)
    with pytest.raises(ConfigError) as err:
        cohort.case_table(cfg)
    msg = str(err.value)
    assert "4 problem(s)" in msg, msg
    for words in ("case N1: the 'post1' cell is empty", f"case N2: post1 file {tmp_path / 'missing.nii.gz'} does not exist",
                  "case N3: the 'pre' cell is empty", "case N3: mask file"):  # fmt: skip
        assert words in msg, (words, msg)


def _annotated(n):
    return pd.DataFrame({"case_id": [f"C{i:03d}" for i in range(n)], "has_mask": True, "multifocal": False})


def test_fully_annotated_cohort_draws_gan_cases_that_take_no_other_role():
    table = _annotated(200)
    syn, seg = splits.generated_splits(table, 0.2, 5, seed=1, min_gan_train_cases=5, annotated_gan_fraction=0.4)
    train = set(syn.loc[syn["split"] == "train", "case_id"])
    assert 60 < len(train) < 100  # about 40 % of 200
    assert set(seg.loc[seg["role"] != "none", "case_id"]).isdisjoint(train)
    assert set(seg.loc[seg["role"] == "none", "case_id"]) == train
    assert splits.check_splits(syn, seg, 5) == []
    # per-case draws: adding annotated cases never moves an existing one
    syn2, _ = splits.generated_splits(_annotated(260), 0.2, 5, seed=1, min_gan_train_cases=5, annotated_gan_fraction=0.4)
    assert syn2.set_index("case_id").loc[syn["case_id"], "split"].tolist() == syn["split"].tolist()
    # enough unannotated cases: annotated ones are never drawn
    mixed = pd.concat([table, _annotated(8).assign(case_id=lambda d: "U" + d["case_id"], has_mask=False)])
    syn3, _ = splits.generated_splits(mixed, 0.2, 5, seed=1, min_gan_train_cases=5, annotated_gan_fraction=0.4)
    assert set(syn3.loc[syn3["split"] == "train", "case_id"]) == {f"UC{i:03d}" for i in range(8)}


def test_empty_sets_are_refused_with_what_to_change():
    syn, seg = splits.generated_splits(_annotated(6), 0.2, 5, seed=1, min_gan_train_cases=0)
    problems = splits.check_splits(syn, seg, 5)
    assert any(p.startswith("no GAN training case for synthesis: add unannotated cases, or raise "
                            "splits.min_gan_train_cases") for p in problems), problems  # fmt: skip
    assert any("segmentation folds" in p and "lower splits.n_folds" in p for p in problems), problems
    assert splits.check_splits(syn, seg, 5, gan_trains=False, segments=False) == []


def test_split_sheet_method(tmp_path):
    cases = _annotated(4)
    sheet = tmp_path / "split.tsv"
    sheet.write_text(
        "case_id\tsynthesis_split\tsegmentation_role\tsegmentation_val_fold\n"
        "C000\ttrain\t\t\nC001\tval\tcv\t0\nC002\tval\tcv\t1\nC003\ttest\ttest\t\nOTHER\ttrain\t\t\n"
    )
    cfg = {"method": "sheet", "sheet": str(sheet), "n_folds": 2}
    syn, seg = splits.make_splits(cases, cfg)
    assert syn["split"].tolist() == ["train", "val", "val", "test"]
    assert seg["fold"].tolist()[1:3] == [0, 1]
    assert splits.check_splits(syn, seg, 2, method="sheet") == []
    sheet.write_text(
        "case_id\tsynthesis_split\tsegmentation_role\tsegmentation_val_fold\n"
        "C000\ttrain\tcv\t0\nC001\tvalid\tcv\t7\nC002\tval\tcv\t1\nC003\ttest\ttest\t\n"
    )
    with pytest.raises(ConfigError) as err:
        splits.make_splits(cases, cfg)
    msg = str(err.value)
    assert msg.startswith("splits.sheet: 3 problem(s) in the split sheet"), msg
    assert "case C000: trains the GAN (synthesis_split train) and is a segmentation cv case" in msg
    assert "case C001: synthesis_split 'valid' is not train, val or test" in msg
    assert "case C001: a cv case needs segmentation_val_fold in 0..1, not '7'" in msg
    sheet.write_text(
        "case_id\tsynthesis_split\tsegmentation_role\tsegmentation_val_fold\n"
        "C000\ttrain\t\t\nC001\tval\tcv\t1.5\nC002\tval\tcv\t1\nC003\ttest\ttest\t\n"
    )
    with pytest.raises(ConfigError, match=r"case C001: a cv case needs segmentation_val_fold in 0..1, not '1.5'"):
        splits.make_splits(cases, cfg)
    sheet.write_text(sheet.read_text() + "C002\tval\tcv\t0\n")
    with pytest.raises(ConfigError, match="the split sheet names case\\(s\\) more than once: C002"):
        splits.make_splits(cases, cfg)


def test_the_shipped_example_case_sheet(tmp_path):
    """resources/example_cases.tsv reads as documented: relative paths from the sheet's folder."""
    import shutil

    sheet = tmp_path / "example_cases.tsv"
    shutil.copy(REPO / "resources" / "example_cases.tsv", sheet)
    table = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False)
    for value in table.drop(columns=["case_id", "multifocal"]).to_numpy().ravel():
        if value and not value.startswith("/"):
            (tmp_path / value).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / value).write_bytes(b"")
    cfg = default_config()
    cfg["data"].update(source="nifti", cases=str(sheet), post_phases=2, mask_pattern=None)
    with pytest.raises(ConfigError) as err:  # only the absolute paths of another site are missing
        cohort.case_table(cfg)
    assert "4 problem(s)" in str(err.value) and str(err.value).count("case Patient_004:") == 4
    sheet.write_text("".join(sheet.read_text().splitlines(keepends=True)[:4]))
    cases = cohort.case_table(cfg)
    assert cases["has_mask"].tolist() == [True, False, True] and cases["multifocal"].tolist() == [False, False, True]
    assert cases.loc["Patient_002", "post2"] == str(tmp_path / "images/Patient_002/post2.nii.gz")
