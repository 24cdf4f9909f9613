"""Finding DCE series in a TCIA-style DICOM tree and reading them with validated geometry.

Series identification follows the authors' Duke rule by default: a series folder is DCE when its
description (from the TCIA folder name, or else from the SeriesDescription and SeriesNumber of its
DICOM headers) matches ``include`` (default ``dyn|vibrant``, case-insensitive) and not ``exclude``;
DCE folders are sorted by the numeric series prefix (``600.000000-ax dyn pre-12345`` → 600);
the first is pre-contrast, the next phase 1, and so on.

Nothing here logs or returns a DICOM header value that could identify a patient: case ids come
from folder names, and only geometry and pixel data leave this module.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError

log = logging.getLogger("dcesynth")

_FOLDER = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)-(?P<description>.*?)(?:-(?P<uid>\d+))?\s*$")


@dataclass(frozen=True)
class SeriesFolder:
    path: Path
    number: float
    description: str

    @property
    def label(self) -> str:
        """How logs and errors name the series: its folder name (no patient data in it)."""
        return self.path.name


def parse_series_folder(name: str) -> tuple[float, str] | None:
    """Split a TCIA series folder name into (series number, description); None if not one."""
    m = _FOLDER.match(name)
    if not m:
        return None
    return float(m.group("number")), m.group("description").strip()


def series_from_header(folder: Path) -> tuple[float, str] | None:
    """(SeriesNumber, SeriesDescription) from the first DICOM file of a folder; None if it has none.

    For trees not named the TCIA way (``MR_0003``, ``series1``, a PACS export's UIDs): the same
    two values TCIA puts into its folder names, read from the header instead."""
    import pydicom

    for f in sorted(f for f in folder.iterdir() if f.is_file()):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SeriesNumber", "SeriesDescription"])
        except Exception:  # noqa: BLE001 - not DICOM (a README, a thumbnail): try the next file
            continue
        if ds.get("SeriesNumber") in (None, ""):
            continue
        return float(ds.SeriesNumber), str(ds.get("SeriesDescription", "")).strip()
    return None


def find_series(case_dir: Path) -> list[SeriesFolder]:
    """Every folder under ``case_dir`` that directly holds files and is a series: named like a TCIA
    series folder (``600.000000-ax dyn pre-12345``), or holding DICOM files with a SeriesNumber.
    Folders that are neither are logged as skipped, with the reason."""
    found = []
    for folder in sorted(p for p in case_dir.rglob("*") if p.is_dir()):
        if not any(f.is_file() for f in folder.iterdir()):
            continue
        parsed = parse_series_folder(folder.name) or series_from_header(folder)
        if parsed is None:
            log.warning("folder %s: not named like a TCIA series folder and no DICOM file with a SeriesNumber: skipped",
                        folder.relative_to(case_dir))  # fmt: skip
            continue
        found.append(SeriesFolder(folder, *parsed))
    return found


def select_dce(series: list[SeriesFolder], include: str, exclude: str | None = None) -> list[SeriesFolder]:
    """The DCE series in acquisition order (sorted by series number)."""
    inc = re.compile(include, re.IGNORECASE)
    exc = re.compile(exclude, re.IGNORECASE) if exclude else None
    dce = [s for s in series if inc.search(s.description) and not (exc and exc.search(s.description))]
    return sorted(dce, key=lambda s: (s.number, s.path.name))


def assign_sequences(case: str, case_dir: Path, dce: list[SeriesFolder], seqs: list[str]) -> dict[str, SeriesFolder]:
    """Map ``pre``, ``post1``, ... to the DCE series in order; error when too few exist."""
    if len(dce) < len(seqs):
        found = ", ".join(s.label for s in dce) or "none"
        if len(dce) == 0:
            problem = "no DCE series found"
        elif len(dce) == 1:
            problem = f"only a pre-contrast DCE series found ({found}), no post-contrast series"
        else:
            problem = f"found {len(dce)} DCE series ({found}) but {len(seqs)} are needed ({', '.join(seqs)})"
        raise InputError(
            case,
            case_dir,
            problem,
            "Check the series folders, the 'series.include' pattern, or lower 'data.post_phases'",
        )
    chosen = dce[: len(seqs)]
    for s in chosen:
        twins = [t for t in dce if t is not s and t.number == s.number]
        if twins:  # their order, and so which phase each is, would rest on nothing but folder names
            raise InputError(case, case_dir, f"the DCE series {s.label} and {twins[0].label} share the series number "
                             f"{s.number:g}, so their phase order is unknown",
                             "Remove the duplicate series, or exclude one with 'series.exclude'")  # fmt: skip
    order = dict(zip(seqs, chosen))
    _check_acquisition_order(case, order)
    return order


def _acquired(series: SeriesFolder) -> float | None:
    """Seconds since midnight at which a series was acquired (AcquisitionTime, else ContentTime, of
    its first DICOM file), or None where neither is there. The time is compared, never written out."""
    import pydicom

    for f in sorted(f for f in series.path.iterdir() if f.is_file()):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["AcquisitionTime", "ContentTime"])
        except Exception:  # noqa: BLE001 - not DICOM: the next file (read_series names bad files)
            continue
        tm = str(ds.get("AcquisitionTime", "") or ds.get("ContentTime", "") or "").strip()
        m = re.match(r"^(\d{2})(\d{2})?(\d{2})?(\.\d+)?$", tm)
        if not m:
            return None
        return int(m[1]) * 3600 + int(m[2] or 0) * 60 + int(m[3] or 0) + float(m[4] or 0)
    return None


def _check_acquisition_order(case: str, order: dict[str, SeriesFolder]) -> None:
    """Where every phase's series has an acquisition time and they are not all equal (an anonymised
    export may set one time for all), the phases ordered by series number must be acquired in that
    order: a post-contrast series acquired before the pre-contrast one means the numbers do not give
    the phases. The message names the series, never the times (they can identify the examination)."""
    times = {seq: _acquired(s) for seq, s in order.items()}
    if None in times.values() or len(set(times.values())) == 1:
        return
    seqs = list(order)
    for earlier, later in zip(seqs, seqs[1:]):
        if times[later] < times[earlier]:
            raise InputError(case, order[later].path, f"{later} ({order[later].label}) was acquired before {earlier} "
                             f"({order[earlier].label}), though its series number comes after: the series numbers "
                             "do not give the phase order",
                             "Check the case's DCE series, or exclude the stray one with 'series.exclude'")  # fmt: skip


def _read_slice(case: str, path: Path):
    """Read one DICOM file fully and check that its pixel data is complete."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        raise InputError(case, path, "not a DICOM file", "Remove it from the series folder") from None
    except Exception as exc:  # truncated or corrupt files fail in many ways inside pydicom
        raise InputError(case, path, f"unreadable DICOM file ({type(exc).__name__})", "Re-export or remove it") from None
    required = ("Rows", "Columns", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing")
    missing = [k for k in required if k not in ds]
    if missing:
        raise InputError(case, path, f"DICOM file lacks {', '.join(missing)}", "Is it an image of this series?")
    if "PixelData" not in ds:
        raise InputError(case, path, "DICOM file has no pixel data", "Re-export or remove it")
    expected = int(ds.Rows) * int(ds.Columns) * int(ds.get("BitsAllocated", 16)) // 8 * int(ds.get("SamplesPerPixel", 1))
    is_compressed = bool("TransferSyntaxUID" in ds.file_meta and ds.file_meta.TransferSyntaxUID.is_compressed)
    if not is_compressed and len(ds.PixelData) < expected:
        raise InputError(
            case, path, f"truncated DICOM file ({len(ds.PixelData)} of {expected} pixel bytes)", "Re-export it"
        )
    return ds


def read_series(case: str, series: SeriesFolder, spacing_tolerance: float = 0.01) -> sitk.Image:
    """Validate every file of a series, then read it with SimpleITK in position order.

    Errors name the case and the offending file: non-DICOM or truncated files, a single slice,
    mixed series, inconsistent in-plane geometry, duplicate or unevenly spaced slice positions.
    """
    files = sorted(f for f in series.path.iterdir() if f.is_file())
    slices = [(f, _read_slice(case, f)) for f in files]
    if len(slices) < 2:
        raise InputError(case, series.path, f"series has {len(slices)} slice(s); a volume needs at least 2")
    ref_file, ref = slices[0]
    iop = np.array(ref.ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    for f, ds in slices[1:]:
        if ds.get("SeriesInstanceUID") != ref.get("SeriesInstanceUID"):
            raise InputError(case, f, "file belongs to a different series than the rest of its folder", "Move it out")
        if (int(ds.Rows), int(ds.Columns)) != (int(ref.Rows), int(ref.Columns)):
            raise InputError(case, f, f"slice size {ds.Rows}x{ds.Columns} differs from {ref.Rows}x{ref.Columns}")
        if not np.allclose(np.array(ds.ImageOrientationPatient, dtype=float), iop, atol=1e-4):
            raise InputError(case, f, "slice orientation differs from the rest of the series")
        if not np.allclose(np.array(ds.PixelSpacing, dtype=float), np.array(ref.PixelSpacing, dtype=float), rtol=1e-4):
            raise InputError(case, f, "pixel spacing differs from the rest of the series")
    positions = np.array([np.dot(normal, np.array(ds.ImagePositionPatient, dtype=float)) for _, ds in slices])
    order = np.argsort(positions, kind="stable")
    sorted_pos = positions[order]
    gaps = np.diff(sorted_pos)
    dup = np.flatnonzero(gaps < 1e-3)
    if dup.size:
        f = slices[order[dup[0] + 1]][0]
        raise InputError(case, f, f"duplicate slice position {sorted_pos[dup[0]]:.3f} mm along the slice normal")
    median = float(np.median(gaps))
    bad = np.flatnonzero(np.abs(gaps - median) > spacing_tolerance * median + 1e-3)
    if bad.size:
        f = slices[order[bad[0] + 1]][0]
        raise InputError(
            case,
            f,
            f"uneven slice spacing ({gaps[bad[0]]:.3f} mm where the series has {median:.3f} mm): a slice is missing or misplaced",
        )
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(slices[i][0]) for i in order])
    reader.MetaDataDictionaryArrayUpdateOff()
    reader.LoadPrivateTagsOff()
    image = reader.Execute()
    for key in image.GetMetaDataKeys():  # keep no header values on the image
        image.EraseMetaData(key)
    return image
