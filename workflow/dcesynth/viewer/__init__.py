"""An interactive viewer of the synthetic contrast: one self-contained HTML file.

Per case, pre-contrast, real and synthetic post-contrast and both subtractions side by side, with
the tumour outline; one slice position for all panels (wheel, arrow keys, slider) in the axial,
sagittal or coronal plane; window and level for the images and for the subtractions; the view in
the URL (``#case=ID&plane=axial&slice=N``), so that a link shows the same picture.

It works offline from the file: no server, no CDN, no script loaded from anywhere. The volumes are
embedded cropped (the tumour-side breast when the case has a mask, else the body), reduced by
block means to at most ``max_voxels`` voxels each, as 8-bit values, compressed with zlib and
decompressed by the browser (``DecompressionStream``). The file's size is therefore bounded by
``5 x max_voxels`` bytes per case before compression (the outline is a mask of the same grid,
which compresses to almost nothing); which cases are embedded is the plan's choice
(``report.viewer_cases``).
"""

from __future__ import annotations

import base64
import json
import zlib
from importlib import resources
from pathlib import Path

import numpy as np

from ..io import atomic_path

# the panels, left to right; the first three share one window, the subtractions another
PANELS = ("pre", "real post", "synthetic post", "real subtraction", "synthetic subtraction")
IMAGE_PANELS = PANELS[:3]
# 8-bit values cover this multiple of the default window, so that the window can be widened
HEADROOM = 1.5


def body_box(pre: np.ndarray) -> tuple[slice, slice, slice]:
    """The bounding box (z, y, x) of the voxels brighter than a tenth of the 99th percentile."""
    finite = np.nan_to_num(pre)
    body = finite > 0.1 * float(np.percentile(finite, 99))
    if not body.any():
        return tuple(slice(0, n) for n in pre.shape)
    idx = [np.flatnonzero(body.any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)]
    return tuple(slice(int(i[0]), int(i[-1]) + 1) for i in idx)


def crop_box(pre: np.ndarray, mask: np.ndarray | None, lr_axis: int = 2) -> tuple[slice, slice, slice]:
    """The body's box, narrowed to the tumour's half along the left-right array axis when a
    non-empty mask is given (the breast the segmentation crops show)."""
    box = list(body_box(pre))
    if mask is not None and mask.any():
        from scipy import ndimage

        centre = ndimage.center_of_mass(mask > 0)[lr_axis]
        half = pre.shape[lr_axis] // 2
        lo, hi = box[lr_axis].start, box[lr_axis].stop
        box[lr_axis] = slice(lo, max(lo + 1, min(hi, half))) if centre < half else slice(max(lo, half), hi)
    return tuple(box)


def strides(shape: tuple[int, ...], max_voxels: int) -> tuple[int, ...]:
    """Integer block sizes per axis so that the reduced volume has at most ``max_voxels`` voxels:
    the axis with the most remaining voxels is reduced first."""
    s = [1] * len(shape)
    while int(np.prod([-(-n // k) for n, k in zip(shape, s)])) > max_voxels:
        axis = int(np.argmax([n / k for n, k in zip(shape, s)]))
        s[axis] += 1
    return tuple(s)


def reduce(arr: np.ndarray, block: tuple[int, ...], how: str = "mean") -> np.ndarray:
    """Block means (``how='max'``: block maxima, for masks); a partial last block is padded
    with the edge values."""
    if all(b == 1 for b in block):
        return arr
    pad = [(0, (-n) % b) for n, b in zip(arr.shape, block)]
    arr = np.pad(arr, pad, mode="edge")
    shape = [x for n, b in zip(arr.shape, block) for x in (n // b, b)]
    blocks = arr.reshape(shape)
    axes = tuple(range(1, 2 * arr.ndim, 2))
    return blocks.max(axis=axes) if how == "max" else blocks.mean(axis=axes)


def _encode(arr: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(arr, dtype=np.uint8).tobytes(), 6)).decode("ascii")


def case_payload(
    case: str,
    role: str,
    images: dict[str, np.ndarray],
    mask: np.ndarray | None,
    spacing_zyx: tuple[float, float, float],
    max_voxels: int,
) -> dict:
    """One case of the viewer: its cropped, reduced 8-bit panels, outline mask and geometry.

    ``images`` holds the PANELS as (z, y, x) arrays on one grid, in scanner units; ``role`` is the
    case's split (validation or test)."""
    box = crop_box(images["pre"], mask)
    block = strides(tuple(sl.stop - sl.start for sl in box), max_voxels)
    reduced = {name: reduce(np.nan_to_num(images[name][box].astype(np.float32)), block) for name in PANELS}
    # one window for the anatomical panels and one for both subtractions, as in the figures
    from ..figures import display_windows

    windows = display_windows(reduced)
    image_max, sub_max = windows["pre"], windows["real subtraction"]
    top = {n: HEADROOM * (image_max if n in IMAGE_PANELS else sub_max) for n in PANELS}
    data = {n: _encode(np.clip(np.round(reduced[n] / top[n] * 255), 0, 255)) for n in PANELS}
    out_mask = None
    if mask is not None:
        out_mask = _encode(reduce((mask[box] > 0).astype(np.uint8), block, "max"))
    shape = reduced["pre"].shape
    return {
        "case": case,
        "role": role,
        "shape": list(shape),
        "spacing": [float(s * b) for s, b in zip(spacing_zyx, block)],
        # the crop's first voxel in the ingested volume and the block size: the viewer names the volume's slice
        "origin_index": [int(sl.start) for sl in box],
        "block": list(block),
        "scale": {"images": HEADROOM * image_max / 255, "subtractions": HEADROOM * sub_max / 255},
        "window": {"images": image_max, "subtractions": sub_max},
        "data": data,
        "mask": out_mask,
    }


def write_viewer(cases: list[dict], out_html: str | Path, title: str) -> int:
    """Write the viewer of ``cases`` (:func:`case_payload`'s) as one HTML file; returns its size."""
    template = resources.files(__package__).joinpath("template.html").read_text(encoding="utf-8")
    payload = json.dumps({"title": title, "panels": list(PANELS), "cases": cases}, separators=(",", ":"))
    # inside <script type="application/json"> only "</" could end the element early
    html = template.replace("__TITLE__", _html_text(title)).replace("__DATA__", payload.replace("</", "<\\/"))
    with atomic_path(out_html) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return len(html.encode("utf-8"))


def _html_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
