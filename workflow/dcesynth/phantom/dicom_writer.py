"""A phantom case written as a TCIA-like DICOM tree (DCE series, a localizer and a T2), with its
tumour mask as NIfTI on the DCE grid."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..dicom_export import set_grey_pixels
from ..io import atomic_path, write_image
from .anatomy import draw_case
from .identifiers import plant_identifiers, planted_identifiers
from .spec import ORDINALS, CaseSpec



def _series_plan(spec: CaseSpec, rng: np.random.Generator) -> list[tuple[int, str, str]]:
    """(series number, description, content) in acquisition order, Duke style.

    Series numbers are sometimes contiguous (3, 4, 5) and sometimes GE-style steps of 100
    (600, 700, ...), with localizer and T2 series before them that are not DCE.
    """
    step = int(rng.choice([1, 100]))
    start = 3 if step == 1 else 600
    plan = [(1, "3 Plane Loc", "localizer"), (2, "ax t2 frFSE", "t2")]
    if spec.naming == "vibrant":
        descs = ["Ax Vibrant MultiPhase"] * (spec.post_phases + 1)
    else:
        descs = ["ax dyn pre"] + [f"ax dyn {ORDINALS[k]} pass" for k in range(1, spec.post_phases + 1)]
    for k, d in enumerate(descs):
        plan.append((start + k * step, d, "pre" if k == 0 else f"post{k}"))
    return plan


def _uid(spec: CaseSpec, *parts: Any) -> str:
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[str(spec.seed), spec.case_id, *map(str, parts)])


class _SeriesEncoder:
    """Encodes the files of one series whose headers differ only in ``per_slice`` elements.

    A phantom header holds ~660 planted identifiers; encoding them again for every slice was
    most of make_phantom's time. Every other element is encoded once (pydicom encodes an
    element the same way in every file); a file's bytes are those elements and its own
    per-slice ones in tag order, after the preamble and file meta, as pydicom's ``dcmwrite``
    writes the same dataset (tests/test_phantom.py rewrites files with pydicom and compares).
    """

    def __init__(self, per_slice: tuple[str, ...]) -> None:
        from pydicom.datadict import tag_for_keyword

        self.per_slice = {tag_for_keyword(k) for k in per_slice}
        self.shared: list[tuple[int, bytes | None]] | None = None
        self.encoding: Any = None

    def _element(self, elem: Any) -> bytes:
        from pydicom.filebase import DicomBytesIO
        from pydicom.filewriter import write_data_element

        fp = DicomBytesIO()
        fp.is_implicit_VR, fp.is_little_endian = False, True
        write_data_element(fp, elem, self.encoding)
        return fp.getvalue()

    def file_bytes(self, ds: Any, meta: Any) -> bytes:
        from pydicom.charset import default_encoding
        from pydicom.filebase import DicomBytesIO
        from pydicom.filewriter import correct_ambiguous_vr, write_file_meta_info

        if self.shared is None:
            correct_ambiguous_vr(ds, True)  # as write_dataset does (PixelData: OW)
            self.encoding = ds.get("SpecificCharacterSet", default_encoding)
            tags = [t for t in sorted(ds.keys()) if not (t.element == 0 and t.group > 6)]
            self.shared = [(t, None if t in self.per_slice else self._element(ds[t])) for t in tags]
        elif len(ds) != len(self.shared):
            raise RuntimeError("a phantom series' slices must carry the same elements")
        fp = DicomBytesIO()
        fp.is_implicit_VR, fp.is_little_endian = False, True
        fp.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(fp, meta, enforce_standard=True)
        fp.write(b"".join(self._element(ds[t]) if chunk is None else chunk for t, chunk in self.shared))
        return fp.getvalue()


# The elements that differ between the slices of a phantom series.
_PER_SLICE = ("SOPInstanceUID", "InstanceNumber", "ImagePositionPatient", "SliceLocation", "PixelData")


def _write_series(
    folder: Path,
    spec: CaseSpec,
    volume: np.ndarray,
    number: int,
    description: str,
    study_uid: str,
    frame_uid: str,
    origin: np.ndarray,
    spacing: tuple[float, float, float],
    idents: dict[str, str],
) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, PYDICOM_IMPLEMENTATION_UID

    folder.mkdir(parents=True)
    series_uid = _uid(spec, "series", number)
    nz = volume.shape[0]
    sz, sy, sx = spacing
    ds = Dataset()
    ds.SOPClassUID = MRImageStorage
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.Modality = "MR"
    ds.Manufacturer = "dcesynth phantom"
    plant_identifiers(ds, idents)
    ds.SeriesDescription = description
    ds.SeriesNumber = number
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    ds.ScanningSequence = "GR"
    ds.SequenceVariant = "SS\\SP"
    ds.MRAcquisitionType = "3D"
    ds.RepetitionTime = 5.2
    ds.EchoTime = 2.4
    ds.FlipAngle = 10
    ds.MagneticFieldStrength = 1.5
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [sy, sx]
    ds.SliceThickness = sz
    ds.SpacingBetweenSlices = sz
    encoder = _SeriesEncoder(_PER_SLICE)
    # Files are numbered from the most superior slice down, as scanners often do; readers
    # must sort by position, not by file name.
    for i in range(nz):
        k = nz - 1 - i
        sop_uid = _uid(spec, "instance", number, k)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds.SOPInstanceUID = sop_uid
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [float(origin[0]), float(origin[1]), float(origin[2] + k * sz)]
        ds.SliceLocation = float(origin[2] + k * sz)
        set_grey_pixels(ds, volume[k])
        (folder / f"1-{i + 1:03d}.dcm").write_bytes(encoder.file_bytes(ds, meta))


def write_case(spec: CaseSpec, case_dir: str | Path, mask_path: str | Path) -> dict[str, Any]:
    """Generate ``spec`` and write its DICOM tree to ``case_dir`` and its mask to ``mask_path``.

    Both are written atomically. Returns a summary (no identifiers) for logging.
    """
    rng = np.random.default_rng([spec.seed, spec.index, 2])
    volumes = draw_case(spec)
    idents = planted_identifiers(spec)
    spacing = (spec.slice_thickness, spec.pixel_spacing, spec.pixel_spacing)
    origin = np.array(
        [
            -spec.cols * spec.pixel_spacing / 2 + rng.uniform(-5, 5),
            -spec.rows * spec.pixel_spacing / 2 + rng.uniform(-5, 5),
            rng.uniform(-80, -40),
        ]
    ).round(3)
    study_uid = _uid(spec, "study")
    frame_uid = _uid(spec, "frame")
    date = _dt.date(1990, 1, 1) + _dt.timedelta(days=int(rng.integers(0, 3650)))
    study = f"{date:%m-%d-%Y}-NA-MRI BREAST BILATERAL W  WO-{rng.integers(10000, 99999)}"

    with atomic_path(case_dir) as tmp:
        for number, description, content in _series_plan(spec, rng):
            folder = tmp / study / f"{number}.000000-{description}-{rng.integers(10000, 99999)}"
            if content == "localizer":
                vol = volumes["pre"][:: max(1, spec.slices // 3)][:3]
            elif content == "t2":
                vol = (volumes["pre"].astype(float) * 0.6 + 300.0 * volumes["mask"]).astype(np.uint16)[::2]
            else:
                vol = volumes[content]
            sp = spacing if content not in ("localizer", "t2") else (spacing[0] * 2, *spacing[1:])
            _write_series(folder, spec, vol, number, description, study_uid, frame_uid, origin, sp, idents)

    mask = sitk.GetImageFromArray(volumes["mask"])
    mask.SetSpacing((spec.pixel_spacing, spec.pixel_spacing, spec.slice_thickness))
    mask.SetOrigin(tuple(float(v) for v in origin))
    write_image(mask, mask_path)
    return {
        "case": spec.case_id,
        "shape_zyx": list(volumes["pre"].shape),
        "tumour_voxels": int(volumes["mask"].sum()),
        "satellite_voxels": int(volumes["satellites"].sum()),
        "enhancement": spec.enhancement,
        "kinetics": spec.kinetics,
    }
