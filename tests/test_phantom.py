"""The phantom generator writes real DICOM that pydicom and SimpleITK read with the intended geometry."""

from __future__ import annotations


import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scipy import ndimage

from dcesynth import dicom, phantom
from conftest import TINY, default_config, deep_update


@pytest.fixture(scope="module")
def cfg():
    return deep_update(default_config(), TINY)["phantom"]


@pytest.fixture(scope="module")
def written(tmp_path_factory, cfg):
    spec = phantom.plan_cohort(cfg)[0]
    root = tmp_path_factory.mktemp("phantom")
    phantom.write_case(spec, root / spec.case_id, root / "masks" / f"{spec.case_id}.nii.gz")
    return spec, root


def test_plan_is_deterministic_and_stable_when_cases_are_added(cfg):
    a = phantom.plan_cohort(cfg)
    b = phantom.plan_cohort({**cfg, "n_cases": cfg["n_cases"] + 5})
    assert a == phantom.plan_cohort(cfg)
    assert b[: len(a)] == a
    sizes = {(s.rows, s.cols, s.slices) for s in b}
    assert len(sizes) > 1, "cases must differ in size"
    assert 0 < sum(s.has_mask for s in b) < len(b)


def test_multifocal_only_among_annotated_cases():
    cfg = {**default_config()["phantom"], "n_cases": 40, "multifocal_fraction": 0.3}
    specs = phantom.plan_cohort(cfg)
    assert any(s.multifocal for s in specs)
    assert all(s.has_mask for s in specs if s.multifocal)


def test_dicom_headers_and_tree(written):
    spec, root = written
    series = dicom.find_series(root / spec.case_id)
    descriptions = [s.description for s in series]
    assert "3 Plane Loc" in descriptions and "ax t2 frFSE" in descriptions
    dce = dicom.select_dce(series, "dyn|vibrant")
    assert len(dce) == spec.post_phases + 1
    files = sorted(dce[0].path.glob("1-*.dcm"))
    assert len(files) == spec.slices
    ds = pydicom.dcmread(files[0])
    assert ds.Modality == "MR"
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert pydicom.uid.UID(ds.SOPInstanceUID).is_valid
    assert (ds.Rows, ds.Columns) == (spec.rows, spec.cols)
    assert [float(v) for v in ds.PixelSpacing] == pytest.approx([spec.pixel_spacing] * 2)
    assert float(ds.SliceThickness) == pytest.approx(spec.slice_thickness)
    assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    # the planted identifiers are really there, so the privacy tests can fail
    for key, value in phantom.planted_identifiers(spec).items():
        assert phantom.planted_value(ds, key) == value, key
    assert ds.PatientSex == "F"
    uids = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files}
    assert len(uids) == len(files)


def test_simpleitk_reads_the_intended_geometry_and_pixels(written):
    spec, root = written
    dce = dicom.select_dce(dicom.find_series(root / spec.case_id), "dyn|vibrant")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(dce[1].path)))
    image = reader.Execute()
    assert image.GetSize() == (spec.cols, spec.rows, spec.slices)
    assert image.GetSpacing() == pytest.approx((spec.pixel_spacing, spec.pixel_spacing, spec.slice_thickness))
    assert image.GetDirection() == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    positions = [pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient for f in dce[1].path.iterdir()]
    assert image.GetOrigin()[2] == pytest.approx(min(float(p[2]) for p in positions))
    expected = phantom.draw_case(spec)["post1"]
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), expected)
    mask = sitk.ReadImage(str(root / "masks" / f"{spec.case_id}.nii.gz"))
    assert mask.GetSize() == image.GetSize()
    assert mask.GetOrigin() == pytest.approx(image.GetOrigin(), abs=1e-3)


def test_phantom_anatomy_and_enhancement():
    cfg = {**default_config()["phantom"], "n_cases": 8}
    for spec in phantom.plan_cohort(cfg):
        v = phantom.draw_case(spec)
        tumour = v["mask"].astype(bool)
        assert tumour.sum() > 10
        pre, post1 = v["pre"].astype(float), v["post1"].astype(float)
        # faint before contrast (within 40 % of surroundings), strongly enhancing after
        assert post1[tumour].mean() > 1.6 * pre[tumour].mean()
        ring = ndimage.binary_dilation(tumour, iterations=2) & ~tumour
        pre_contrast = pre[tumour].mean() - pre[ring].mean()
        post_contrast = post1[tumour].mean() - post1[ring].mean()
        assert 0 < pre_contrast < 0.5 * post_contrast  # visible before contrast, but faintly
        if spec.kinetics == "washout":
            assert v["post3"][tumour].mean() < v["post1"][tumour].mean()
        if spec.kinetics == "persistent":
            assert v["post3"][tumour].mean() > v["post1"][tumour].mean()


