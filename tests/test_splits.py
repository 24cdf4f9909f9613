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
    sheet = tmp_path / "cases.tsv"
    sheet.write_text("case_id\tpre\tpost1\nN1\ta.nii.gz\tb.nii.gz\n")
    cfg = default_config()
    cfg["data"].update(source="nifti", cases=str(sheet), post_phases=2, mask_pattern=None)
    with pytest.raises(ConfigError, match=r"needs columns \['post2'\]"):
        cohort.case_table(cfg)
    cfg["data"]["post_phases"] = 1
    assert cohort.case_table(cfg)["pre"].tolist() == ["a.nii.gz"]
