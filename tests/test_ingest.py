"""Ingest of DICOM and NIfTI cases, and its clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from dcesynth import dicom, phantom
from dcesynth.errors import InputError
from dcesynth.ingest import ingest_dicom_case, ingest_mask, ingest_nifti_case
from conftest import TINY, default_config, deep_update


@pytest.fixture()
def case(tmp_path):
    cfg = deep_update(default_config(), TINY)["phantom"]
    spec = phantom.plan_cohort(cfg)[0]
    phantom.write_case(spec, tmp_path / "raw" / spec.case_id, tmp_path / "raw" / "mask.nii.gz")
    return spec, tmp_path


def outputs(tmp_path, seqs=("pre", "post1", "post2")):
    return {s: str(tmp_path / "out" / f"{s}.nii.gz") for s in seqs}


def test_dicom_case_keeps_geometry_and_no_metadata(case):
    spec, tmp = case
    out = outputs(tmp)
    chosen = ingest_dicom_case(spec.case_id, tmp / "raw" / spec.case_id, out, include="dyn|vibrant")
    assert list(chosen) == ["pre", "post1", "post2"]
    dce = dicom.select_dce(dicom.find_series(tmp / "raw" / spec.case_id), "dyn|vibrant")
    for seq, series in zip(out, dce):
        img = sitk.ReadImage(out[seq])
        ref = dicom.read_series(spec.case_id, series)
        assert img.GetSize() == ref.GetSize()
        assert img.GetSpacing() == pytest.approx(ref.GetSpacing())
        assert img.GetOrigin() == pytest.approx(ref.GetOrigin(), abs=1e-4)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(img), sitk.GetArrayFromImage(ref))
    n = ingest_mask(spec.case_id, tmp / "raw" / "mask.nii.gz", out["pre"], tmp / "out" / "mask.nii.gz")
    assert n == int(phantom.draw_case(spec)["mask"].sum())


def test_a_repeated_or_equally_numbered_series_is_refused_by_name(case):
    """A pre-contrast series exported twice becomes post1 when ordered by number: refused, naming both,
    instead of a post-contrast phase bit-identical to pre. Two DCE series with one SeriesNumber (their
    order would rest on folder names) are refused naming both. Real DICOM files, named the TCIA way."""
    import shutil

    spec, tmp = case
    raw = tmp / "raw" / spec.case_id
    dce = dicom.select_dce(dicom.find_series(raw), "dyn|vibrant")
    study = dce[0].path.parent
    # the pre-contrast series again, numbered between pre and post1
    again = study / f"{dce[0].number + 0.5:.6f}-{dce[0].description}-99999"
    shutil.copytree(dce[0].path, again)
    with pytest.raises(InputError, match=rf"case {spec.case_id}: .*{re.escape(again.name)}: post1 has exactly the pixel "
                       rf"data of pre \({re.escape(dce[0].path.name)}\): a repeated series"):  # fmt: skip
        ingest_dicom_case(spec.case_id, raw, outputs(tmp), include="dyn|vibrant")
    shutil.rmtree(again)
    same = study / f"{dce[1].number:.6f}-{dce[1].description}-88888"
    dce[2].path.rename(same)  # post2 now carries post1's series number
    with pytest.raises(InputError, match=rf"the DCE series {re.escape(dce[1].path.name)} and {re.escape(same.name)} "
                       rf"share the series number {dce[1].number:g}, so their phase order is unknown"):  # fmt: skip
        ingest_dicom_case(spec.case_id, raw, outputs(tmp), include="dyn|vibrant")


def test_phases_acquired_out_of_their_series_order_are_refused(case):
    """Where the series carry acquisition times that differ, the phases ordered by series number must
    have been acquired in that order; the message names the series, never the times. Equal times (an
    export that sets one for all, as the phantom's) say nothing and pass."""
    spec, tmp = case
    raw = tmp / "raw" / spec.case_id
    dce = dicom.select_dce(dicom.find_series(raw), "dyn|vibrant")

    def stamp(series, tm):
        for f in series.path.iterdir():
            ds = pydicom.dcmread(f)
            ds.AcquisitionTime = tm
            ds.save_as(f)

    for series, tm in zip(dce, ["120000", "115930.5", "121500"]):
        stamp(series, tm)
    with pytest.raises(InputError, match=rf"post1 \({re.escape(dce[1].path.name)}\) was acquired before pre "
                       rf"\({re.escape(dce[0].path.name)}\), though its series number comes after") as e:  # fmt: skip
        ingest_dicom_case(spec.case_id, raw, outputs(tmp), include="dyn|vibrant")
    assert "1159" not in str(e.value) and "1200" not in str(e.value)
    stamp(dce[1], "120700")
    assert list(ingest_dicom_case(spec.case_id, raw, outputs(tmp), include="dyn|vibrant")) == ["pre", "post1", "post2"]


def test_a_nifti_phase_that_copies_another_is_refused(tmp_path):
    rng = np.random.default_rng(2)
    pre = nifti(tmp_path / "pre.nii.gz", rng.random((6, 10, 12)).astype(np.float32))
    copy = Path(tmp_path / "post1.NII.GZ")
    copy.write_bytes(Path(pre).read_bytes())
    with pytest.raises(InputError, match=r"post1.NII.GZ: post1 has exactly the pixel data of pre \(pre.nii.gz\)"):
        ingest_nifti_case("N1", {"pre": pre, "post1": str(copy)}, outputs(tmp_path, ("pre", "post1")))


def test_one_patient_under_two_case_ids_is_refused_naming_both(tmp_path):
    """A pre-contrast volume exported again (another file, format and header; the same voxels) under a
    second case id is refused naming both cases. A re-ingest of the same case passes; a claim whose
    case no longer holds those pixels (re-ingested from other data) is stale and refuses nothing."""
    rng = np.random.default_rng(3)
    voxels = (rng.random((6, 10, 12)) * 1000).astype(np.int16)
    again = sitk.GetImageFromArray(voxels)
    again.SetSpacing((0.7, 0.7, 2.0))
    again.SetOrigin((-12.0, 30.0, 5.0))
    sitk.WriteImage(again, str(tmp_path / "b_pre.nii"))  # re-exported: uncompressed, other geometry
    (tmp_path / "b_pre.nii").rename(tmp_path / "B_PRE.NII")  # (ITK writes no upper-case name)
    pre = {"A": nifti(tmp_path / "a_pre.nii.gz", voxels), "B": str(tmp_path / "B_PRE.NII"),
           "C": nifti(tmp_path / "c_pre.nii.gz", voxels + 1), "A2": nifti(tmp_path / "a2_pre.nii.gz", voxels + 2)}
    post = nifti(tmp_path / "post1.nii.gz", voxels * 2)
    post_b = sitk.GetImageFromArray(voxels * 2)
    post_b.CopyInformation(again)
    sitk.WriteImage(post_b, str(tmp_path / "b_post1.nii.gz"))

    def ingest(case, source=None):
        out = {s: str(tmp_path / "nifti" / case / f"{s}.nii.gz") for s in ("pre", "post1")}
        source = source or case
        ingest_nifti_case(case, {"pre": pre[source], "post1": str(tmp_path / "b_post1.nii.gz") if source == "B" else post}, out)

    ingest("A")
    ingest("A")  # its own claim
    ingest("C")  # other pixels
    with pytest.raises(InputError, match=r"case B: .*B_PRE.NII: its pre-contrast pixel data are exactly those of "
                       r"case A \(.*nifti/A/pre.nii.gz\).*Keep one of A and B in the cohort"):
        ingest("B")
    ingest("A", source="A2")  # A corrected: it no longer holds B's pixels
    ingest("B")
    with pytest.raises(InputError, match=r"case D: .*a_pre.nii.gz: .* exactly those of case B .*if B has left it, "
                       r"delete .*nifti/B"):
        ingest("D", source="A")
    # B's volume deleted (its case left the cohort): its mark is stale
    (tmp_path / "nifti" / "B" / "pre.nii.gz").unlink()
    ingest("D", source="A")
    # two ingests at once: G has written its volume and marked it but not yet looked; D, ingesting
    # again, sees G (and G would see D): both are refused
    marks = next((tmp_path / "nifti" / ".pre_pixel_data").glob("*/D")).parent
    (tmp_path / "nifti" / "G").mkdir()
    (tmp_path / "nifti" / "G" / "pre.nii.gz").write_bytes((tmp_path / "nifti" / "D" / "pre.nii.gz").read_bytes())
    (marks / "G").touch()
    with pytest.raises(InputError, match=r"case D: .* exactly those of case G "):
        ingest("D", source="A")
    assert sorted(p.name for p in marks.iterdir()) == ["G"]  # D's own mark went with its refusal


def test_missing_case_folder(tmp_path):
    with pytest.raises(InputError, match="case X1: .*X1: case folder does not exist"):
        ingest_dicom_case("X1", tmp_path / "X1", outputs(tmp_path), include="dyn")


def test_post_geometry_mismatch_errors_or_resamples(case):
    spec, tmp = case
    dce = dicom.select_dce(dicom.find_series(tmp / "raw" / spec.case_id), "dyn|vibrant")
    for f in dce[1].path.iterdir():  # shift the phase-1 series by 7 mm
        ds = pydicom.dcmread(f)
        ds.ImagePositionPatient = [float(ds.ImagePositionPatient[0]) + 7.0, *ds.ImagePositionPatient[1:]]
        ds.save_as(f)
    with pytest.raises(InputError, match=rf"case {spec.case_id}: .*{dce[1].path.name}: post1 geometry does not match"):
        ingest_dicom_case(spec.case_id, tmp / "raw" / spec.case_id, outputs(tmp), include="dyn|vibrant")
    out = outputs(tmp)
    ingest_dicom_case(spec.case_id, tmp / "raw" / spec.case_id, out, include="dyn|vibrant", resample_mismatched=True)
    pre, post = sitk.ReadImage(out["pre"]), sitk.ReadImage(out["post1"])
    assert post.GetOrigin() == pre.GetOrigin() and post.GetSize() == pre.GetSize()


def nifti(path, arr, spacing=(1.0, 1.0, 2.0)):
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    sitk.WriteImage(img, str(path))
    return str(path)


def test_nifti_source_checks_values(tmp_path):
    rng = np.random.default_rng(0)
    good = rng.random((6, 10, 12)).astype(np.float32)
    nan = good.copy()
    nan[2, 3, 4] = np.nan
    inputs = {"pre": nifti(tmp_path / "pre.nii.gz", good), "post1": nifti(tmp_path / "post1.nii.gz", nan)}
    with pytest.raises(InputError, match="case N1: .*post1.nii.gz: volume contains 1 NaN or Inf"):
        ingest_nifti_case("N1", inputs, outputs(tmp_path, ("pre", "post1")))
    inputs["post1"] = nifti(tmp_path / "zero.nii.gz", np.zeros_like(good))
    with pytest.raises(InputError, match="zero.nii.gz: volume is constant"):
        ingest_nifti_case("N1", inputs, outputs(tmp_path, ("pre", "post1")))
    inputs["post1"] = nifti(tmp_path / "post1b.nii.gz", good * 2)
    out = outputs(tmp_path, ("pre", "post1"))
    ingest_nifti_case("N1", inputs, out)
    np.testing.assert_allclose(sitk.GetArrayFromImage(sitk.ReadImage(out["post1"])), good * 2)


@pytest.mark.parametrize("name", ["post1.nii.gz", "post1.NII.GZ", "post1.Nii.Gz", "post1.nii", "post1.NII"])
def test_every_nifti_file_is_checked_whatever_the_case_of_its_extension(tmp_path, name):
    """A truncated file (cut as a failed copy leaves it) and NaN voxels are refused in one line naming
    the file, whatever the case of .nii/.nii.gz (ITK alone reads a truncated gzip as zeros and NaN as 0,
    and decides the format by the extension's case); the files are real, written by SimpleITK."""
    rng = np.random.default_rng(1)
    good = rng.random((6, 10, 12)).astype(np.float32)
    pre = nifti(tmp_path / "pre.nii.gz", good)
    # ITK writes by the lower-case name; the file is then renamed as a site would have it
    whole = Path(nifti(tmp_path / ("whole" + name.lower()[5:]), good * 2)).rename(tmp_path / name)
    cut = tmp_path / ("cut_" + name)
    cut.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) * 2 // 3])
    why = "EOFError: Compressed file ended" if name.lower().endswith(".gz") else "OSError: Expected"  # gzip's, nibabel's
    with pytest.raises(InputError, match=rf"case N1: .*cut_{re.escape(name)}: truncated or corrupt NIfTI file \({why}") as e:
        ingest_nifti_case("N1", {"pre": pre, "post1": str(cut)}, outputs(tmp_path, ("pre", "post1")))
    assert "\n" not in str(e.value)
    nan = good.copy()
    nan[1, 2, 3] = np.nan
    with_nan = Path(nifti(tmp_path / ("nan" + name.lower()[5:]), nan)).rename(tmp_path / ("nan_" + name))
    with pytest.raises(InputError, match=rf"nan_{re.escape(name)}: volume contains 1 NaN or Inf voxels"):
        ingest_nifti_case("N1", {"pre": pre, "post1": str(with_nan)}, outputs(tmp_path, ("pre", "post1")))
    out = outputs(tmp_path, ("pre", "post1"))
    ingest_nifti_case("N1", {"pre": pre, "post1": str(whole)}, out)  # the whole file ingests
    np.testing.assert_allclose(sitk.GetArrayFromImage(sitk.ReadImage(out["post1"])), good * 2)


