"""The interactive viewer (dcesynth.viewer): the crop, the voxel bound and the block reduction,
and the page itself in headless Chromium (a real browser): it draws images, follows the slice in
the address, and logs no error."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from dcesynth.viewer import PANELS, case_payload, crop_box, reduce, strides, write_viewer
from conftest import browse


def _case(shape=(20, 60, 80), tumour_x=60, tumour_z=None):
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    tumour_z = shape[0] / 2 if tumour_z is None else tumour_z
    body = ((y - shape[1] / 2) ** 2 / (0.4 * shape[1]) ** 2 + (x - shape[2] / 2) ** 2 / (0.45 * shape[2]) ** 2) < 1
    pre = body * (300.0 + 30 * np.sin(x / 3.0) * np.cos(y / 4.0))
    mask = ((z - tumour_z) ** 2 / 16 + (y - shape[1] / 2) ** 2 / 25 + (x - tumour_x) ** 2 / 25) < 1
    post = pre + 500 * mask
    images = {"pre": pre, "real post": post, "synthetic post": pre + 350 * mask,
              "real subtraction": post - pre, "synthetic subtraction": 350.0 * mask}  # fmt: skip
    return images, mask


def test_the_crop_keeps_the_tumour_side_of_the_body():
    images, mask = _case()
    box = crop_box(images["pre"], mask)
    body = crop_box(images["pre"], None)
    assert box[2].start == 40 and box[2].stop == body[2].stop  # the right half (tumour at x = 60)
    assert box[:2] == body[:2] and body[1].start > 0  # the air around the body is cut
    assert mask[box].sum() == mask.sum()


@pytest.mark.parametrize("shape,bound", [((160, 512, 512), 600_000), ((7, 9, 11), 100), ((3, 400, 20), 1000)])
def test_block_reduction_respects_the_voxel_bound(shape, bound):
    block = strides(shape, bound)
    reduced = [-(-n // b) for n, b in zip(shape, block)]
    assert np.prod(reduced) <= bound
    # and no axis is reduced further than needed: one step less on any axis breaks the bound
    for axis in range(3):
        if block[axis] > 1:
            fewer = list(block)
            fewer[axis] -= 1
            assert np.prod([-(-n // b) for n, b in zip(shape, fewer)]) > bound or reduced[axis] == -(-shape[axis] // fewer[axis])


def test_block_means_and_maxima():
    arr = np.arange(24, dtype=float).reshape(2, 3, 4)
    assert np.array_equal(reduce(arr, (1, 1, 2)), (arr[..., ::2] + arr[..., 1::2]) / 2)
    mask = np.zeros((2, 3, 4), np.uint8)
    mask[1, 2, 3] = 1
    assert reduce(mask, (2, 2, 2), "max").tolist() == [[[0, 0], [0, 1]]]  # the partial block is padded


@pytest.mark.integration
def test_viewer_in_a_headless_browser(tmp_path):
    images, mask = _case()
    cases = [case_payload("Case_A", "test", images, mask, (3.0, 0.8, 0.8), 20_000),
             case_payload("Case_B", "validation", images, None, (3.0, 0.8, 0.8), 20_000)]  # fmt: skip
    assert all(np.prod(c["shape"]) <= 20_000 for c in cases)
    page = tmp_path / "index.html"
    size = write_viewer(cases, page, "viewer test </script> & <b>")
    assert size < 5 * 20_000 * 2 * 4 / 3 + 40_000  # the stated bound: 5 panels x voxels per case, base64
    html = page.read_text()
    assert "http://" not in html and "https://" not in html  # nothing is fetched: it works offline
    shots = {}
    for fragment in ("case=Case_A&plane=axial&slice=5", "case=Case_A&plane=axial&slice=10", "case=Case_B&plane=coronal&slice=3"):
        out = browse(page, fragment, tmp_path / f"{len(shots)}.png")
        assert f'data-ready="{fragment.replace("&", "&amp;")}"' in out["dom"], out["dom"][-3000:]
        assert "data-errors" not in out["dom"] and not out["console_errors"], out
        shots[fragment] = imread(tmp_path / f"{len(shots)}.png")[90:460, :, :3]
    for fragment, shot in shots.items():
        assert shot.std() > 0.05, fragment  # images, not a blank page
    first, second, other = shots.values()
    assert np.abs(first - second).mean() > 0.002  # another slice, another picture
    assert np.abs(first - other).mean() > 0.002
    # an address without a slice opens the case at the tumour's centre: a tumour away from the
    # middle of the volume (z 4.5 of 0..19), whose centre of mass in the viewer's (cropped, reduced)
    # grid is worked out here; the middle slice would be another
    images, mask = _case(tumour_z=4.5)
    off_centre = case_payload("Case_C", "test", images, mask, (3.0, 0.8, 0.8), 20_000)
    box = crop_box(images["pre"], mask)
    reduced = reduce(mask[box].astype(np.uint8), tuple(off_centre["block"]), "max")
    expected = int(np.floor(np.argwhere(reduced)[:, 0].mean() + 0.5)) + 1  # 1-based, as the address
    assert expected != off_centre["shape"][0] // 2 + 1
    write_viewer([off_centre], tmp_path / "off.html", "off-centre tumour")
    out = browse(tmp_path / "off.html", "case=Case_C&plane=axial")
    assert f'data-ready="case=Case_C&amp;plane=axial&amp;slice={expected}"' in out["dom"], out["dom"][-3000:]
    out = browse(page, "case=Case_A&plane=axial")
    assert 'data-ready="case=Case_A&amp;plane=axial&amp;slice=' in out["dom"] and "Case_A (test)" in out["dom"]
    assert "axial slice " in out["dom"] and "volume z index " in out["dom"]  # the ingested volume's slice
    assert set(PANELS) <= set(cases[0]["data"])
