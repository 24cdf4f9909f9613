"""Atomic file output and image geometry helpers shared by every stage."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import SimpleITK as sitk


def _temp_sibling(path: Path) -> Path:
    # Keep the file name (and so its extension, e.g. .nii.gz) at the end: writers pick
    # their format from it.
    return path.with_name(f".tmp-{uuid.uuid4().hex[:12]}-{path.name}")


def _remove_leftovers(path: Path) -> None:
    """Temporary siblings of ``path`` that a killed writer left (SIGKILL, or SIGTERM as a scheduler
    sends it, end a process without its clean-up): one job writes an output at a time, so any such
    sibling is debris of an earlier attempt at this output."""
    import glob

    for left in glob.glob(os.path.join(glob.escape(str(path.parent)), f".tmp-{'[0-9a-f]' * 12}-{glob.escape(path.name)}")):
        if os.path.isdir(left) and not os.path.islink(left):
            shutil.rmtree(left, ignore_errors=True)
        else:
            Path(left).unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    A killed or failing writer therefore never leaves a partial output behind, and the
    rename is atomic on POSIX file systems. Works for files and for directories.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    tmp = _temp_sibling(path)
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_image(image: sitk.Image, path: str | Path, compress: bool = True) -> None:
    """Write a SimpleITK image atomically (NIfTI when the name ends in .nii.gz; ``compress=False``
    for a MetaImage .mha that other tools read as raw voxels).

    ITK's NIfTI writer only prints an error when the disk fills up (``NWAD: wrote only 0 of N
    bytes``) and returns normally, so the file is read back before it replaces ``path``.
    """
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=compress)
        _check_written(tmp, image, path)


def _check_written(tmp: Path, image: sitk.Image, path: str | Path) -> None:
    """Raise OSError unless ``tmp`` holds at least the image's voxel bytes (ITK's reader would
    silently zero-fill a truncated file, so the stream itself is checked)."""
    import gzip
    import zlib

    n = int(np.prod(image.GetSize())) * image.GetNumberOfComponentsPerPixel() * image.GetSizeOfPixelComponent()
    if tmp.name.endswith(".gz"):
        size = 0
        try:
            with gzip.open(tmp, "rb") as fh:
                while chunk := fh.read(1 << 22):
                    size += len(chunk)
        except (EOFError, OSError, zlib.error) as exc:
            raise OSError(f"{path}: the written image is incomplete (disk full?): {exc}") from None
    else:
        size = tmp.stat().st_size
    if size < n:
        raise OSError(f"{path}: only {size} of at least {n} bytes were written (disk full?)")


def read_image(path: str | Path) -> sitk.Image:
    return sitk.ReadImage(str(path))


def write_json(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_npy(array: np.ndarray, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def write_table(df, path: str | Path) -> None:
    """Write a pandas DataFrame as TSV atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)


def geometry_mismatch(a: sitk.Image, b: sitk.Image, rtol: float = 1e-4, atol_mm: float = 1e-3) -> str | None:
    """Describe how the grids of ``a`` and ``b`` differ, or return None when they agree."""
    if a.GetSize() != b.GetSize():
        return f"size {list(b.GetSize())} differs from {list(a.GetSize())}"
    if not np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=rtol, atol=0):
        return f"spacing {np.round(b.GetSpacing(), 4).tolist()} differs from {np.round(a.GetSpacing(), 4).tolist()}"
    if not np.allclose(a.GetOrigin(), b.GetOrigin(), rtol=0, atol=max(atol_mm, rtol * max(a.GetSpacing()))):
        return f"origin {np.round(b.GetOrigin(), 3).tolist()} differs from {np.round(a.GetOrigin(), 3).tolist()}"
    if not np.allclose(a.GetDirection(), b.GetDirection(), atol=rtol):
        return "direction cosines differ"
    return None
