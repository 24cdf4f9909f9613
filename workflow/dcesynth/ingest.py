"""Ingest: DICOM series or NIfTI files of one case → ``results/nifti/{case}/{seq}.nii.gz``.

Every post-contrast volume must sit on the pre-contrast grid; where it does not, ingest either
fails with a clear error or (``resample_mismatched``) resamples it linearly onto that grid.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from . import dicom
from .errors import InputError
from .io import geometry_mismatch, write_image

log = logging.getLogger("dcesynth")


def check_volume(case: str, path: str | Path, image: sitk.Image) -> None:
    """Refuse volumes no later stage can use: NaN/Inf, constant (e.g. all zero), too small."""
    arr = sitk.GetArrayViewFromImage(image)
    if min(image.GetSize()) < 2:
        raise InputError(case, path, f"volume of size {list(image.GetSize())} has fewer than 2 voxels along an axis")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise InputError(case, path, f"volume contains {int((~np.isfinite(arr)).sum())} NaN or Inf voxels")
    if arr.min() == arr.max():
        raise InputError(case, path, f"volume is constant (every voxel is {arr.min()}): empty image")


def _conform(case: str, label: str, image: sitk.Image, reference: sitk.Image, resample: bool, path) -> sitk.Image:
    problem = geometry_mismatch(reference, image)
    if problem is None:
        # Copy the reference geometry bit for bit: tiny float differences in DICOM strings
        # must not make later stages think the grids differ.
        image.CopyInformation(reference)
        return image
    if not resample:
        raise InputError(
            case,
            path,
            f"{label} geometry does not match the pre-contrast series: {problem}",
            "Set 'ingest.resample_mismatched: true' to resample it onto the pre-contrast grid",
        )
    log.warning("case %s: %s %s; resampling onto the pre-contrast grid", case, label, problem)
    return sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, 0.0, image.GetPixelID())


def ingest_dicom_case(
    case: str,
    case_dir: str | Path,
    outputs: dict[str, str],
    include: str,
    exclude: str | None = None,
    resample_mismatched: bool = False,
) -> dict[str, str]:
    """Identify the DCE series of ``case_dir`` and write one NIfTI per sequence in ``outputs``.

    Returns {seq: series folder name} for the log.
    """
    case_dir = Path(case_dir)
    if not case_dir.is_dir():
        raise InputError(case, case_dir, "case folder does not exist", "Check 'data.root' and the case sheet")
    all_series = dicom.find_series(case_dir)
    dce = dicom.select_dce(all_series, include, exclude)
    log.info(
        "case %s: %d series, %d DCE: %s", case, len(all_series), len(dce), "; ".join(s.label for s in dce)
    )
    chosen = dicom.assign_sequences(case, case_dir, dce, list(outputs))
    images = {seq: dicom.read_series(case, s) for seq, s in chosen.items()}
    _write_case(case, images, {seq: chosen[seq].path for seq in chosen}, outputs, resample_mismatched)
    return {seq: s.label for seq, s in chosen.items()}


def ingest_nifti_case(
    case: str, inputs: dict[str, str], outputs: dict[str, str], resample_mismatched: bool = False
) -> None:
    """Copy NIfTI (or any SimpleITK-readable) volumes of a case, checked like DICOM ones."""
    images = {}
    for seq in outputs:
        path = inputs.get(seq)
        if not path:
            raise InputError(case, None, f"the case sheet gives no file for '{seq}'", f"Fill the '{seq}' column")
        if not Path(path).is_file():
            raise InputError(case, path, f"{seq} file does not exist", "Check the case sheet")
        images[seq] = read_checked(case, path, "volume")
    _write_case(case, images, inputs, outputs, resample_mismatched)


def read_checked(case: str, path: str | Path, what: str) -> sitk.Image:
    """A single-channel 3D image file, checked whatever the case of its extension: unreadable,
    truncated or corrupt data, and NaN or Inf voxels, are refused naming the file (ITK alone reads a
    truncated gzip as zeros and NaN as 0). ``what``: "volume" or "mask", for the messages."""
    with _lower_case_name(path) as readable:
        problem = _nifti_problem(readable, what)
        if problem:
            raise InputError(case, path, problem.replace(str(readable), Path(path).name), "Copy or export the file again")
        try:
            image = sitk.ReadImage(str(readable))
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
            if "No such file" in first:  # what ITK says of a truncated file it cannot parse
                first = "ITK cannot parse it: truncated or corrupt?"
            raise InputError(case, path, f"unreadable {what} file ({first.replace(str(readable), Path(path).name)})") from None
    if image.GetNumberOfComponentsPerPixel() != 1 or image.GetDimension() != 3:
        raise InputError(case, path, f"expected a single-channel 3D {what}, got a {image.GetDimension()}D image with "
                         f"{image.GetNumberOfComponentsPerPixel()} component(s) per voxel")  # fmt: skip
    return image


@contextmanager
def _lower_case_name(path: str | Path):
    """``path``, or a link to it whose extension is in lower case: ITK and nibabel choose a file's
    format by its extension and know .nii.gz but not .Nii.Gz (ITK reads .NII.GZ, nibabel not)."""
    name = Path(path).name
    suffix = next((s for s in (".nii.gz", ".nii") if name.lower().endswith(s)), None)
    if suffix is None or name.endswith(suffix):
        yield Path(path)
        return
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / f"{name[: -len(suffix)]}{suffix}"
        link.symlink_to(Path(path).resolve())
        yield link


def _nifti_problem(path: Path, what: str) -> str | None:
    """What is wrong with a NIfTI file's voxel data (``path`` named in lower case), read whole with
    nibabel: truncated or corrupt data, or NaN/Inf voxels. None for other formats (ITK reads them)."""
    if not path.name.endswith((".nii", ".nii.gz")):
        return None
    import nibabel as nib

    try:
        data = np.asanyarray(nib.load(str(path)).dataobj)
    except Exception as exc:  # noqa: BLE001 - EOFError, zlib.error, OSError, nibabel's own: all mean unreadable
        detail = " ".join(str(exc).split()) or "no detail"
        return f"truncated or corrupt NIfTI file ({type(exc).__name__}: {detail})"
    bad = int(data.size - np.isfinite(data).sum()) if data.dtype.kind == "f" else 0
    return f"{what} contains {bad} NaN or Inf voxels" if bad else None


def _write_case(case, images, sources, outputs, resample_mismatched) -> None:
    seqs = list(outputs)
    ref = images[seqs[0]]
    for seq in seqs:  # each volume's own problems (constant, empty) first
        check_volume(case, sources[seq], images[seq])
    arrays = {seq: sitk.GetArrayViewFromImage(images[seq]) for seq in seqs}
    for i, seq in enumerate(seqs):
        for other in seqs[:i]:
            if arrays[seq].shape == arrays[other].shape and np.array_equal(arrays[seq], arrays[other]):
                raise InputError(case, sources[seq], f"{seq} has exactly the pixel data of {other} ({Path(sources[other]).name}): "
                                 "a repeated series or a copied file, not another phase",
                                 "Check the case's series (or 'series.include') or its files")  # fmt: skip
    for seq in seqs[1:]:
        images[seq] = _conform(case, seq, images[seq], ref, resample_mismatched, sources[seq])
    for seq in seqs:
        write_image(images[seq], outputs[seq])
        log.info("case %s: wrote %s %s spacing %s", case, seq, list(images[seq].GetSize()),
                 [round(s, 4) for s in images[seq].GetSpacing()])
    claim_pixel_data(case, images[seqs[0]], outputs[seqs[0]], sources[seqs[0]])


#: Beside the case folders of the ingested volumes: a folder per pre-contrast pixel hash, holding
#: one empty file per case that claimed those pixels.
CLAIMS = ".pre_pixel_data"


def pixel_hash(image: sitk.Image) -> str:
    """SHA-256 of a volume's pixel data: type, size and voxel values (not its geometry or header)."""
    arr = np.ascontiguousarray(sitk.GetArrayViewFromImage(image))
    digest = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    digest.update(memoryview(arr).cast("B"))
    return digest.hexdigest()


