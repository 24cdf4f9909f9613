"""Synthetic volumes as DICOM MR image series that a PACS viewer opens beside the real ones.

One file per axial slice, the geometry of the NIfTI volume (which is that of the source series):
ImagePositionPatient per slice, ImageOrientationPatient, PixelSpacing, SliceThickness and
SpacingBetweenSlices. ``ImageType`` is DERIVED\\SECONDARY, the series description says the images
are synthetic and from which model and epoch, and every UID is new.

Identity: by default pseudonymous. The patient name and ID are the case id, study and frame of
reference UIDs are derived from the case id (so every series exported for a case shares one study),
and nothing is copied from the source headers. ``link_to_source`` (DICOM input only) takes the
patient and study identity and the frame of reference from the source pre-contrast series
instead, so that the series lands in the patient's original study.

Voxel values: a volume of whole numbers within 0..65535 is stored as it is; anything else (the
synthetic volumes of both ``synthesis.intensity`` settings, which are resampled onto the source
grid) as 16-bit with RescaleSlope/Intercept, i.e. quantised in steps of (max - min) / 65535.

UIDs are derived, so an unchanged export gives the same files: the study and frame of reference
from the cohort name and case id, the series from those and the run, the sequence, the
generator's epoch and the intensity setting (another generator or setting gives a new series).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from .models import GAN_FAMILY
from . import __version__
from .io import atomic_path

log = logging.getLogger("dcesynth")

# Patient, study and frame-of-reference attributes a linked export copies from the source
LINKED_ATTRIBUTES = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                     "StudyTime", "AccessionNumber", "StudyID", "ReferringPhysicianName", "FrameOfReferenceUID")  # fmt: skip


def uid(*parts: Any) -> str:
    """A UID derived from ``parts`` (the same parts give the same UID: a rerun changes nothing)."""
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=["dcesynth", *map(str, parts)])


def pseudonymous_identity(case: str, cohort: str = "") -> dict[str, str]:
    """The identity of a pseudonymous export: the case id as patient (the ID, and the family name
    of the name); study and frame-of-reference UIDs derived from the cohort name and the case id
    (two cohorts' ``case_001`` differ)."""
    return {"PatientName": f"{case}^", "PatientID": case, "PatientBirthDate": "", "PatientSex": "",
            "StudyInstanceUID": uid(cohort, "|", case, "|study"), "StudyDate": "", "StudyTime": "",
            "AccessionNumber": "", "StudyID": "", "ReferringPhysicianName": "",
            "FrameOfReferenceUID": uid(cohort, "|", case, "|frame")}  # fmt: skip


def source_identity(header_file: str | Path) -> dict[str, str]:
    """The patient and study identity and the frame of reference of a source DICOM file."""
    import pydicom

    ds = pydicom.dcmread(header_file, stop_before_pixels=True)
    return {k: str(ds.get(k, "") or "") for k in LINKED_ATTRIBUTES}


def linked_source_header(case: str, case_dir: str | Path, include: str, exclude: str | None, seq: str) -> Path:
    """A file of the case's source series ``seq`` (found as ingest finds it), whose patient and
    study identity a linked export takes."""
    from . import dicom

    dce = dicom.select_dce(dicom.find_series(Path(case_dir)), include, exclude)
    seqs = ["pre", *(f"post{k}" for k in range(1, len(dce)))]
    series = dicom.assign_sequences(case, Path(case_dir), dce, seqs)[seq]
    log.warning("%s: linked to the study of the source series %s (the files identify the patient)", case, series.label)
    return first_dicom_file(series.path)


def first_dicom_file(folder: str | Path) -> Path:
    import pydicom

    for f in sorted(p for p in Path(folder).iterdir() if p.is_file()):
        try:
            pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
            return f
        except Exception:  # noqa: BLE001 - not DICOM: try the next file
            continue
    raise FileNotFoundError(f"no DICOM file in {folder}")


def _finite_range(arr: np.ndarray) -> tuple[float, float]:
    finite = arr[np.isfinite(arr)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def _stored_values(arr: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, float, float]:
    """uint16 pixel values with slope and intercept (value = stored x slope + intercept) of a
    volume whose finite values span ``lo``..``hi``."""
    if np.array_equal(arr, np.round(arr)) and lo >= 0 and hi <= 65535:
        return np.round(arr).astype(np.uint16), 1.0, 0.0
    slope = (hi - lo) / 65535 if hi > lo else 1.0
    return np.round((np.nan_to_num(arr, nan=lo) - lo) / slope).clip(0, 65535).astype(np.uint16), slope, lo


def set_grey_pixels(ds, plane: np.ndarray) -> None:
    """The Image Pixel module of one unsigned 16-bit grey plane (rows x columns)."""
    ds.Rows, ds.Columns = int(plane.shape[0]), int(plane.shape[1])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(plane, dtype="<u2").tobytes()


def _ds_text(value: float) -> str:
    """A DS value (at most 16 characters)."""
    text = f"{value:.10g}"
    return text if len(text) <= 16 else f"{value:.8e}"


def write_series(
    image: sitk.Image,
    folder: str | Path,
    identity: dict[str, str],
    series_uid: str,
    series_number: int,
    description: str,
    derivation: str,
) -> int:
    """Write ``image`` (3D, any orientation) as an MR image series of one file per slice into
    ``folder`` (atomically); returns the number of files."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, PYDICOM_IMPLEMENTATION_UID

    if image.GetDimension() != 3:
        raise ValueError(f"a DICOM series needs a 3D volume, not {image.GetDimension()}D")
    arr = sitk.GetArrayFromImage(image).astype(np.float64)  # (z, y, x)
    lo, hi = _finite_range(arr)
    stored, slope, intercept = _stored_values(arr, lo, hi)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    origin = np.array(image.GetOrigin())
    sx, sy, sz = image.GetSpacing()
    row_dir, col_dir, normal = direction[:, 0], direction[:, 1], direction[:, 2]
    # the slice normal DICOM readers sort by (row x column): SliceLocation is measured along it
    dicom_normal = np.cross(row_dir, col_dir)
    with atomic_path(folder) as tmp:
        tmp.mkdir(parents=True)
        for k in range(arr.shape[0]):
            position = origin + normal * sz * k
            sop_uid = uid(series_uid, "|", k)
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MRImageStorage
            meta.MediaStorageSOPInstanceUID = sop_uid
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
            name = tmp / f"{k + 1:04d}.dcm"
            ds = FileDataset(str(name), {}, file_meta=meta, preamble=b"\0" * 128)
            ds.SpecificCharacterSet = "ISO_IR 192"
            ds.SOPClassUID = MRImageStorage
            ds.SOPInstanceUID = sop_uid
            for key, value in identity.items():
                setattr(ds, key, value)
            ds.Modality = "MR"
            ds.SeriesInstanceUID = series_uid
            ds.SeriesNumber = series_number
            ds.SeriesDescription = description[:64]
            ds.PositionReferenceIndicator = ""
            ds.BodyPartExamined = "BREAST"
            ds.Laterality = ""  # both breasts
            ds.PatientPosition = ""
            ds.Manufacturer = "dcesynth"
            ds.ManufacturerModelName = "dcesynth synthetic contrast"
            ds.SoftwareVersions = __version__
            ds.InstanceNumber = k + 1
            ds.ImageType = ["DERIVED", "SECONDARY", "OTHER"]
            ds.DerivationDescription = derivation[:1024]
            ds.BurnedInAnnotation = "NO"
            ds.ScanningSequence = "RM"  # research mode: no acquisition made this image
            ds.SequenceVariant = "NONE"
            ds.ScanOptions = ""
            ds.MRAcquisitionType = "3D"
            ds.RepetitionTime = ""
            ds.EchoTime = ""
            ds.EchoTrainLength = ""
            ds.ImagedNucleus = "1H"
            ds.ImageOrientationPatient = [_ds_text(v) for v in (*row_dir, *col_dir)]
            ds.ImagePositionPatient = [_ds_text(v) for v in position]
            ds.SliceLocation = _ds_text(float(np.dot(position, dicom_normal)))
            ds.PixelSpacing = [_ds_text(sy), _ds_text(sx)]  # row spacing, column spacing
            ds.SliceThickness = _ds_text(sz)
            ds.SpacingBetweenSlices = _ds_text(sz)
            set_grey_pixels(ds, stored[k])
            ds.RescaleSlope = _ds_text(slope)
            ds.RescaleIntercept = _ds_text(intercept)
            ds.RescaleType = "US"
            ds.WindowCenter = _ds_text((lo + hi) / 2)
            ds.WindowWidth = _ds_text(max(hi - lo, 1.0))
            ds.save_as(name, enforce_file_format=True)
    return arr.shape[0]


def series_identity(case: str, cohort: str = "", source_header: str | Path | None = None) -> dict[str, str]:
    """The identity of an exported series: the source study's when linked, else pseudonymous."""
    return source_identity(source_header) if source_header else pseudonymous_identity(case, cohort)


def export_synthetic(
    volume: str | Path,
    folder: str | Path,
    case: str,
    run: str,
    seq: str,
    provenance: dict[str, Any],
    source_header: str | Path | None = None,
    cohort: str = "",
    source_seq: str = "pre",
) -> int:
    """Write one synthetic volume as a series; ``provenance``: the generator's (model, epoch,
    selection, intensity); ``source_header``: a file of the source series (``source_seq``) to link to."""
    image = sitk.ReadImage(str(volume))
    identity = series_identity(case, cohort, source_header)
    model = provenance.get("model", GAN_FAMILY)  # the family (a provenance of before it was recorded: the gan block's)
    epoch = provenance.get("generator_epoch", "?")
    first = str(epoch).split()[0]
    # a model trained elsewhere has no epoch here: its family says so (``external``)
    description = f"SYNTHETIC {seq} {model}" + (f" ep{first}" if first[:1].isdigit() else "")
    made = f"epoch {epoch}" if first[:1].isdigit() else f"volumes made elsewhere {str(epoch).removeprefix('external ')}"
    derivation = (f"Synthetic {seq} image computed by dcesynth {__version__} from the {source_seq} series with "
                  f"{model} (run {run}, {made}{', chosen by SAMe' if provenance.get('selected') else ''}). "
                  "Not acquired: no contrast agent was given for this image.")  # fmt: skip
    series_uid = uid(identity["StudyInstanceUID"], "|", run, "|", seq, "|", epoch, "|",
                     provenance.get("intensity", ""), "|synthetic")  # fmt: skip
    digits = "".join(ch for ch in seq if ch.isdigit())
    number = 9000 + 10 * int(digits or 0)  # post1 -> 9010: after the acquired series
    n = write_series(image, folder, identity, series_uid, number, description, derivation)
    log.info("%s: %d slices of synthetic %s as DICOM (%s identity) -> %s", case, n, seq,
             "the source study's" if source_header else "pseudonymous", folder)  # fmt: skip
    return n


# what each stage of the pipeline did to an acquired image before a model saw it
STAGE_DERIVATION = {"nifti": "ingested from the source (voxel values as stored there)",
                    "n4": "ingested from the source and N4 bias-field corrected"}  # fmt: skip


def export_reference(
    volume: str | Path,
    folder: str | Path,
    case: str,
    seq: str,
    stage: str,
    source_header: str | Path | None = None,
    cohort: str = "",
) -> int:
    """Write an acquired volume as the pipeline holds it (``stage``: ingested or N4-corrected) as a
    series: the images the segmentations were predicted on, which their SEG objects reference."""
    image = sitk.ReadImage(str(volume))
    identity = series_identity(case, cohort, source_header)
    description = f"dcesynth {seq} ({'N4' if stage == 'n4' else 'as ingested'})"
    derivation = (f"The acquired {seq} image {STAGE_DERIVATION[stage]} by dcesynth {__version__}: "
                  "the image the tumour segmentations were predicted on.")  # fmt: skip
    series_uid = uid(identity["StudyInstanceUID"], "|", seq, "|", stage, "|reference")
    digits = "".join(ch for ch in seq if ch.isdigit())
    number = 8000 + 10 * int(digits or 0)  # pre -> 8000, post1 -> 8010: before the synthetic series
    n = write_series(image, folder, identity, series_uid, number, description, derivation)
    log.info("%s: %d slices of %s (%s) as DICOM (%s identity) -> %s", case, n, seq, stage,
             "the source study's" if source_header else "pseudonymous", folder)  # fmt: skip
    return n