def test_masks_that_are_not_3d_or_are_cut_are_refused_naming_the_file(tmp_path):
    ref = nifti(tmp_path / "pre.nii.gz", np.ones((6, 10, 12), np.float32))
    flat = nifti(tmp_path / "flat.nii.gz", np.ones((10, 12), np.uint8), spacing=(1.0, 1.0))
    with pytest.raises(InputError, match="flat.nii.gz: expected a single-channel 3D mask, got a 2D image"):
        ingest_mask("M1", flat, ref, tmp_path / "m.nii.gz")
    four = sitk.JoinSeries([sitk.GetImageFromArray(np.ones((6, 10, 12), np.uint8))] * 2)
    sitk.WriteImage(four, str(tmp_path / "four.nii.gz"))
    with pytest.raises(InputError, match="four.nii.gz: expected a single-channel 3D mask, got a 4D image"):
        ingest_mask("M1", str(tmp_path / "four.nii.gz"), ref, tmp_path / "m.nii.gz")
    mha = nifti(tmp_path / "mask.mha", np.ones((6, 10, 12), np.uint8))
    cut = tmp_path / "cut.mha"
    cut.write_bytes(Path(mha).read_bytes()[:200])
    with pytest.raises(InputError, match="cut.mha: unreadable mask file"):
        ingest_mask("M1", str(cut), ref, tmp_path / "m.nii.gz")
    assert not (tmp_path / "m.nii.gz").exists()


