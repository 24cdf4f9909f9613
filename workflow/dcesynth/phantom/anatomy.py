"""The phantom's images: chest wall, breasts, fibroglandular tissue, vessels and tumours, each drawn
by its own function from its own random stream, then contrast kinetics, a coil bias field and Rician
noise.

Each part of a case draws from a stream of its own (:func:`stream`: the seed, the case index and the
part's number in :data:`STREAMS`), so a change to one part (another draw, the ``multifocal`` flag,
one more post-contrast phase) leaves every other part of the case as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from .spec import KINETICS, CaseSpec

# The numbers are fixed: a new part takes a new number, so that the existing streams keep theirs.
STREAMS = {
    "chest_wall": 1,
    "breasts": 2,
    "fibroglandular": 3,
    "vessels": 4,
    "tumour": 5,
    "satellites": 6,
    "enhancement": 7,
    "coil": 8,
    "noise": 9,
}


def stream(spec: CaseSpec, part: str, *more: int) -> np.random.Generator:
    """The random stream of one part of one case (``more`` splits it further, e.g. per phase)."""
    return np.random.default_rng([spec.seed, spec.index, 1, STREAMS[part], *more])


@dataclass(frozen=True)
class Grid:
    """Normalised coordinates in [-1, 1] per axis (z, y, x: LPS slice, row, column) and the physical
    half-extent of the field of view in mm per axis. Anatomy is defined relative to the field of view."""

    z: np.ndarray
    y: np.ndarray
    x: np.ndarray
    half_mm: np.ndarray

    @classmethod
    def of(cls, spec: CaseSpec) -> Grid:
        nz, ny, nx = spec.slices, spec.rows, spec.cols
        z, y, x = np.meshgrid(np.linspace(-1, 1, nz), np.linspace(-1, 1, ny), np.linspace(-1, 1, nx), indexing="ij")
        half_mm = np.array([nz * spec.slice_thickness, ny * spec.pixel_spacing, nx * spec.pixel_spacing]) / 2
        return cls(z, y, x, half_mm)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.z.shape


@dataclass(frozen=True)
class Breast:
    """One breast's ellipsoid (normalised units): centre (cx, cy) and radii (rx, ry, rz)."""

    cx: float
    cy: float
    rx: float
    ry: float
    rz: float

    def distance(self, g: Grid) -> np.ndarray:
        """The ellipsoid's squared normalised distance (< 1 inside)."""
        return ((g.x - self.cx) / self.rx) ** 2 + ((g.y - self.cy) / self.ry) ** 2 + (g.z / self.rz) ** 2


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: tuple[float, ...]) -> np.ndarray:
    """Gaussian-smoothed white noise scaled to mean 0 and sd 1."""
    from scipy import ndimage

    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=sigma, mode="reflect")
    return (field - field.mean()) / (field.std() + 1e-8)


def tube(g: Grid, points: np.ndarray, radius: float) -> np.ndarray:
    """Voxels within ``radius`` (normalised units) of the polyline through ``points`` (k, 3)."""
    inside = np.zeros(g.shape, dtype=bool)
    for a, b in pairwise(points):
        ab = b - a
        t = np.clip(((g.z - a[0]) * ab[0] + (g.y - a[1]) * ab[1] + (g.x - a[2]) * ab[2]) / float(ab @ ab), 0, 1)
        d2 = (g.z - a[0] - t * ab[0]) ** 2 + (g.y - a[1] - t * ab[1]) ** 2 + (g.x - a[2] - t * ab[2]) ** 2
        inside |= d2 < radius**2
    return inside


