"""The DICOM export (dcesynth.dicom_export, dcesynth.dicom_seg): synthetic series with the geometry
of an oblique volume and values within the export's quantisation, dciodvfy (Debian's dicom3tools)
without errors, the identity (pseudonymous by default, the source study's with link_to_source),
and segmentations as DICOM SEG that highdicom reads back onto the NIfTI's mask."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from dcesynth import phantom
from dcesynth.dicom_export import LINKED_ATTRIBUTES, export_reference, export_synthetic, first_dicom_file
from dcesynth.dicom_seg import read_segmentation, read_series_datasets, write_segmentation
from dcesynth.segmentation import crop_breast
from conftest import dciodvfy_errors, default_config


def _oblique(values: np.ndarray) -> sitk.Image:
    img = sitk.GetImageFromArray(values)
    img.SetSpacing((0.7, 0.8, 2.5))
    img.SetOrigin((-120.5, 35.25, -60.0))
    th = np.deg2rad(12)
    img.SetDirection((np.cos(th), 0, np.sin(th), 0, 1, 0, -np.sin(th), 0, np.cos(th)))
    return img


def _read_series(folder) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def test_oblique_float_volume_round_trips_within_its_quantisation(tmp_path):
    values = (np.random.default_rng(0).random((5, 20, 24)) * 900 - 50).astype(np.float32)
    image = _oblique(values)
    sitk.WriteImage(image, str(tmp_path / "v.nii.gz"))
    n = export_synthetic(tmp_path / "v.nii.gz", tmp_path / "out", "Case_7", "demo", "post1", {"generator_epoch": 8, "selected": True})
    assert n == 5
    files = sorted((tmp_path / "out").glob("*.dcm"))
    assert n == len(files) == 5
    assert not dciodvfy_errors(files[0]) and not dciodvfy_errors(files[-1])
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
    export_synthetic(tmp_path / "v.nii.gz", tmp_path / "again", "Case_7", "demo", "post1", {"generator_epoch": 8, "selected": True})
    again = pydicom.dcmread(sorted((tmp_path / "again").glob("*.dcm"))[0])
    assert again == ds  # every attribute, the UIDs included
    # another generator epoch is another series of the same study; another cohort's Case_7 another study
    export_synthetic(tmp_path / "v.nii.gz", tmp_path / "ep9", "Case_7", "demo", "post1", {"generator_epoch": 9})
    ep9 = pydicom.dcmread(sorted((tmp_path / "ep9").glob("*.dcm"))[0])
    assert ep9.StudyInstanceUID == ds.StudyInstanceUID and ep9.SeriesInstanceUID != ds.SeriesInstanceUID
    export_synthetic(tmp_path / "v.nii.gz", tmp_path / "other", "Case_7", "demo", "post1", {"generator_epoch": 8}, cohort="x")
    other = pydicom.dcmread(sorted((tmp_path / "other").glob("*.dcm"))[0])
    assert other.StudyInstanceUID != ds.StudyInstanceUID and other.SOPInstanceUID != ds.SOPInstanceUID
    # a model trained elsewhere (export.runs): no epoch of ours, its volumes named instead
    export_synthetic(tmp_path / "v.nii.gz", tmp_path / "ext", "Case_7", "mine", "post1",
                     {"model": "external", "generator_epoch": "external (/data/mine/{case}_0001.nii.gz)"})  # fmt: skip
    ext = pydicom.dcmread(sorted((tmp_path / "ext").glob("*.dcm"))[0])
    assert ext.SeriesDescription == "SYNTHETIC post1 external", ext.SeriesDescription
    assert "external (run mine, volumes made elsewhere (/data/mine/{case}_0001.nii.gz))" in ext.DerivationDescription
    assert ext.StudyInstanceUID == ds.StudyInstanceUID and ext.SeriesInstanceUID != ds.SeriesInstanceUID


def test_link_to_source_takes_the_source_study(tmp_path):
    cfg = {**default_config()["phantom"], "n_cases": 1, "rows": [24, 24], "cols": [24, 24], "slices": [4, 4]}
    spec = phantom.plan_cohort(cfg)[0]
    phantom.write_case(spec, tmp_path / "dicom", tmp_path / "mask.nii.gz")
    source = first_dicom_file(next(p for p in (tmp_path / "dicom").rglob("*") if p.is_dir() and "pre" in p.name))
    src = pydicom.dcmread(source)
    image = _oblique(np.arange(4 * 8 * 8, dtype=np.float32).reshape(4, 8, 8) % 256)
    sitk.WriteImage(image, str(tmp_path / "v.nii.gz"))
    export_synthetic(tmp_path / "v.nii.gz", tmp_path / "out", spec.case_id, "demo", "post1", {"generator_epoch": 2}, source)
    files = sorted((tmp_path / "out").glob("*.dcm"))
    ds = pydicom.dcmread(files[0])
    for key in LINKED_ATTRIBUTES:
        assert str(ds.get(key, "")) == str(src.get(key, "")), key
    assert ds.SeriesInstanceUID != src.SeriesInstanceUID and ds.SOPInstanceUID != src.SOPInstanceUID
    assert not dciodvfy_errors(files[0])
    assert np.array_equal(sitk.GetArrayFromImage(_read_series(tmp_path / "out")), sitk.GetArrayFromImage(image))


def _tumour_case(tmp_path):
    """An oblique volume with an ellipsoid 'tumour' on one side, its mask, and a breast crop of
    both as nnU-Net predicts on them."""
    z, y, x = np.mgrid[:12, :30, :40]
    mask = ((z - 6) ** 2 / 9 + (y - 14) ** 2 / 30 + (x - 29) ** 2 / 20) < 1
    volume = _oblique((300 + 400 * mask + 10 * (x % 7)).astype(np.float32))
    label = sitk.GetImageFromArray(mask.astype(np.uint8))
    label.CopyInformation(volume)
    sitk.WriteImage(volume, str(tmp_path / "pre.nii.gz"))
    return volume, label, mask


@pytest.mark.parametrize("resample_mm", [None, 1.0])
def test_a_prediction_on_a_breast_crop_is_a_seg_on_the_whole_series(tmp_path, resample_mm):
    """The prediction lives on the tumour-side crop (optionally resampled to isotropic voxels, as
    ``segmentation.resample_mm`` does); its SEG refers to the series of the whole volume, passes
    dciodvfy, and highdicom reads it back as the mask on that series' frames."""
    volume, label, mask = _tumour_case(tmp_path)
    crop = crop_breast(label, label, resample_mm, label=True)
    sitk.WriteImage(crop, str(tmp_path / "prediction.nii.gz"))
    assert export_reference(tmp_path / "pre.nii.gz", tmp_path / "real_pre", "Case_3", "pre", "n4") == 12
    n = write_segmentation(tmp_path / "prediction.nii.gz", tmp_path / "pre.nii.gz", tmp_path / "real_pre",
                           tmp_path / "seg.dcm", case="Case_3", run="demo", scenario="real_pre+syn_post",
                           domain="real_pre", folds=[0, 1])  # fmt: skip
    sources = read_series_datasets(tmp_path / "real_pre")
    back = read_segmentation(tmp_path / "seg.dcm", sources)
    if resample_mm is None:  # a sub-grid: exactly the mask
        assert np.array_equal(back, mask) and n == mask.sum()
    else:  # through a 1 mm grid and back by nearest neighbour: the same tumour, up to its border
        dice = 2 * (back & mask).sum() / (back.sum() + mask.sum())
        assert dice > 0.85, dice
    assert not dciodvfy_errors(tmp_path / "seg.dcm")
    assert not dciodvfy_errors(sorted((tmp_path / "real_pre").glob("*.dcm"))[0])
    seg = pydicom.dcmread(tmp_path / "seg.dcm")
    assert seg.Modality == "SEG" and seg.SegmentationType == "BINARY"
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == sources[0].SeriesInstanceUID
    assert seg.StudyInstanceUID == sources[0].StudyInstanceUID and seg.PatientID == "Case_3"
    segment = seg.SegmentSequence[0]
    assert segment.SegmentLabel == "tumour" and segment.SegmentAlgorithmType == "AUTOMATIC"
    algorithm = segment.SegmentationAlgorithmIdentificationSequence[0]
    assert algorithm.AlgorithmName == "nnU-Net v2" and "real_pre+syn_post" in algorithm.AlgorithmParameters
    real = pydicom.dcmread(sorted((tmp_path / "real_pre").glob("*.dcm"))[0])
    assert real.SeriesDescription == "dcesynth pre (N4)" and "segmentations were predicted on" in real.DerivationDescription