def test_each_part_of_a_case_draws_from_its_own_stream(cfg):
    """Changing one part of a case changes only that part: a multifocal twin differs only in its
    satellites, in every phase; one more post-contrast phase leaves the earlier phases as they were;
    other rim/whole enhancement or kinetics leave the pre-contrast image bit for bit."""
    from dataclasses import replace

    spec = replace(phantom.plan_cohort(cfg)[0], multifocal=False, enhancement="whole", kinetics="washout")
    one = phantom.draw_case(spec)
    twin = phantom.draw_case(replace(spec, multifocal=True))
    satellites = twin["satellites"].astype(bool)
    assert satellites.any() and not one["satellites"].any()
    side = {name: np.sign(np.argwhere(twin[name])[:, 2].mean() - (spec.cols - 1) / 2) for name in ("mask", "satellites")}
    assert side["mask"] == side["satellites"]  # in the primary's breast
    np.testing.assert_array_equal(twin["mask"], one["mask"])
    for name in ("pre", "post1", "post2"):
        differs = twin[name] != one[name]
        assert differs.any() and not (differs & ~satellites).any(), name

    more = phantom.draw_case(replace(spec, post_phases=spec.post_phases + 1))
    for name in ("pre", *(f"post{k}" for k in range(1, spec.post_phases + 1))):
        np.testing.assert_array_equal(more[name], one[name])

    rim = phantom.draw_case(replace(spec, enhancement="rim", kinetics="persistent"))
    np.testing.assert_array_equal(rim["pre"], one["pre"])
    tumour = one["mask"].astype(bool)
    assert (rim["post1"] != one["post1"])[tumour].any() and not (rim["post1"] != one["post1"])[~tumour].any()


def test_the_parts_of_a_case_lie_where_anatomy_puts_them(cfg):
    from dcesynth.phantom import anatomy

    spec = phantom.plan_cohort(cfg)[0]
    g = anatomy.Grid.of(spec)
    t = anatomy.chest_wall(g, anatomy.stream(spec, "chest_wall"))
    shapes, found = anatomy.breasts(g, t["wall"], anatomy.stream(spec, "breasts"))
    assert [b.cx < 0 for b in shapes] == [True, False]  # one breast on each side
    assert found["breast"].any() and not (found["breast"] & t["lung"]).any()
    assert (found["skin"] <= found["breast"]).all()
    fgt, _ = anatomy.fibroglandular(g, found["fgt_zone"], t["wall"], anatomy.stream(spec, "fibroglandular"))
    assert fgt.any() and (fgt <= found["fgt_zone"]).all()
    v = anatomy.vessels(g, shapes, found["breast"], anatomy.stream(spec, "vessels"))
    assert v.any() and (v <= found["breast"]).all()
    b, lesion = anatomy.tumour(g, shapes, found["breast"], anatomy.stream(spec, "tumour"))
    assert lesion["primary"].any() and (lesion["rim"] <= lesion["primary"]).all()
    assert (lesion["primary"] <= (b.distance(g) < 1)).all()  # inside the breast it was drawn in
    other = next(o for o in shapes if o is not b)
    for k in range(5):  # satellites lie in the primary's breast, never in the other, never on the primary
        sat = anatomy.satellites(g, b, found | lesion, anatomy.stream(spec, "satellites", k))
        assert (sat <= (b.distance(g) < 1)).all() and not (sat & (other.distance(g) < 1)).any()
        assert not (sat & lesion["primary"]).any()
    # the fibroglandular signal follows its texture (noiseless pre-contrast signal)
    t = {**t, **found, **lesion, "fgt": fgt, "vessels": v, "satellites": np.zeros(g.shape, bool)}
    _, texture = anatomy.fibroglandular(g, found["fgt_zone"], t["wall"], anatomy.stream(spec, "fibroglandular"))
    pre = anatomy.phases(spec, t, texture, anatomy.stream(spec, "enhancement"))["pre"]
    plain = fgt & ~found["skin"] & ~v & ~lesion["primary"]
    assert np.corrcoef(pre[plain], texture[plain])[0, 1] > 0.99


def test_same_seed_same_bytes(tmp_path, cfg):
    spec = phantom.plan_cohort(cfg)[1]
    for d in ("a", "b"):
        phantom.write_case(spec, tmp_path / d / spec.case_id, tmp_path / d / "mask.nii.gz")
    fa = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.dcm"))
    fb = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.dcm"))
    assert fa == fb and fa
    for rel in fa[:: max(1, len(fa) // 10)]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_every_file_is_what_pydicom_writes_for_its_dataset(written):
    """make_phantom encodes a series' shared header once (dicom_writer._SeriesEncoder); each file must
    still be byte for byte what pydicom's own dcmwrite writes for the dataset it holds, and each
    slice must carry its own instance number, position, UID and pixels."""
    from io import BytesIO

    spec, root = written
    files = sorted((root / spec.case_id).rglob("*.dcm"))
    assert len(files) > spec.slices * (spec.post_phases + 1)
    by_series: dict[str, list] = {}
    for f in files:
        ds = pydicom.dcmread(f)
        again = BytesIO()
        ds.save_as(again, enforce_file_format=True)
        assert again.getvalue() == f.read_bytes(), f
        by_series.setdefault(ds.SeriesInstanceUID, []).append(ds)
    for slices in by_series.values():
        assert sorted(int(ds.InstanceNumber) for ds in slices) == list(range(1, len(slices) + 1))
        assert len({float(ds.ImagePositionPatient[2]) for ds in slices}) == len(slices)
        assert len({float(ds.SliceLocation) for ds in slices}) == len(slices)
        assert len({ds.SOPInstanceUID for ds in slices}) == len(slices)
        assert all(ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID for ds in slices)
        assert len({ds.PixelData for ds in slices}) == len(slices)