def claim_pixel_data(case: str, image: sitk.Image, written: str | Path, source) -> None:
    """One patient, one id: refuse a case whose pre-contrast pixel data are exactly another
    case's (a series exported twice, a patient under two ids), which would put the same images on
    both sides of the split. ``written``: the case's ingested volume, ``{stage}/{case}/{seq}.nii.gz``.

    Each case marks its hash first and then looks for other cases there, after its volume is
    written: two ingest jobs running at once each see the other, so they cannot both pass (both
    may be refused). Across cluster nodes this holds where the shared file system shows a new file
    at once (an NFS client may cache a folder's listing for seconds). A mark whose case no longer
    holds those pixels (re-ingested from other data, or its volume deleted) is stale: removed when
    met, and ignored. A tree ingested before these marks existed has none to compare with.
    """
    written = Path(written)
    folder = written.parent.parent / CLAIMS / pixel_hash(image)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / case).touch()
    for mark in sorted(folder.iterdir()):
        other = mark.name
        if other == case:
            continue
        other_volume = folder.parent.parent / other / written.name
        if not _holds(other_volume, folder.name):
            mark.unlink(missing_ok=True)
            continue
        (folder / case).unlink(missing_ok=True)
        raise InputError(case, source, f"its pre-contrast pixel data are exactly those of case {other} ({other_volume}): "
                         "one patient under two case ids puts the same images on both sides of the split",
                         f"Keep one of {other} and {case} in the cohort (the case sheet or data.root); if {other} has "
                         f"left it, delete {other_volume.parent}")  # fmt: skip