def test_an_empty_prediction_is_an_empty_seg(tmp_path):
    volume, label, mask = _tumour_case(tmp_path)
    empty = sitk.Image(label.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(label)
    sitk.WriteImage(empty, str(tmp_path / "prediction.nii.gz"))
    export_reference(tmp_path / "pre.nii.gz", tmp_path / "real_pre", "Case_3", "pre", "nifti")
    assert write_segmentation(tmp_path / "prediction.nii.gz", tmp_path / "pre.nii.gz", tmp_path / "real_pre",
                              tmp_path / "seg.dcm", case="Case_3", run="demo", scenario="real_pre",
                              domain="real_pre") == 0  # fmt: skip
    assert not read_segmentation(tmp_path / "seg.dcm", read_series_datasets(tmp_path / "real_pre")).any()
    assert not dciodvfy_errors(tmp_path / "seg.dcm")


def test_a_left_handed_volume_keeps_every_voxel_in_place(tmp_path):
    """A NIfTI whose slice axis runs against row x column (det < 0, as some NIfTI cohorts are
    stored): the series a DICOM reader sorts by position puts every voxel where it was, and the
    SEG made on it still reads back as the mask."""
    values = (np.arange(6 * 10 * 12).reshape(6, 10, 12) % 97).astype(np.float32)
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((1.0, 1.5, 3.0))
    image.SetOrigin((10.0, 20.0, 30.0))
    image.SetDirection((1, 0, 0, 0, 1, 0, 0, 0, -1))
    sitk.WriteImage(image, str(tmp_path / "v.nii.gz"))
    export_reference(tmp_path / "v.nii.gz", tmp_path / "series", "Case_9", "pre", "nifti")
    back = _read_series(tmp_path / "series")
    assert np.linalg.det(np.reshape(back.GetDirection(), (3, 3))) > 0  # the reader's right-handed view of it
    on_grid = sitk.Resample(back, image, sitk.Transform(), sitk.sitkNearestNeighbor)
    assert np.array_equal(sitk.GetArrayFromImage(on_grid), values)  # every voxel at its physical place
    mask = np.zeros(values.shape, np.uint8)
    mask[1:3, 2:5, 3:7] = 1
    label = sitk.GetImageFromArray(mask)
    label.CopyInformation(image)
    sitk.WriteImage(label, str(tmp_path / "p.nii.gz"))
    write_segmentation(tmp_path / "p.nii.gz", tmp_path / "v.nii.gz", tmp_path / "series", tmp_path / "seg.dcm",
                       case="Case_9", run="demo", scenario="real_pre", domain="real_pre")  # fmt: skip
    assert np.array_equal(read_segmentation(tmp_path / "seg.dcm", read_series_datasets(tmp_path / "series")), mask > 0)
    assert not dciodvfy_errors(tmp_path / "seg.dcm")