def chest_wall(g: Grid, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The chest wall curve across the image (``wall``, the row height per voxel: breasts lie anterior,
    at smaller y) and the thorax behind it: pectoral ``muscle``, ``heart``, ``lung`` and the rest."""
    wall = 0.05 + rng.uniform(-0.05, 0.05) + 0.18 * g.x**2
    thorax = (g.y > wall) & ((g.x / 0.98) ** 2 + ((g.y - wall - 0.05) / 0.95) ** 2 < 1.0)
    muscle = thorax & (g.y < wall + 0.13)
    heart = thorax & ~muscle & ((g.x + 0.05) ** 2 / 0.06 + (g.y - wall - 0.42) ** 2 / 0.07 + g.z**2 / 1.2 < 1)
    lung = thorax & ~muscle & ~heart & (np.abs(g.x) > 0.15)
    return {"wall": wall, "thorax": thorax, "muscle": muscle, "heart": heart, "lung": lung}


def breasts(g: Grid, wall: np.ndarray, rng: np.random.Generator) -> tuple[list[Breast], dict[str, np.ndarray]]:
    """Two ellipsoidal breasts over the chest wall (right then left): the ``breast`` volume, its
    ``skin`` (one voxel) and the ``fgt_zone`` where fibroglandular tissue can lie."""
    from scipy import ndimage

    shapes, breast, fgt_zone = [], np.zeros(g.shape, dtype=bool), np.zeros(g.shape, dtype=bool)
    for side in (-1, 1):
        b = Breast(
            cx=side * rng.uniform(0.42, 0.5),
            cy=float(wall.mean()),
            rx=rng.uniform(0.3, 0.38),
            ry=rng.uniform(0.55, 0.75),
            rz=rng.uniform(0.85, 1.05),
        )
        e = b.distance(g)
        breast |= (e < 1) & (g.y <= wall + 0.02)
        fgt_zone |= (e < 0.55) & (g.y <= wall - 0.05)
        shapes.append(b)
    skin = breast & ~ndimage.binary_erosion(breast, iterations=1)
    return shapes, {"breast": breast, "skin": skin, "fgt_zone": fgt_zone}


def fibroglandular(
    g: Grid, fgt_zone: np.ndarray, wall: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Textured fibroglandular tissue: thresholded smooth noise in the zone, denser near the chest wall.
    Returns the tissue and its texture (which also modulates its signal)."""
    texture = smooth_noise(rng, g.shape, sigma=(1.0, 1.5, 1.5))
    density = rng.uniform(-0.3, 0.5)
    return fgt_zone & (texture + 0.8 * (g.y - wall + 0.3) > -density), texture


def vessels(g: Grid, shapes: list[Breast], breast: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two tubes per breast running from the chest wall towards the nipple, about 1.5 voxels thick."""
    radius = 1.1 * 2 / max(g.shape[1:]) * 1.5
    inside = np.zeros(g.shape, dtype=bool)
    for b in shapes:
        for _ in range(2):
            zz = rng.uniform(-0.6, 0.6)
            points = np.array(
                [
                    [zz, b.cy, b.cx + rng.uniform(-0.15, 0.15)],
                    [zz + rng.uniform(-0.2, 0.2), b.cy - 0.35 * b.ry, b.cx + rng.uniform(-0.2, 0.2)],
                    [zz + rng.uniform(-0.3, 0.3), b.cy - 0.7 * b.ry, b.cx + rng.uniform(-0.15, 0.15)],
                ]
            )
            inside |= tube(g, points, radius)
    return inside & breast


def _lesion(g: Grid, b: Breast, radius_mm: float, lobulation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A lobulated lesion's normalised distance from its centre (< 1 inside), in the front of breast ``b``;
    at least about 1.5 voxels in radius along every axis."""
    c = np.array(
        [rng.uniform(-0.35, 0.35) * b.rz, b.cy - rng.uniform(0.2, 0.5) * b.ry, b.cx + rng.uniform(-0.35, 0.35) * b.rx]
    )
    r = np.maximum(radius_mm / g.half_mm, np.array([1.2, 1.5, 1.5]) * 2 / np.array(g.shape))
    d = np.sqrt(((g.z - c[0]) / r[0]) ** 2 + ((g.y - c[1]) / r[1]) ** 2 + ((g.x - c[2]) / r[2]) ** 2)
    return d / (1 + 0.18 * lobulation)


def tumour(
    g: Grid, shapes: list[Breast], breast: np.ndarray, rng: np.random.Generator
) -> tuple[Breast, dict[str, np.ndarray]]:
    """The primary tumour (12-20 mm radius) in one breast chosen at random: that breast, and the
    tumour's voxels (``primary``), its outer shell (``rim``, for rim enhancement) and its
    ``lobulation`` field."""
    b = shapes[int(rng.integers(0, 2))]
    lobulation = smooth_noise(rng, g.shape, sigma=(1.5, 2.5, 2.5))
    d = _lesion(g, b, rng.uniform(12, 20), lobulation, rng)
    primary = (d < 1) & breast
    return b, {"primary": primary, "rim": primary & (d > 0.55), "lobulation": lobulation}


def satellites(g: Grid, b: Breast, t: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """One or two small lesions (4-7 mm radius) in the primary's breast ``b``, outside the primary."""
    inside = np.zeros(g.shape, dtype=bool)
    for _ in range(int(rng.integers(1, 3))):
        inside |= _lesion(g, b, rng.uniform(4, 7), t["lobulation"], rng) < 1
    return inside & ~t["primary"] & t["breast"]


# Pre-contrast signal (fat-saturated T1, relative units), in painting order: fat dark, FGT brighter,
# the tumour faintly brighter than its surroundings.
PRE_CONTRAST = {"thorax": 0.08, "lung": 0.03, "muscle": 0.34, "heart": 0.30, "breast": 0.11, "fgt": 0.40,
                "skin": 0.30, "vessels": 0.26, "lesions": 0.56}  # fmt: skip


def bias_field(g: Grid, rng: np.random.Generator) -> np.ndarray:
    """The coil sensitivity: smooth and multiplicative, the same in every phase."""
    coef = rng.uniform(-0.18, 0.18, size=4)
    nz, ny, nx = g.shape
    log_bias = coef[0] * g.x + coef[1] * g.y + coef[2] * g.x * g.y + coef[3] * g.z
    return np.exp(log_bias + 0.12 * smooth_noise(rng, g.shape, sigma=(nz / 3, ny / 3, nx / 3)))


def phases(
    spec: CaseSpec, t: dict[str, np.ndarray], texture: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The noiseless signal of each phase (``pre``, ``post1``..): the pre-contrast tissue values, then
    vessels and heart, mild progressive parenchymal enhancement, and the tumour's kinetics (whole or rim)."""
    lesions = t["primary"] | t["satellites"]
    base = np.zeros(texture.shape)
    for tissue, value in PRE_CONTRAST.items():
        where = lesions if tissue == "lesions" else t[tissue]
        base[where] = value + (0.05 * texture[where] if tissue == "fgt" else 0)

    peak, amplitude = rng.uniform(0.55, 0.8), KINETICS[spec.kinetics]
    out = {"pre": base}
    for k in range(1, spec.post_phases + 1):
        sig = base.copy()
        sig[t["fgt"]] += 0.04 + 0.03 * k
        vessel_amp = 0.75 * (1.0, 0.85, 0.75, 0.7)[k - 1]
        sig[t["vessels"]] += vessel_amp
        sig[t["heart"]] += vessel_amp * 0.5  # partly out of plane: the tumour stays the brightest
        sig[t["muscle"]] += 0.06
        tum_amp = peak * amplitude[k - 1]
        if spec.enhancement == "rim":
            sig[t["primary"]] += 0.35 * tum_amp
            sig[t["rim"]] += 0.65 * tum_amp
        else:
            sig[t["primary"]] += tum_amp * (0.9 + 0.1 * t["lobulation"][t["primary"]])
        sig[t["satellites"]] += tum_amp
        out[f"post{k}"] = sig
    return out


def acquire(spec: CaseSpec, phase: int, signal: np.ndarray, bias: np.ndarray, gain: float, sigma: float) -> np.ndarray:
    """One phase (0 pre-contrast, k the k-th post-contrast) as the scanner stores it: biased, Rician
    noise from the phase's own stream, scaled to integers."""
    rng = stream(spec, "noise", phase)
    s = signal * bias
    rician = np.sqrt((s + rng.normal(0, sigma, s.shape)) ** 2 + rng.normal(0, sigma, s.shape) ** 2)
    return np.clip(np.round(rician * gain), 0, 65535).astype(np.uint16)


def draw_case(spec: CaseSpec) -> dict[str, np.ndarray]:
    """Generate one case: ``pre``, ``post1``..``postK`` (uint16, z-y-x), ``mask`` (the primary tumour)
    and ``satellites`` (uint8).

    Arrays are indexed (slice, row, column) in LPS: columns run to the patient's left, rows to
    posterior, slices to superior. Intensities are scanner-like integers.
    """
    g = Grid.of(spec)
    t = chest_wall(g, stream(spec, "chest_wall"))
    shapes, found = breasts(g, t["wall"], stream(spec, "breasts"))
    t |= found
    t["fgt"], texture = fibroglandular(g, t["fgt_zone"], t["wall"], stream(spec, "fibroglandular"))
    t["vessels"] = vessels(g, shapes, t["breast"], stream(spec, "vessels"))
    tumour_breast, found = tumour(g, shapes, t["breast"], stream(spec, "tumour"))
    t |= found
    t["satellites"] = (
        satellites(g, tumour_breast, t, stream(spec, "satellites")) if spec.multifocal else np.zeros(g.shape, bool)
    )
    signal = phases(spec, t, texture, stream(spec, "enhancement"))

    coil = stream(spec, "coil")
    bias, gain, sigma = bias_field(g, coil), coil.uniform(700, 1100), coil.uniform(0.012, 0.022)
    out = {name: acquire(spec, k, s, bias, gain, sigma) for k, (name, s) in enumerate(signal.items())}
    out["mask"] = t["primary"].astype(np.uint8)
    out["satellites"] = t["satellites"].astype(np.uint8)
    return out