def _holds(volume: Path, digest: str) -> bool:
    try:
        return volume.is_file() and pixel_hash(sitk.ReadImage(str(volume))) == digest
    except RuntimeError:  # unreadable: not a claim that can stand
        return False


def tumour_voxels(case: str, mask_path: str | Path, arr: np.ndarray, label: int | None = None) -> np.ndarray:
    """The tumour of a mask as 0/1: every non-zero voxel of a two-valued mask (0/1, 0/255, ...), or
    the voxels of ``label`` (``data.mask_label``). A mask with more distinct values is ambiguous
    (several labels, or an interpolated mask) and refused, naming its values."""
    if label is not None:
        binary = (arr == label).astype(np.uint8)
        if not binary.any():
            values = np.unique(arr)
            raise InputError(case, mask_path, f"mask has no voxel of label {label} (data.mask_label); its values: "
                             f"{', '.join(str(v) for v in values[:10])}")  # fmt: skip
        return binary
    values = np.unique(arr)
    if len(values) == 2 and values[0] != 0:
        raise InputError(case, mask_path, f"mask has the values {values[0]:g} and {values[1]:g} but no 0 (background)",
                         "Set 'data.mask_label' to the tumour's label")  # fmt: skip
    if len(values) > 2:
        shown = ", ".join(f"{v:g}" for v in values[:8]) + (", ..." if len(values) > 8 else "")
        raise InputError(
            case,
            mask_path,
            f"mask has {len(values)} distinct values ({shown}), not a binary tumour mask",
            "Set 'data.mask_label' to the tumour's label",
        )
    return (arr > 0).astype(np.uint8)


def ingest_mask(
    case: str,
    mask_path: str | Path,
    reference_path: str | Path,
    out_path: str | Path,
    resample_mismatched: bool = False,
    label: int | None = None,
) -> int:
    """Binarise a tumour mask on the grid of the case's pre-contrast volume; returns its voxel count."""
    if not Path(mask_path).is_file():
        raise InputError(case, mask_path, "mask file does not exist", "Check 'data.mask_pattern' or the sheet's 'mask' column")
    mask = read_checked(case, mask_path, "mask")
    ref = sitk.ReadImage(str(reference_path))
    problem = geometry_mismatch(ref, mask)
    if problem is not None:
        if not resample_mismatched:
            raise InputError(
                case,
                mask_path,
                f"mask geometry does not match its image: {problem}",
                "Set 'ingest.resample_mismatched: true' to resample it (nearest neighbour)",
            )
        log.warning("case %s: mask %s; resampling (nearest neighbour)", case, problem)
        mask = sitk.Resample(mask, ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID())
    binary = tumour_voxels(case, mask_path, sitk.GetArrayFromImage(mask), label)
    n = int(binary.sum())
    if n == 0:
        raise InputError(case, mask_path, "mask is empty (no tumour voxel)", "Remove the mask or fix the annotation")
    out = sitk.GetImageFromArray(binary)
    out.CopyInformation(ref)
    write_image(out, out_path)
    return n
