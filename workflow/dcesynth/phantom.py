"""A deterministic phantom DCE-MRI breast cohort written as real DICOM series.

The real cohort (Duke-Breast-Cancer-MRI) cannot be downloaded here, so the default config
generates cases with the same shape of problem: bilateral breasts over a chest wall, dark
(fat-saturated) fat, textured fibroglandular tissue (FGT), vessels, one primary tumour (sometimes
satellites: multifocal) that is faintly visible before contrast and enhances after it (whole or
rim, with washout, plateau or persistent kinetics), mild parenchymal enhancement, a smooth
multiplicative bias field and Rician noise. Sizes vary per case.

Each case is written in a TCIA-like tree
``<root>/<case>/<study>/<N.000000-description-NNNNN>/1-NNN.dcm`` with Duke-style series
descriptions, plus non-DCE series (a localizer and a T2) that series identification must skip,
and planted fake patient identifiers so privacy can be tested. The primary tumour mask is
written as NIfTI on the grid of the DCE series.

Every case draws from its own seeded generator (``seed``, case index), so adding cases never
changes existing ones.
"""

from __future__ import annotations

import datetime as _dt
import functools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

# scipy.ndimage (0.2 s to import) is imported inside the functions that use it: the Snakefile
# imports this module at every parse.

from .io import atomic_path, write_image

# Bumped whenever the generated images change, so that make_phantom reruns (it is a param).
VERSION = 8

ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th"}

# Enhancement of the tumour relative to its peak, per post-contrast phase (phases 1..4).
KINETICS = {
    "washout": (1.0, 0.82, 0.70, 0.62),
    "plateau": (0.92, 1.0, 1.0, 0.98),
    "persistent": (0.65, 0.82, 0.94, 1.0),
}


@dataclass(frozen=True)
class CaseSpec:
    """Everything that shapes one phantom case; derived only from the config and the index."""

    case_id: str
    index: int
    rows: int
    cols: int
    slices: int
    pixel_spacing: float
    slice_thickness: float
    post_phases: int
    has_mask: bool
    multifocal: bool
    enhancement: str  # "whole" | "rim"
    kinetics: str  # key of KINETICS
    naming: str  # "dyn" | "vibrant": Duke-style series descriptions
    seed: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _every(index: int, fraction: float, offset: float = 0.0) -> bool:
    """Deterministic 'fraction of cases' that is stable when cases are appended."""
    return np.floor((index + 1) * fraction + offset) > np.floor(index * fraction + offset)


def plan_cohort(cfg: dict[str, Any]) -> list[CaseSpec]:
    """The cohort a phantom config describes, without generating any image."""
    n = int(cfg["n_cases"])
    seed = int(cfg["seed"])
    specs = []
    n_masked = 0
    for i in range(n):
        rng = np.random.default_rng([seed, i, 0])
        has_mask = bool(_every(i, cfg["mask_fraction"], 0.5))
        # Multifocal cases are drawn among the annotated ones (as in Duke, where 33 of the
        # 254 annotated cases are multifocal); the first annotated case is never multifocal.
        multifocal = bool(has_mask and n_masked > 0 and _every(n_masked, cfg["multifocal_fraction"]))
        n_masked += has_mask
        specs.append(
            CaseSpec(
                case_id=f"{cfg['case_prefix']}{i + 1:03d}",
                index=i,
                rows=int(rng.integers(cfg["rows"][0], cfg["rows"][1] + 1)),
                cols=int(rng.integers(cfg["cols"][0], cfg["cols"][1] + 1)),
                slices=int(rng.integers(cfg["slices"][0], cfg["slices"][1] + 1)),
                pixel_spacing=round(float(rng.uniform(*cfg["pixel_spacing_mm"])), 3),
                slice_thickness=round(float(rng.uniform(*cfg["slice_thickness_mm"])), 3),
                post_phases=int(cfg["post_phases"]),
                has_mask=has_mask,
                multifocal=multifocal,
                enhancement=str(rng.choice(["whole", "rim"], p=[0.6, 0.4])),
                kinetics=str(rng.choice(list(KINETICS), p=[0.5, 0.3, 0.2])),
                naming="vibrant" if rng.random() < 0.25 else "dyn",
                seed=seed,
            )
        )
    return specs