def test_mask_checks(tmp_path):
    ref = nifti(tmp_path / "pre.nii.gz", np.ones((6, 10, 12), np.float32))
    empty = nifti(tmp_path / "empty.nii.gz", np.zeros((6, 10, 12), np.uint8))
    with pytest.raises(InputError, match="case M1: .*empty.nii.gz: mask is empty"):
        ingest_mask("M1", empty, ref, tmp_path / "m.nii.gz")
    other = nifti(tmp_path / "other.nii.gz", np.ones((6, 10, 12), np.uint8), spacing=(1.0, 1.0, 3.0))
    with pytest.raises(InputError, match="other.nii.gz: mask geometry does not match its image: spacing"):
        ingest_mask("M1", other, ref, tmp_path / "m.nii.gz")
    assert not (tmp_path / "m.nii.gz").exists()


def test_mask_values_0_255_multi_label_and_mask_label(tmp_path):
    ref = nifti(tmp_path / "pre.nii.gz", np.ones((6, 10, 12), np.float32))
    arr = np.zeros((6, 10, 12), np.uint8)
    arr[2:4, 3:6, 4:8] = 255
    out = tmp_path / "m.nii.gz"
    assert ingest_mask("M1", nifti(tmp_path / "m255.nii.gz", arr), ref, out) == 24
    assert set(np.unique(sitk.GetArrayFromImage(sitk.ReadImage(str(out))))) == {0, 1}
    arr[3, 3:6, 4:8] = 2  # a second label: which one is the tumour?
    labels = nifti(tmp_path / "labels.nii.gz", arr)
    with pytest.raises(InputError, match=r"case M1: .*labels.nii.gz: mask has 3 distinct values \(0, 2, 255\), "
                                         r"not a binary tumour mask\. Set 'data.mask_label'"):  # fmt: skip
        ingest_mask("M1", labels, ref, out)
    assert ingest_mask("M1", labels, ref, out, label=2) == 12
    no_background = nifti(tmp_path / "nobg.nii.gz", np.where(arr > 0, 2, 1).astype(np.uint8))
    with pytest.raises(InputError, match=r"mask has the values 1 and 2 but no 0 \(background\)"):
        ingest_mask("M1", no_background, ref, out)
    with pytest.raises(InputError, match=r"mask has no voxel of label 3 \(data.mask_label\); its values: 0, 2, 255"):
        ingest_mask("M1", labels, ref, out, label=3)
