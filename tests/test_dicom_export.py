"""The DICOM export of synthetic volumes (dcesynth.dicom_export): geometry of an oblique volume,
values within the export's quantisation, dciodvfy (Debian's dicom3tools) without errors, and the
identity: pseudonymous by default, the source study's with link_to_source."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from dcesynth import phantom
from dcesynth.dicom_export import LINKED_ATTRIBUTES, export_synthetic, first_dicom_file
from conftest import default_config


def _oblique(values: np.ndarray) -> sitk.Image:
    img = sitk.GetImageFromArray(values)
    img.SetSpacing((0.7, 0.8, 2.5))
    img.SetOrigin((-120.5, 35.25, -60.0))
    th = np.deg2rad(12)
    img.SetDirection((np.cos(th), 0, np.sin(th), 0, 1, 0, -np.sin(th), 0, np.cos(th)))
    return img


def _dciodvfy_errors(path) -> list[str]:
    tool = shutil.which("dciodvfy")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("dciodvfy (Debian's dicom3tools) is not installed")
        pytest.skip("dciodvfy (Debian's dicom3tools) is not installed")
    proc = subprocess.run([tool, str(path)], capture_output=True, text=True)
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Error")]


def _read_series(folder) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def test_oblique_float_volume_round_trips_within_its_quantisation(tmp_path):
    values = (np.random.default_rng(0).random((5, 20, 24)) * 900 - 50).astype(np.float32)
    image = _oblique(values)
    sitk.WriteImage(image, str(tmp_path / "v.nii.gz"))
    n = export_synthetic(tmp_path / "v.nii.gz", tmp_path / "out", "Case_7", "demo", "post1", {"gan_epoch": 8, "selected": True})
    assert n == 5
    files = sorted((tmp_path / "out").glob("*.dcm"))
    assert n == len(files) == 5
    assert not _dciodvfy_errors(files[0]) and not _dciodvfy_errors(files[-1])
    back = _read_series(tmp_path / "out")
    np.testing.assert_allclose(back.GetOrigin(), image.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(back.GetSpacing(), image.GetSpacing(), atol=1e-3)
    np.testing.assert_allclose(back.GetDirection(), image.GetDirection(), atol=1e-6)
    step = (values.max() - values.min()) / 65535
    assert np.abs(sitk.GetArrayFromImage(back) - values).max() <= step / 2 + 1e-3
    ds = pydicom.dcmread(files[0])
    assert ds.SeriesDescription == "SYNTHETIC post1 pix2pixHD ep8" and "chosen by SAMe" in ds.DerivationDescription
    assert ds.PatientID == "Case_7" and ds.PatientBirthDate == "" and ds.StudyDate == ""
    # the same export again gives the same UIDs (a rerun changes nothing a PACS has stored)
    export_synthetic(tmp_path / "v.nii.gz", tmp_path / "again", "Case_7", "demo", "post1", {"gan_epoch": 8, "selected": True})
    again = pydicom.dcmread(sorted((tmp_path / "again").glob("*.dcm"))[0])
    assert again == ds  # every attribute, the UIDs included
    # another generator epoch is another series of the same study; another cohort's Case_7 another study
    export_synthetic(tmp_path / "v.nii.gz", tmp_path / "ep9", "Case_7", "demo", "post1", {"gan_epoch": 9})
    ep9 = pydicom.dcmread(sorted((tmp_path / "ep9").glob("*.dcm"))[0])
    assert ep9.StudyInstanceUID == ds.StudyInstanceUID and ep9.SeriesInstanceUID != ds.SeriesInstanceUID
    export_synthetic(tmp_path / "v.nii.gz", tmp_path / "other", "Case_7", "demo", "post1", {"gan_epoch": 8}, cohort="x")
    other = pydicom.dcmread(sorted((tmp_path / "other").glob("*.dcm"))[0])
    assert other.StudyInstanceUID != ds.StudyInstanceUID and other.SOPInstanceUID != ds.SOPInstanceUID


def test_link_to_source_takes_the_source_study(tmp_path):
    cfg = {**default_config()["phantom"], "n_cases": 1, "rows": [24, 24], "cols": [24, 24], "slices": [4, 4]}
    spec = phantom.plan_cohort(cfg)[0]
    phantom.write_case(spec, tmp_path / "dicom", tmp_path / "mask.nii.gz")
    source = first_dicom_file(next(p for p in (tmp_path / "dicom").rglob("*") if p.is_dir() and "pre" in p.name))
    src = pydicom.dcmread(source)
    image = _oblique(np.arange(4 * 8 * 8, dtype=np.float32).reshape(4, 8, 8) % 256)
    sitk.WriteImage(image, str(tmp_path / "v.nii.gz"))
    export_synthetic(tmp_path / "v.nii.gz", tmp_path / "out", spec.case_id, "demo", "post1", {"gan_epoch": 2}, source)
    files = sorted((tmp_path / "out").glob("*.dcm"))
    ds = pydicom.dcmread(files[0])
    for key in LINKED_ATTRIBUTES:
        assert str(ds.get(key, "")) == str(src.get(key, "")), key
    assert ds.SeriesInstanceUID != src.SeriesInstanceUID and ds.SOPInstanceUID != src.SOPInstanceUID
    assert not _dciodvfy_errors(files[0])
    assert np.array_equal(sitk.GetArrayFromImage(_read_series(tmp_path / "out")), sitk.GetArrayFromImage(image))