# --------------------------------------------------------------------------------------------
# Image synthesis
# --------------------------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: tuple[float, ...]) -> np.ndarray:
    from scipy import ndimage

    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=sigma, mode="reflect")
    return (field - field.mean()) / (field.std() + 1e-8)


def _tube(grid: tuple[np.ndarray, ...], points: np.ndarray, radius: float) -> np.ndarray:
    """Voxels within ``radius`` (normalised units) of the polyline through ``points`` (k, 3)."""
    z, y, x = grid
    inside = np.zeros(z.shape, dtype=bool)
    for a, b in zip(points[:-1], points[1:]):
        ab = b - a
        t = ((z - a[0]) * ab[0] + (y - a[1]) * ab[1] + (x - a[2]) * ab[2]) / float(ab @ ab)
        t = np.clip(t, 0, 1)
        d2 = (z - a[0] - t * ab[0]) ** 2 + (y - a[1] - t * ab[1]) ** 2 + (x - a[2] - t * ab[2]) ** 2
        inside |= d2 < radius**2
    return inside


def synthesize_case(spec: CaseSpec) -> dict[str, np.ndarray]:
    """Generate one case: ``pre``, ``post1``..``postK`` (uint16, z-y-x) and ``mask`` (uint8).

    Arrays are indexed (slice, row, column) in LPS: columns run to the patient's left, rows to
    posterior, slices to superior. Intensities are scanner-like integers.
    """
    from scipy import ndimage

    rng = np.random.default_rng([spec.seed, spec.index, 1])
    nz, ny, nx = spec.slices, spec.rows, spec.cols
    # Normalised coordinates in [-1, 1]; anatomy is defined relative to the field of view.
    z, y, x = np.meshgrid(
        np.linspace(-1, 1, nz), np.linspace(-1, 1, ny), np.linspace(-1, 1, nx), indexing="ij"
    )
    # Physical scale of one normalised unit (mm), per axis, for isotropic blurring and sizes.
    half_mm = np.array([nz * spec.slice_thickness, ny * spec.pixel_spacing, nx * spec.pixel_spacing]) / 2

    # Chest wall: a curve across the image; breasts lie anterior (smaller y), thorax posterior.
    wall = 0.05 + rng.uniform(-0.05, 0.05) + 0.18 * x**2
    thorax = (y > wall) & ((x / 0.98) ** 2 + ((y - wall - 0.05) / 0.95) ** 2 < 1.0)
    muscle = thorax & (y < wall + 0.13)
    heart = thorax & ~muscle & ((x + 0.05) ** 2 / 0.06 + (y - wall - 0.42) ** 2 / 0.07 + z**2 / 1.2 < 1)
    lung = thorax & ~muscle & ~heart & (np.abs(x) > 0.15)

    breast = np.zeros(z.shape, dtype=bool)
    fgt_zone = np.zeros(z.shape, dtype=bool)
    centres = []
    for side in (-1, 1):
        cx = side * rng.uniform(0.42, 0.5)
        rx, ry, rz = rng.uniform(0.3, 0.38), rng.uniform(0.55, 0.75), rng.uniform(0.85, 1.05)
        cy = wall.mean()
        e = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + (z / rz) ** 2
        breast |= (e < 1) & (y <= wall + 0.02)
        fgt_zone |= (e < 0.55) & (y <= wall - 0.05)
        centres.append((cx, cy, rx, ry, rz))
    skin = breast & ~ndimage.binary_erosion(breast, iterations=1)

    # Textured fibroglandular tissue: thresholded smooth noise, denser near the chest wall.
    texture = _smooth_noise(rng, z.shape, sigma=(1.0, 1.5, 1.5))
    density = rng.uniform(-0.3, 0.5)
    fgt = fgt_zone & (texture + 0.8 * (y - wall + 0.3) > -density)

    # Vessels: a few tubes per breast running from the chest wall towards the nipple.
    vessels = np.zeros(z.shape, dtype=bool)
    for cx, cy, rx, ry, rz in centres:
        for _ in range(2):
            zz = rng.uniform(-0.6, 0.6)
            pts = np.array(
                [
                    [zz, cy, cx + rng.uniform(-0.15, 0.15)],
                    [zz + rng.uniform(-0.2, 0.2), cy - 0.35 * ry, cx + rng.uniform(-0.2, 0.2)],
                    [zz + rng.uniform(-0.3, 0.3), cy - 0.7 * ry, cx + rng.uniform(-0.15, 0.15)],
                ]
            )
            vessels |= _tube((z, y, x), pts, radius=1.1 * 2 / max(ny, nx) * 1.5)
    vessels &= breast

    # Tumours: a lobulated primary inside the FGT zone of one breast, satellites if multifocal.
    side = int(rng.integers(0, 2))
    cx, cy, rx, ry, rz = centres[side]
    lobulation = _smooth_noise(rng, z.shape, sigma=(1.5, 2.5, 2.5))

    def tumour(scale_mm: float) -> tuple[np.ndarray, np.ndarray]:
        c = np.array(
            [rng.uniform(-0.35, 0.35) * rz, cy - rng.uniform(0.2, 0.5) * ry, cx + rng.uniform(-0.35, 0.35) * rx]
        )
        r = scale_mm / half_mm  # radius per axis in normalised units
        r = np.maximum(r, np.array([1.2 / nz, 1.5 / ny, 1.5 / nx]) * 2)  # at least ~1.5 voxels
        d = np.sqrt(((z - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((x - c[2]) / r[2]) ** 2)
        d = d / (1 + 0.18 * lobulation)
        return d < 1, d

    primary, dist = tumour(rng.uniform(12, 20))
    satellites = np.zeros(z.shape, dtype=bool)
    if spec.multifocal:
        for _ in range(int(rng.integers(1, 3))):
            sat, _ = tumour(rng.uniform(4, 7))
            satellites |= sat & ~primary
    primary &= breast
    satellites &= breast
    rim = primary & (dist > 0.55)

    # Pre-contrast signal (fat-saturated T1): fat dark, FGT brighter, tumour faintly brighter.
    base = np.zeros(z.shape)
    base[thorax] = 0.08
    base[lung] = 0.03
    base[muscle] = 0.34
    base[heart] = 0.30
    base[breast] = 0.11
    base[fgt] = 0.40 + 0.05 * texture[fgt]
    base[skin] = 0.30
    base[vessels] = 0.26
    base[primary | satellites] = 0.56

    # Bias field (coil sensitivity): smooth, multiplicative, the same in every phase.
    coef = rng.uniform(-0.18, 0.18, size=4)
    log_bias = coef[0] * x + coef[1] * y + coef[2] * x * y + coef[3] * z + 0.12 * _smooth_noise(
        rng, z.shape, sigma=(nz / 3, ny / 3, nx / 3)
    )
    bias = np.exp(log_bias)

    gain = rng.uniform(700, 1100)
    sigma_noise = rng.uniform(0.012, 0.022)
    peak = rng.uniform(0.55, 0.8)
    amplitude = KINETICS[spec.kinetics]
    phases = {"pre": base}
    for k in range(1, spec.post_phases + 1):
        sig = base.copy()
        sig[fgt] += 0.04 + 0.03 * k  # mild, progressive background parenchymal enhancement
        vessel_amp = 0.75 * (1.0, 0.85, 0.75, 0.7)[k - 1]
        sig[vessels] += vessel_amp
        sig[heart] += vessel_amp * 0.5  # partly out of plane/FOV: the tumour stays the brightest
        sig[muscle] += 0.06
        tum_amp = peak * amplitude[k - 1]
        if spec.enhancement == "rim":
            sig[primary] += 0.35 * tum_amp
            sig[rim] += 0.65 * tum_amp
        else:
            sig[primary] += tum_amp * (0.9 + 0.1 * lobulation[primary])
        sig[satellites] += tum_amp
        phases[f"post{k}"] = sig

    out: dict[str, np.ndarray] = {}
    for name, sig in phases.items():
        s = sig * bias
        n1 = rng.normal(0, sigma_noise, s.shape)
        n2 = rng.normal(0, sigma_noise, s.shape)
        rician = np.sqrt((s + n1) ** 2 + n2**2)
        out[name] = np.clip(np.round(rician * gain), 0, 65535).astype(np.uint16)
    out["mask"] = primary.astype(np.uint8)
    out["satellites"] = satellites.astype(np.uint8)
    return out


# --------------------------------------------------------------------------------------------
# DICOM writing
# --------------------------------------------------------------------------------------------


# Attributes of the Basic Application Level Confidentiality Profile (DICOM PS3.15 Annex E,
# Table E.1-1) that hold names, ids, addresses, free text, dates or times, with their VR. The
# phantom plants a distinctive fake value in every one of them (UIDs are planted as real UIDs).
BASIC_PROFILE = {
    "PatientName": "PN", "PatientID": "LO", "PatientBirthDate": "DA", "PatientBirthTime": "TM",
    "OtherPatientIDs": "LO", "OtherPatientNames": "PN", "PatientBirthName": "PN", "PatientMotherBirthName": "PN",
    "PatientAddress": "LO", "PatientTelephoneNumbers": "SH", "MilitaryRank": "LO", "BranchOfService": "LO",
    "EthnicGroup": "SH", "Occupation": "SH", "AdditionalPatientHistory": "LT", "PatientComments": "LT",
    "MedicalRecordLocator": "LO", "IssuerOfPatientID": "LO", "CountryOfResidence": "LO", "RegionOfResidence": "LO",
    "PatientReligiousPreference": "LO", "LastMenstrualDate": "DA", "AdmittingDiagnosesDescription": "LO",
    "AdmissionID": "LO", "InstitutionName": "LO", "InstitutionAddress": "ST", "InstitutionalDepartmentName": "LO",
    "ReferringPhysicianName": "PN", "ReferringPhysicianAddress": "ST", "ReferringPhysicianTelephoneNumbers": "SH",
    "PerformingPhysicianName": "PN", "NameOfPhysiciansReadingStudy": "PN", "OperatorsName": "PN",
    "PhysiciansOfRecord": "PN", "RequestingPhysician": "PN", "ResponsiblePerson": "PN", "ResponsibleOrganization": "LO",
    "ContentCreatorName": "PN", "AccessionNumber": "SH", "StudyID": "SH", "RequestedProcedureID": "SH",
    "PerformedProcedureStepID": "SH", "RequestedProcedureDescription": "LO", "PerformedProcedureStepDescription": "LO",
    "StudyDescription": "LO", "ProtocolName": "LO", "DerivationDescription": "ST", "ImageComments": "LT",
    "StationName": "SH", "DeviceSerialNumber": "LO", "StudyDate": "DA", "SeriesDate": "DA", "AcquisitionDate": "DA",
    "ContentDate": "DA", "StudyTime": "TM", "SeriesTime": "TM", "AcquisitionTime": "TM", "ContentTime": "TM",
}  # fmt: skip


# Beyond the plain attributes: numbers and ages, identifiers inside sequences, and a private block.
# Each key names where the value sits: a keyword, "Sequence/Keyword" (first item) or "private/0xEE"
# (element EE of the private block PRIVATE_CREATOR in group 0x0011).
BASIC_PROFILE_MORE = {
    "PatientAge": "AS", "PatientSize": "DS", "PatientWeight": "DS",
    "OtherPatientIDsSequence/PatientID": "LO", "OtherPatientIDsSequence/IssuerOfPatientID": "LO",
    "RequestAttributesSequence/RequestedProcedureID": "SH",
    "RequestAttributesSequence/ScheduledProcedureStepID": "SH",
    "ReferringPhysicianIdentificationSequence/InstitutionName": "LO",
    "ReferringPhysicianIdentificationSequence/PersonTelephoneNumbers": "LO",
    "private/0x01": "LO", "private/0x02": "UT",
}  # fmt: skip
PRIVATE_CREATOR = "DCESYNTH PHANTOM"


# Attributes the writer sets itself (series selection, geometry, UIDs): not overwritten by plants.
_WRITER_KEYWORDS = {
    "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPClassUID",
    "SeriesDescription", "PatientSex",
}  # fmt: skip
# Value representations a searchable text value can be planted in.
_TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UR", "UT"}


@functools.cache
def profile_tags() -> tuple[int, ...]:
    """Every attribute of DICOM PS3.15 Table E.1-1 (the basic de-identification profile) whose value
    representation can hold a searchable value (text, numbers as text, dates, times) or is a
    sequence, as listed by the dicom-anonymizer package (2026c edition of the standard)."""
    from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
    from pydicom.datadict import dictionary_keyword, dictionary_VR

    named = {*BASIC_PROFILE, *(k.split("/")[0] for k in BASIC_PROFILE_MORE), *_WRITER_KEYWORDS}
    out = []
    for t in dicom_anonymization_database_selector("dicomfields_2026c")["ALL_TAGS"]:
        if not (isinstance(t, tuple) and len(t) == 2 and all(isinstance(v, int) for v in t)):
            continue  # repeating groups (50xx, 60xx) and masks
        tag = (t[0] << 16) | t[1]
        try:
            vr, keyword = dictionary_VR(tag), dictionary_keyword(tag)
        except KeyError:
            continue
        if keyword and keyword not in named and (vr in _TEXT_VRS or vr == "SQ"):
            out.append(tag)
    return tuple(sorted(set(out)))


def _value(vr: str, token: str, i: int, n: int, key: str) -> str:
    """A valid, distinctive value of a value representation."""
    if vr == "PN":
        return f"Phantomova^{token}^Jana"
    if vr == "DA":
        return f"19{10 + (7 * i + n) % 80:02d}{1 + i % 12:02d}{10 + (i + n) % 18:02d}"
    if vr == "TM":
        return f"{i % 24:02d}{(n + i) % 60:02d}{n % 60:02d}.{(700000 + 997 * i + n) % 1000000:06d}"
    if vr == "DT":
        return f"19{10 + (3 * i + n) % 80:02d}{1 + i % 12:02d}{10 + (i + n) % 18:02d}{i % 24:02d}{n % 60:02d}17.{(300000 + 991 * i + n) % 1000000:06d}"
    if vr == "AS":
        return f"{(17 * n) % 60 + 25:03d}Y"
    if vr == "DS":
        if key == "PatientSize":  # metres
            return f"1.{(7919 * n + 31 * i) % 90000 + 10000:05d}"
        if key == "PatientWeight":  # kilograms
            return f"{50 + (3 * n) % 40}.{(7919 * n + 31 * i) % 90000 + 10000:05d}"
        return f"7{i:03d}{n:03d}.{(7919 * n + 31 * i) % 9000 + 1000:04d}"
    if vr == "IS":
        return f"7{i:03d}{n:03d}{(31 * i + n) % 90 + 10:02d}"
    if vr in ("CS", "AE"):
        return token.upper()
    if vr == "UR":
        return f"https://zq.example/{token}"
    if vr == "SH":
        return token
    return f"{token} confidential {key.split('/')[-1]}"[:64]  # LO holds 64 characters


def planted_identifiers(spec: CaseSpec) -> dict[str, str]:
    """Fake identifiers written into every DICOM header of a case: one per attribute of the
    PS3.15 basic profile that can hold text (keyed by keyword, "Sequence/Keyword", "private/0xEE"
    or "tag/GGGGEEEE"; a sequence of the profile gets one item whose CodeMeaning is the value).

    Every value is distinctive enough to be searched for as bytes (ages like ``047Y``, numbers
    with many digits); none may reach any output, log or report — the privacy tests search for
    them. Coded attributes (PatientSex) are planted too but cannot be searched.
    """
    from pydicom.datadict import dictionary_keyword, dictionary_VR

    n = spec.index + 1
    fields = {**BASIC_PROFILE, **BASIC_PROFILE_MORE}
    fields |= {f"tag/{t:08X}": dictionary_VR(t) for t in profile_tags()}
    out = {}
    for i, (key, vr) in enumerate(fields.items()):
        token = f"Zq{i:03d}x{n:03d}"
        name = dictionary_keyword(int(key[4:], 16)) if key.startswith("tag/") else key
        out[key] = _value("LO" if vr == "SQ" else vr, token, i, n, name)
    return out


def plant_identifiers(ds: Any, idents: dict[str, str]) -> None:
    """Write the planted identifiers of :func:`planted_identifiers` into a pydicom dataset."""
    from pydicom.datadict import dictionary_VR
    from pydicom.dataset import Dataset

    ds.PatientSex = "F"
    block = ds.private_block(0x0011, PRIVATE_CREATOR, create=True)
    for key, value in idents.items():
        where, _, keyword = key.rpartition("/")
        if where == "private":
            block.add_new(int(keyword, 16), BASIC_PROFILE_MORE[key], value)
        elif where == "tag":
            tag = int(keyword, 16)
            if dictionary_VR(tag) == "SQ":
                item = Dataset()
                item.CodeMeaning = value
                ds.add_new(tag, "SQ", [item])
            else:
                ds.add_new(tag, dictionary_VR(tag), value)
        elif where:
            if where not in ds:
                setattr(ds, where, [Dataset()])
            setattr(getattr(ds, where)[0], keyword, value)
        else:
            setattr(ds, keyword, value)


def planted_value(ds: Any, key: str) -> str:
    """The value a dataset holds at a key of :func:`planted_identifiers` (for the tests)."""
    where, _, keyword = key.rpartition("/")
    if where == "private":
        return str(ds.private_block(0x0011, PRIVATE_CREATOR)[int(keyword, 16)].value)
    if where == "tag":
        element = ds[int(keyword, 16)]
        return str(element.value[0].CodeMeaning if element.VR == "SQ" else element.value)
    item = getattr(ds, where)[0] if where else ds
    return str(item.data_element(keyword).value)


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
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, PYDICOM_IMPLEMENTATION_UID

    folder.mkdir(parents=True)
    series_uid = _uid(spec, "series", number)
    nz = volume.shape[0]
    sz, sy, sx = spacing
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
        ds = FileDataset(str(folder / f"1-{i + 1:03d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality = "MR"
        ds.Manufacturer = "dcesynth phantom"
        plant_identifiers(ds, idents)
        ds.SeriesDescription = description
        ds.SeriesNumber = number
        ds.InstanceNumber = i + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
        ds.ScanningSequence = "GR"
        ds.SequenceVariant = "SS\\SP"
        ds.MRAcquisitionType = "3D"
        ds.RepetitionTime = 5.2
        ds.EchoTime = 2.4
        ds.FlipAngle = 10
        ds.MagneticFieldStrength = 1.5
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [float(origin[0]), float(origin[1]), float(origin[2] + k * sz)]
        ds.SliceLocation = float(origin[2] + k * sz)
        ds.PixelSpacing = [sy, sx]
        ds.SliceThickness = sz
        ds.SpacingBetweenSlices = sz
        ds.Rows, ds.Columns = int(volume.shape[1]), int(volume.shape[2])
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.PixelData = np.ascontiguousarray(volume[k], dtype="<u2").tobytes()
        ds.save_as(folder / f"1-{i + 1:03d}.dcm", enforce_file_format=True)


def write_case(spec: CaseSpec, case_dir: str | Path, mask_path: str | Path) -> dict[str, Any]:
    """Generate ``spec`` and write its DICOM tree to ``case_dir`` and its mask to ``mask_path``.

    Both are written atomically. Returns a summary (no identifiers) for logging.
    """
    rng = np.random.default_rng([spec.seed, spec.index, 2])
    volumes = synthesize_case(spec)
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
