"""Axial slice extraction to fixed-size uint8 arrays, and its exact inverse.

Each axial slice is resized to its physical aspect (pixel spacing), scaled so that its longer
side spans ``size`` pixels, centred on a ``size``×``size`` canvas (zero padding), optionally
rotated by quarter turns (the paper rotated 90° counter-clockwise), and quantised with the
volume's min-max (optionally after percentile clipping) to 0–255 — or, with a joint scale, with
one range for all sequences of a case, so that post − pre is the enhancement. One ``.npy`` per volume
(memory-mappable) holds the slices; a JSON transform holds everything needed to put synthetic
slices back on the grid of the volume they came from.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import SimpleITK as sitk


def axial_axis(image: sitk.Image) -> int:
    """The numpy axis (of ``GetArrayFromImage``) whose direction is closest to head-feet."""
    d = np.array(image.GetDirection()).reshape(3, 3)
    k = int(np.argmax(np.abs(d[2])))  # image axis whose direction has the largest S component
    return 2 - k


def _resize(img: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    h, w = shape_hw
    shrinking = h * w < img.shape[0] * img.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    if (h, w) == img.shape:
        return img.astype(np.float32, copy=True)
    return cv2.resize(img.astype(np.float32), (w, h), interpolation=interp)


def plan_transform(
    image: sitk.Image,
    size: int,
    slice_range: tuple[int | None, int | None] | None = None,
    clip_percentiles: tuple[float, float] = (0.0, 100.0),
    rotate90: int = 0,
) -> dict[str, Any]:
    """Everything that maps the volume to its slice stack (and back), as plain JSON values."""
    arr = sitk.GetArrayViewFromImage(image)
    ax = axial_axis(image)
    vol = np.moveaxis(arr, ax, 0)
    spacing_np = image.GetSpacing()[::-1]  # numpy axis order
    sp = [s for i, s in enumerate(spacing_np) if i != ax]
    rows, cols = vol.shape[1:]
    h_mm, w_mm = rows * sp[0], cols * sp[1]
    scale = size / max(h_mm, w_mm)
    inner = (max(1, min(size, round(h_mm * scale))), max(1, min(size, round(w_mm * scale))))
    lo, hi = np.percentile(arr, clip_percentiles) if tuple(clip_percentiles) != (0.0, 100.0) else (arr.min(), arr.max())
    start, stop = (slice_range or (None, None))
    idx = range(vol.shape[0])[slice(start, stop)]
    return {
        "axial_axis": ax,
        "volume_shape": list(vol.shape),
        "size": int(size),
        "inner": list(inner),
        "offset": [(size - inner[0]) // 2, (size - inner[1]) // 2],
        "rotate90": int(rotate90) % 4,
        "first_slice": idx.start,
        "n_slices": len(idx),
        "intensity_min": float(lo),
        "intensity_max": float(hi),
    }


def plan_case_transforms(images: dict[str, sitk.Image], joint_scale: bool = False, **options: Any) -> dict[str, dict[str, Any]]:
    """``plan_transform`` for every sequence of a case. With ``joint_scale`` every sequence gets
    the union of their intensity ranges: the same tissue value maps to the same grey level in
    pre- and post-contrast, so an enhancing tumour is brighter after contrast (with separate
    ranges, as the paper, the post-contrast maximum — enhanced tumour or vessel — darkens the rest)."""
    plans = {seq: plan_transform(image, **options) for seq, image in images.items()}
    if joint_scale and plans:
        lo = min(t["intensity_min"] for t in plans.values())
        hi = max(t["intensity_max"] for t in plans.values())
        for t in plans.values():
            t["intensity_min"], t["intensity_max"] = lo, hi
    for t in plans.values():
        t["joint_scale"] = bool(joint_scale)
    return plans


def extract_slices(image: sitk.Image, transform: dict[str, Any]) -> np.ndarray:
    """The (n, size, size) uint8 slice stack of ``image`` under ``transform``."""
    vol = np.moveaxis(sitk.GetArrayViewFromImage(image), transform["axial_axis"], 0)
    lo, hi = transform["intensity_min"], transform["intensity_max"]
    span = hi - lo if hi > lo else 1.0
    size = transform["size"]
    (ih, iw), (oy, ox) = transform["inner"], transform["offset"]
    first, n = transform["first_slice"], transform["n_slices"]
    out = np.zeros((n, size, size), dtype=np.uint8)
    for i in range(n):
        sl = (np.clip(vol[first + i].astype(np.float32), lo, hi) - lo) * (255.0 / span)
        canvas = np.zeros((size, size), dtype=np.float32)
        canvas[oy : oy + ih, ox : ox + iw] = _resize(sl, (ih, iw))
        out[i] = np.clip(np.rint(np.rot90(canvas, transform["rotate90"])), 0, 255).astype(np.uint8)
    return out


def restore_volume(
    slices: np.ndarray, transform: dict[str, Any], reference: sitk.Image, intensity: str = "uint8"
) -> sitk.Image:
    """Put a (n, size, size) slice stack back on the grid of ``reference`` (exact geometry).

    ``intensity='uint8'`` keeps the 0–255 scale the model works in; ``'scanner'`` maps back to
    the intensity range (scanner units) of the volume the transform was made from, stored at
    extraction. Slices outside the extracted range are zero.
    """
    if intensity not in ("uint8", "scanner"):
        raise ValueError(f"intensity must be 'uint8' or 'scanner', not {intensity!r}")
    n_total, rows, cols = transform["volume_shape"]
    (ih, iw), (oy, ox) = transform["inner"], transform["offset"]
    first, n = transform["first_slice"], transform["n_slices"]
    if slices.shape[0] != n:
        raise ValueError(f"expected {n} slices, got {slices.shape[0]}")
    vol = np.zeros((n_total, rows, cols), dtype=np.float32)
    for i in range(n):
        canvas = np.rot90(np.asarray(slices[i], dtype=np.float32), -transform["rotate90"])
        vol[first + i] = _resize(np.ascontiguousarray(canvas[oy : oy + ih, ox : ox + iw]), (rows, cols))
    if intensity == "scanner":
        lo, hi = transform["intensity_min"], transform["intensity_max"]
        vol = vol * ((hi - lo) / 255.0) + lo
    out = sitk.GetImageFromArray(np.moveaxis(vol, 0, transform["axial_axis"]))
    out.CopyInformation(reference)
    return out
