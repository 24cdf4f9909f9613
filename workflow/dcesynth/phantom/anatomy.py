"""The phantom's images: breasts, chest wall, fat, fibroglandular tissue, vessels and tumours, with
contrast kinetics, a bias field and Rician noise, from each case's own seeded generator."""

from __future__ import annotations

import numpy as np

from .spec import KINETICS, CaseSpec



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


def draw_case(spec: CaseSpec) -> dict[str, np.ndarray]:
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
