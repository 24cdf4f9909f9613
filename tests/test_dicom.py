"""Series identification (Duke rule) and validated series reading."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from dcesynth import dicom, phantom
from dcesynth.errors import InputError
from conftest import TINY, default_config, deep_update


def make_tree(root: Path, names: list[str]) -> Path:
    case = root / "Breast_MRI_042"
    for n in names:
        folder = case / "01-01-1990-NA-MRI BREAST BILATERAL W  WO-12345" / n
        folder.mkdir(parents=True)
        (folder / "1-001.dcm").write_bytes(b"")
    return case


@pytest.mark.parametrize(
    "names, expected",
    [
        (  # the common Duke naming, with localizer and T2 series around it
            ["1.000000-3 Plane Loc-1", "2.000000-ax t2 frFSE-2", "3.000000-ax dyn pre-3",
             "4.000000-ax dyn 1st pass-4", "5.000000-ax dyn 2nd pass-5", "6.000000-ax dyn 3rd pass-6"],
            ["ax dyn pre", "ax dyn 1st pass", "ax dyn 2nd pass", "ax dyn 3rd pass"],
        ),
        (  # identical 'Ax Vibrant MultiPhase' names, non-contiguous numbers, numeric (not text) order
            ["1.000000-loc-9", "900.000000-Ax Vibrant MultiPhase-1", "700.000000-Ax Vibrant MultiPhase-2",
             "1000.000000-Ax Vibrant MultiPhase-3", "2.000000-SAG T1-4", "800.000000-Ax Vibrant MultiPhase-5"],
            ["700", "800", "900", "1000"],
        ),
        (  # odd capitalisation, a T1 non-fat-sat series and a 10 vs 9 ordering trap
            ["9.000000-AX DYN PRE-1", "10.000000-Ax Dyn 1st Pass-2", "3.000000-ax t1 non fs-3", "12.000000-ax DYN 2nd pass-4"],
            ["AX DYN PRE", "Ax Dyn 1st Pass", "ax DYN 2nd pass"],
        ),
    ],
)
def test_duke_series_identification(tmp_path, names, expected):
    dce = dicom.select_dce(dicom.find_series(make_tree(tmp_path, names)), "dyn|vibrant")
    if expected[0].isdigit():
        assert [str(int(s.number)) for s in dce] == expected
    else:
        assert [s.description for s in dce] == expected


def test_exclude_pattern_and_folder_parsing(tmp_path):
    case = make_tree(tmp_path, ["3.000000-ax dyn pre-1", "4.000000-ax dyn sub-2", "5.000000-ax dyn 1st pass-3"])
    dce = dicom.select_dce(dicom.find_series(case), "dyn", exclude="sub")
    assert [s.description for s in dce] == ["ax dyn pre", "ax dyn 1st pass"]
    assert dicom.parse_series_folder("600.000000-Ax Vibrant MultiPhase-81716") == (600.0, "Ax Vibrant MultiPhase")
    assert dicom.parse_series_folder("notes") is None


def test_too_few_dce_series_names_the_case(tmp_path):
    case = make_tree(tmp_path, ["3.000000-ax dyn pre-1", "2.000000-ax t2-2"])
    dce = dicom.select_dce(dicom.find_series(case), "dyn|vibrant")
    with pytest.raises(InputError, match=r"case Breast_MRI_042: .*Breast_MRI_042: only a pre-contrast DCE series"):
        dicom.assign_sequences("Breast_MRI_042", case, dce, ["pre", "post1"])


@pytest.fixture()
def series(tmp_path):
    """A real phantom pre-contrast series to corrupt."""
    cfg = deep_update(default_config(), TINY)["phantom"]
    spec = phantom.plan_cohort(cfg)[0]
    phantom.write_case(spec, tmp_path / spec.case_id, tmp_path / "mask.nii.gz")
    return dicom.select_dce(dicom.find_series(tmp_path / spec.case_id), "dyn|vibrant")[0], spec


def test_reads_valid_series(series):
    s, spec = series
    image = dicom.read_series("c1", s)
    assert image.GetSize() == (spec.cols, spec.rows, spec.slices)
    assert image.GetMetaDataKeys() == ()


def test_truncated_file(series):
    s, _ = series
    f = sorted(s.path.iterdir())[3]
    f.write_bytes(f.read_bytes()[:-200])
    with pytest.raises(InputError, match=rf"case c1: .*{f.name}: (truncated|unreadable) DICOM file"):
        dicom.read_series("c1", s)


def test_non_dicom_file(series):
    s, _ = series
    (s.path / "notes.txt").write_text("scanner notes")
    with pytest.raises(InputError, match=r"case c1: .*notes.txt: not a DICOM file"):
        dicom.read_series("c1", s)


def test_single_slice(series):
    s, _ = series
    for f in sorted(s.path.iterdir())[1:]:
        f.unlink()
    with pytest.raises(InputError, match="series has 1 slice"):
        dicom.read_series("c1", s)


def test_duplicate_and_uneven_positions(series):
    s, _ = series
    files = sorted(s.path.iterdir())
    shutil.copy(files[2], s.path / "1-999.dcm")
    ds = pydicom.dcmread(s.path / "1-999.dcm")
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(s.path / "1-999.dcm")
    with pytest.raises(InputError, match="duplicate slice position"):
        dicom.read_series("c1", s)
    (s.path / "1-999.dcm").unlink()
    files[4].unlink()  # a missing slice in the middle
    with pytest.raises(InputError, match="uneven slice spacing"):
        dicom.read_series("c1", s)


def test_series_not_named_the_tcia_way_are_identified_from_their_headers(tmp_path, caplog):
    """A PACS export names folders by number or UID: SeriesNumber and SeriesDescription decide."""
    from dcesynth.ingest import ingest_dicom_case

    cfg = deep_update(default_config(), TINY)["phantom"]
    spec = phantom.plan_cohort(cfg)[0]
    tcia = tmp_path / "tcia" / spec.case_id
    phantom.write_case(spec, tcia, tmp_path / "mask.nii.gz")
    export = tmp_path / "export" / spec.case_id
    for i, folder in enumerate(sorted(p for p in tcia.rglob("*") if p.is_dir() and any(p.glob("*.dcm")))):
        shutil.copytree(folder, export / f"MR_{9 - i:04d}")  # numbers unrelated to acquisition order
    (export / "notes").mkdir()
    (export / "notes" / "README.txt").write_text("not DICOM")
    # a first file without SeriesNumber (a stray object) does not hide the series' own number
    first = sorted((export / "MR_0009").iterdir())[0]
    stray = pydicom.dcmread(first)
    del stray.SeriesNumber
    stray.save_as(export / "MR_0009" / "0-stray.dcm")
    assert dicom.series_from_header(export / "MR_0009") == (float(pydicom.dcmread(first).SeriesNumber),
                                                             str(pydicom.dcmread(first).SeriesDescription))  # fmt: skip
    by_folder = dicom.select_dce(dicom.find_series(tcia), "dyn|vibrant")
    by_header = dicom.select_dce(dicom.find_series(export), "dyn|vibrant")
    assert [(s.number, s.description) for s in by_header] == [(s.number, s.description) for s in by_folder]
    assert len(by_header) == spec.post_phases + 1
    assert "notes: not named like a TCIA series folder and no DICOM file with a SeriesNumber: skipped" in caplog.text
    outputs = {seq: str(tmp_path / f"{seq}.nii.gz") for seq in ("pre", "post1")}
    ingest_dicom_case(spec.case_id, export, outputs, include="dyn|vibrant")


def _edit(f: Path, **attrs) -> None:
    ds = pydicom.dcmread(f)
    for k, v in attrs.items():
        if v is None:
            del ds[k]
        else:
            setattr(ds, k, v)
    ds.save_as(f)


@pytest.mark.parametrize(
    "edit, message",
    [
        (dict(PixelData=None), "DICOM file has no pixel data"),
        (dict(ImagePositionPatient=None), "DICOM file lacks ImagePositionPatient"),
        (dict(SeriesInstanceUID="1.2.826.0.1.3680043.8.498.1"), "file belongs to a different series than the rest of its folder"),
        (dict(ImageOrientationPatient=[1, 0, 0, 0, 0.8, -0.6]), "slice orientation differs from the rest of the series"),
        (dict(PixelSpacing=[1.23, 1.23]), "pixel spacing differs from the rest of the series"),
    ],
)  # fmt: skip
def test_a_file_unlike_its_series_is_named(series, edit, message):
    """One file of the series (not the first) broken one way: the error names the case, that file
    and what differs."""
    s, _ = series
    victim = sorted(s.path.iterdir())[3]
    _edit(victim, **edit)
    with pytest.raises(InputError, match=rf"case c1: .*{victim.name}: {message}"):
        dicom.read_series("c1", s)


def test_a_slice_of_another_size_is_named(series):
    s, spec = series
    victim = sorted(s.path.iterdir())[2]
    ds = pydicom.dcmread(victim)
    pixels = ds.pixel_array[:-2]  # a complete slice, two rows smaller
    ds.Rows, ds.PixelData = pixels.shape[0], pixels.tobytes()
    ds.save_as(victim)
    with pytest.raises(InputError, match=rf"{victim.name}: slice size {spec.rows - 2}x{spec.cols} differs from {spec.rows}x{spec.cols}"):
        dicom.read_series("c1", s)
