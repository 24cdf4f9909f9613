"""Fréchet Radiomics Distance (FRD): the Fréchet distance between radiomic feature distributions.

FRD (Osuala et al. 2024; Konz, Osuala et al. 2025, "FRD v1") compares two sets of images by
the radiomic features of each whole image instead of the features of an ImageNet network. This
module computes the features itself, in numpy, with PyRadiomics 3.0.1's definitions and the FRD v1
2D settings, and is cross-checked feature by feature against PyRadiomics
(``tests/test_frd.py``, reference values in ``tests/data/radiomics_reference.npz``, made by
``tests/data/make_radiomics_reference.py``). PyRadiomics itself is not a dependency: its release
for Python 3.11 does not install from PyPI without manual steps (``python -m dcesynth.bench.metrics``
compares the speed of both where it is installed).

Feature set (recorded in every table as the metric's ``provenance``):
- image: the original slice only (FRD v1 also uses LoG and wavelet-filtered images and resamples
  to 2 mm; we do not);
- ROI: every pixel but the corner (0, 0), as the FRD reference code does;
- intensity: z-scored over the whole image and scaled by 100 (``normalize``, ``normalizeScale``),
  discretised with bin width 5, first-order energy/RMS with a shift of 300;
- classes (77 features, FRD v1's set for the original image): first order (18), GLCM (the 22 FRD v1
  enables; distance 1, the four in-plane directions, symmetric, averaged over directions), GLRLM
  (16; runs along the four directions, averaged), GLSZM (16; 8-connected zones), NGTDM (5; the
  8-neighbourhood).

FRD = ln(Fréchet distance) of the features z-scored with the mean and sd of the real set;
features that are constant in the real set or non-finite anywhere are dropped (as FRD v1).
"""

from __future__ import annotations

import numpy as np

NORMALIZE_SCALE = 100.0
BIN_WIDTH = 5.0
VOXEL_ARRAY_SHIFT = 300.0
# In-plane offsets (row, column) of the four GLCM directions at distance 1.
DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1))
EPS = np.spacing(1)

FIRST_ORDER = (
    "Energy", "TotalEnergy", "Entropy", "Minimum", "10Percentile", "90Percentile", "Maximum", "Mean", "Median",
    "InterquartileRange", "Range", "MeanAbsoluteDeviation", "RobustMeanAbsoluteDeviation", "RootMeanSquared",
    "Skewness", "Kurtosis", "Variance", "Uniformity",
)  # fmt: skip
GLCM = (
    "Autocorrelation", "JointAverage", "ClusterProminence", "ClusterShade", "ClusterTendency", "Contrast",
    "Correlation", "DifferenceAverage", "DifferenceEntropy", "DifferenceVariance", "JointEnergy", "JointEntropy",
    "Imc1", "Imc2", "Idm", "Idmn", "Id", "Idn", "InverseVariance", "MaximumProbability", "SumEntropy", "SumSquares",
)  # fmt: skip
GLRLM = (
    "ShortRunEmphasis", "LongRunEmphasis", "GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized",
    "RunLengthNonUniformity", "RunLengthNonUniformityNormalized", "RunPercentage", "GrayLevelVariance",
    "RunVariance", "RunEntropy", "LowGrayLevelRunEmphasis", "HighGrayLevelRunEmphasis",
    "ShortRunLowGrayLevelEmphasis", "ShortRunHighGrayLevelEmphasis", "LongRunLowGrayLevelEmphasis",
    "LongRunHighGrayLevelEmphasis",
)  # fmt: skip
GLSZM = (
    "SmallAreaEmphasis", "LargeAreaEmphasis", "GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized",
    "SizeZoneNonUniformity", "SizeZoneNonUniformityNormalized", "ZonePercentage", "GrayLevelVariance",
    "ZoneVariance", "ZoneEntropy", "LowGrayLevelZoneEmphasis", "HighGrayLevelZoneEmphasis",
    "SmallAreaLowGrayLevelEmphasis", "SmallAreaHighGrayLevelEmphasis", "LargeAreaLowGrayLevelEmphasis",
    "LargeAreaHighGrayLevelEmphasis",
)  # fmt: skip
NGTDM = ("Coarseness", "Contrast", "Busyness", "Complexity", "Strength")
CLASSES = {"firstorder": FIRST_ORDER, "glcm": GLCM, "glrlm": GLRLM, "glszm": GLSZM, "ngtdm": NGTDM}
FEATURE_NAMES = tuple(f"original_{c}_{n}" for c, names in CLASSES.items() for n in names)

PROVENANCE = (
    "radiomics (ours, PyRadiomics 3.0.1 definitions): first order, GLCM, GLRLM, GLSZM, NGTDM of the "
    "original image, FRD v1 settings (normalize x100, bin width 5); ln Frechet distance"
)


def roi_mask(shape: tuple[int, int]) -> np.ndarray:
    """Every pixel but the corner (0, 0): the FRD reference code's whole-image ROI."""
    mask = np.ones(shape, dtype=bool)
    mask[0, 0] = False
    return mask


def normalise(image: np.ndarray) -> np.ndarray:
    """PyRadiomics ``normalizeImage``: z-score over the whole image (sample sd, as SimpleITK), × 100."""
    x = np.asarray(image, dtype=np.float64)
    sd = x.std(ddof=1) if x.size > 1 else 0.0
    return (x - x.mean()) / (sd if sd > 0 else 1.0) * NORMALIZE_SCALE


def discretise(values: np.ndarray) -> np.ndarray:
    """Bin indices (1-based) with fixed bin width, edges anchored at a multiple of the width below the minimum."""
    lo, hi = float(values.min()), float(values.max())
    edges = np.arange(lo - (lo % BIN_WIDTH), hi + 2 * BIN_WIDTH, BIN_WIDTH)
    if len(edges) == 1:  # flat region: one bin
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    return np.digitize(values, edges)


def _percentile(values: np.ndarray, cum: np.ndarray, q: float) -> float:
    """numpy's default (linear) percentile of the sample given as sorted distinct values and cumulative counts."""
    h = (cum[-1] - 1) * q / 100
    lo = int(np.floor(h))
    a, b = np.searchsorted(cum, [lo, min(lo + 1, cum[-1] - 1)], side="right")
    return float(values[a] + (h - lo) * (values[b] - values[a]))


def first_order(values: np.ndarray, counts: np.ndarray, levels: np.ndarray) -> list[float]:
    """The 18 default first-order features of the ROI, given as its sorted distinct intensities
    ``values``, their ``counts`` and their bin indices ``levels`` (a histogram: exact, and for uint8
    slices 256 entries instead of every pixel)."""
    n = counts.sum()
    w = counts / n
    energy = float(np.sum(counts * (values + VOXEL_ARRAY_SHIFT) ** 2))
    per_bin = np.bincount(levels, weights=counts)
    p = per_bin[per_bin > 0] / n
    cum = np.cumsum(counts)
    p10, p25, p50, p75, p90 = (_percentile(values, cum, q) for q in (10, 25, 50, 75, 90))
    mean = float(w @ values)
    dev = values - mean
    m2, m3, m4 = w @ dev**2, w @ dev**3, w @ dev**4
    inner = (values >= p10) & (values <= p90)
    vi, ci = values[inner], counts[inner]
    robust = float(ci @ np.abs(vi - (ci @ vi) / ci.sum()) / ci.sum()) if ci.sum() else 0.0
    return [
        energy,
        energy,  # TotalEnergy: energy × voxel volume, 1 mm³ for slices on a unit grid
        float(-np.sum(p * np.log2(p + EPS))),
        float(values[0]),
        p10,
        p90,
        float(values[-1]),
        mean,
        p50,
        p75 - p25,
        float(values[-1] - values[0]),
        float(w @ np.abs(dev)),
        robust,
        float(np.sqrt(energy / n)),
        float(m3 / m2**1.5) if m2 > 0 else 0.0,
        float(m4 / m2**2) if m2 > 0 else 0.0,
        float(m2),
        float(np.sum(p**2)),
    ]


def glcm_matrices(levels: np.ndarray, mask: np.ndarray, ng: int) -> np.ndarray:
    """Symmetric, normalised co-occurrence matrices ``(directions, ng, ng)`` over bins 1..ng.

    Gray levels absent from the ROI keep empty rows and columns: every feature below weighs
    matrix entries, so they contribute nothing (PyRadiomics deletes them; the values agree).
    Directions without a single pair are dropped, as PyRadiomics does.
    """
    h, w = levels.shape
    out = []
    for dy, dx in DIRECTIONS:
        r0, r1 = slice(0, h - dy), slice(dy, h)
        c0, c1 = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
        both = mask[r0, c0] & mask[r1, c1]
        a, b = levels[r0, c0][both] - 1, levels[r1, c1][both] - 1
        P = np.bincount(a * ng + b, minlength=ng * ng).reshape(ng, ng).astype(np.float64)
        P += P.T
        total = P.sum()
        if total > 0:
            out.append(P / total)
    return np.stack(out) if out else np.zeros((0, ng, ng))


def glcm_features(P: np.ndarray, ng: int) -> list[float]:
    """The 22 FRD v1 GLCM features, each averaged over the directions of ``P``."""
    g = np.arange(1, ng + 1, dtype=np.float64)
    i, j = g[None, :, None], g[None, None, :]
    px, py = P.sum(2), P.sum(1)  # (d, ng)
    ux, uy = (P * i).sum((1, 2)), (P * j).sum((1, 2))  # (d,)
    u = (ux + uy)[:, None, None]
    # sums / differences of the grey-level values: index k of pxAddy is i + j = k + 2, of pxSuby |i − j| = k
    ii, jj = np.meshgrid(np.arange(ng), np.arange(ng), indexing="ij")
    k_sum, k_diff = (ii + jj).ravel(), np.abs(ii - jj).ravel()
    flat = P.reshape(len(P), -1)
    p_add = np.stack([np.bincount(k_sum, weights=f, minlength=2 * ng - 1) for f in flat])
    p_sub = np.stack([np.bincount(k_diff, weights=f, minlength=ng) for f in flat])
    kd = np.arange(ng, dtype=np.float64)
    hxy = -np.sum(P * np.log2(P + EPS), (1, 2))
    hx, hy = -np.sum(px * np.log2(px + EPS), 1), -np.sum(py * np.log2(py + EPS), 1)
    pxy = px[:, :, None] * py[:, None, :]
    hxy1 = -np.sum(P * np.log2(pxy + EPS), (1, 2))
    hxy2 = -np.sum(pxy * np.log2(pxy + EPS), (1, 2))
    sigx = np.sqrt(np.sum(P * (i - ux[:, None, None]) ** 2, (1, 2)))
    sigy = np.sqrt(np.sum(P * (j - uy[:, None, None]) ** 2, (1, 2)))
    corm = np.sum(P * (i - ux[:, None, None]) * (j - uy[:, None, None]), (1, 2))
    corr = np.where(sigx * sigy == 0, 1.0, corm / (sigx * sigy + EPS))
    div = np.fmax(hx, hy)
    imc1 = np.where(div != 0, (hxy - hxy1) / np.where(div != 0, div, 1), 0.0)
    with np.errstate(invalid="ignore"):
        imc2 = np.where(hxy2 == hxy, 0.0, np.sqrt(1 - np.exp(-2 * (hxy2 - hxy))))
    diff_avg = p_sub @ kd
    per_direction = [
        np.sum(P * i * j, (1, 2)),
        ux,
        np.sum(P * (i + j - u) ** 4, (1, 2)),
        np.sum(P * (i + j - u) ** 3, (1, 2)),
        np.sum(P * (i + j - u) ** 2, (1, 2)),
        np.sum(P * (i - j) ** 2, (1, 2)),
        corr,
        diff_avg,
        -np.sum(p_sub * np.log2(p_sub + EPS), 1),
        np.sum(p_sub * (kd[None] - diff_avg[:, None]) ** 2, 1),
        np.sum(P**2, (1, 2)),
        hxy,
        imc1,
        imc2,
        p_sub @ (1 / (1 + kd**2)),
        p_sub @ (1 / (1 + kd**2 / ng**2)),
        p_sub @ (1 / (1 + kd)),
        p_sub @ (1 / (1 + kd / ng)),
        p_sub[:, 1:] @ (1 / kd[1:] ** 2),
        P.max((1, 2)),
        -np.sum(p_add * np.log2(p_add + EPS), 1),
        np.sum(P * (i - ux[:, None, None]) ** 2, (1, 2)),
    ]
    return [float(np.nanmean(v)) for v in per_direction]


def _sheared(levels: np.ndarray) -> np.ndarray:
    """The (1, 1) diagonals of ``levels`` as the columns of an (h, h + w − 1) array, 0 elsewhere."""
    h, w = levels.shape
    r, c = np.indices((h, w))
    out = np.zeros((h, h + w - 1), dtype=levels.dtype)
    out[r, c - r + h - 1] = levels
    return out


def _direction_sequences(levels: np.ndarray) -> list[np.ndarray]:
    """Each of the four directions (rows, columns, both diagonals) as one 1D sequence of its lines,
    each line followed by a 0 (= outside the ROI, which ends a run)."""
    by_line = (levels, levels.T, _sheared(levels).T, _sheared(levels[:, ::-1]).T)
    return [np.pad(x, ((0, 0), (0, 1))).ravel() for x in by_line]


def _ratio_features(P: np.ndarray, n_total: float, lengths: np.ndarray | None = None) -> list[float]:
    """The 16 features GLRLM and GLSZM share, of one matrix ``P`` (grey level 1..ng × run length or
    zone size; ``lengths`` names the columns, default 1..n: absent lengths may be left out)."""
    g = np.arange(1, P.shape[0] + 1, dtype=np.float64)[:, None]
    j = (np.arange(1, P.shape[1] + 1) if lengths is None else np.asarray(lengths)).astype(np.float64)[None, :]
    n = P.sum()
    pr, pg = P.sum(0), P.sum(1)
    jv, gv = j[0], g[:, 0]
    pg_n, pr_n = pg / n, pr / n
    p = P / n
    return [
        float(np.sum(pr / jv**2) / n),
        float(np.sum(pr * jv**2) / n),
        float(np.sum(pg**2) / n),
        float(np.sum(pg**2) / n**2),
        float(np.sum(pr**2) / n),
        float(np.sum(pr**2) / n**2),
        float(n / n_total),
        float(np.sum(pg_n * (gv - pg_n @ gv) ** 2)),
        float(np.sum(pr_n * (jv - pr_n @ jv) ** 2)),
        float(-np.sum(p * np.log2(p + EPS))),
        float(np.sum(pg / gv**2) / n),
        float(np.sum(pg * gv**2) / n),
        float(np.sum(P / (g**2 * j**2)) / n),
        float(np.sum(P * g**2 / j**2) / n),
        float(np.sum(P * j**2 / g**2) / n),
        float(np.sum(P * g**2 * j**2) / n),
    ]


def glrlm_features(levels: np.ndarray, ng: int) -> list[float]:
    """The 16 GLRLM features: runs of one grey level along the four directions (broken by the ROI
    border), one matrix per direction, features averaged over directions."""
    nr = max(levels.shape)
    per_direction = []
    for seq in _direction_sequences(levels):
        starts = np.concatenate([[0], np.flatnonzero(np.diff(seq)) + 1])
        lengths = np.diff(np.append(starts, len(seq)))
        value = seq[starts]
        keep = value > 0
        if not keep.any():
            continue
        P = np.bincount((value[keep] - 1) * nr + lengths[keep] - 1, minlength=ng * nr).reshape(ng, nr).astype(np.float64)
        per_direction.append(_ratio_features(P, float(np.sum(P * np.arange(1, nr + 1)))))
    return [float(np.nanmean(v)) for v in zip(*per_direction)]


def glszm_features(levels: np.ndarray, ng: int) -> list[float]:
    """The 16 GLSZM features: zones of 8-connected pixels of one grey level."""
    from skimage.measure import label

    zones = label(levels, background=0, connectivity=2)
    n_zones = int(zones.max())
    sizes = np.bincount(zones.ravel(), minlength=n_zones + 1)[1:]
    zone_level = np.zeros(n_zones + 1, dtype=np.int64)
    zone_level[zones.ravel()] = levels.ravel()
    # columns: the zone sizes that occur (a dense 1..n_roi axis would be ng × 262k at 512²)
    present, column = np.unique(sizes, return_inverse=True)
    P = np.bincount((zone_level[1:] - 1) * len(present) + column, minlength=ng * len(present))
    return _ratio_features(P.reshape(ng, len(present)).astype(np.float64), float(sizes.sum()), present)


def ngtdm_features(levels: np.ndarray, mask: np.ndarray, ng: int) -> list[float]:
    """The 5 NGTDM features: each ROI pixel against the mean of its in-ROI 8-neighbours (pixels
    without one are left out)."""
    from scipy import ndimage

    kernel = np.ones((3, 3))
    kernel[1, 1] = 0
    m = mask.astype(np.float64)
    total = ndimage.correlate(levels.astype(np.float64) * m, kernel, mode="constant")
    count = ndimage.correlate(m, kernel, mode="constant")
    valid = mask & (count > 0)
    lv = levels[valid]
    diff = np.abs(lv - total[valid] / count[valid])
    n_i = np.bincount(lv, minlength=ng + 1)[1:].astype(np.float64)
    s_i = np.bincount(lv, weights=diff, minlength=ng + 1)[1:]
    present = n_i > 0
    n_vp = n_i.sum()
    p, s, i = n_i[present] / n_vp, s_i[present], np.arange(1, ng + 1, dtype=np.float64)[present]
    ngp = len(p)
    psum = p @ s
    di = i[:, None] - i[None, :]
    pp = p[:, None] + p[None, :]
    ip = i * p
    absdiff = np.abs(ip[:, None] - ip[None, :]).sum()
    ps = p * s
    return [
        float(1 / psum) if psum != 0 else 1e6,
        float(np.sum(p[:, None] * p[None, :] * di**2) * s.sum() / n_vp / (ngp * (ngp - 1))) if ngp > 1 else 0.0,
        float(psum / absdiff) if absdiff != 0 else 0.0,
        float(np.sum(np.abs(di) * (ps[:, None] + ps[None, :]) / pp) / n_vp),
        float(np.sum(pp * di**2) / s.sum()) if s.sum() != 0 else 0.0,
    ]


def image_features(image: np.ndarray, mask: np.ndarray | None = None, normalize: bool = True) -> np.ndarray:
    """The radiomic feature vector (``FEATURE_NAMES``) of one 2D image, inside ``mask`` (default:
    the whole image, :func:`roi_mask`). ``normalize=False`` skips PyRadiomics' z-scoring over the
    image and only scales by 100: for slices already on a shared scale (MAMA-SYNTH's z-scores
    with pre-contrast statistics), whose intensity level is itself the information."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"radiomic features take 2D slices, got shape {image.shape}")
    mask = roi_mask(image.shape) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != image.shape or not mask.any():
        raise ValueError(f"the ROI must be a non-empty mask of the slice's shape {image.shape}, got {mask.shape}")
    if image.dtype == np.uint8 and normalize:  # everything from 256-entry histograms: the normalisation is affine
        full = np.bincount(image.ravel(), minlength=256)
        raw = np.arange(256, dtype=np.float64)
        mean = full @ raw / full.sum()
        sd = np.sqrt(full @ (raw - mean) ** 2 / (full.sum() - 1)) if full.sum() > 1 else 0.0
        norm = (raw - mean) / (sd if sd > 0 else 1.0) * NORMALIZE_SCALE
        counts = np.bincount(image[mask], minlength=256)
        present = counts > 0
        lut = np.zeros(256, dtype=np.int64)
        lut[present] = discretise(norm[present])
        values, counts, value_levels = norm[present], counts[present], lut[present]
        levels = lut[image]
    else:
        scaled = normalise(image) if normalize else np.asarray(image, dtype=np.float64) * NORMALIZE_SCALE
        values, inverse, counts = np.unique(scaled[mask], return_inverse=True, return_counts=True)
        value_levels = discretise(values)
        levels = np.zeros(image.shape, dtype=np.int64)
        levels[mask] = value_levels[inverse]
    levels[~mask] = 0
    ng = int(value_levels.max())
    fo = first_order(values, counts, value_levels)
    texture = glcm_features(glcm_matrices(levels, mask, ng), ng)
    texture += glrlm_features(levels, ng) + glszm_features(levels, ng) + ngtdm_features(levels, mask, ng)
    return np.array(fo + texture)


class RadiomicsFeatures:
    """FRD "extractor": radiomic features of uint8 slices ``(n, H, W)``; ``distance`` gives FRD."""

    provenance = PROVENANCE

    def __call__(self, slices: np.ndarray) -> np.ndarray:
        slices = np.asarray(slices)
        return np.stack([image_features(s) for s in slices]) if len(slices) else np.zeros((0, len(FEATURE_NAMES)))

    def distance(self, real: np.ndarray, fake: np.ndarray) -> float:
        return frd(self(real), self(fake))


def frd(real_features: np.ndarray, fake_features: np.ndarray) -> float:
    """ln of the Fréchet distance of features z-scored by the real set (FRD v1).

    Features with zero sd in the real set or any non-finite value are dropped first."""
    a, b = np.asarray(real_features, np.float64), np.asarray(fake_features, np.float64)
    mean, sd = a.mean(0), a.std(0)
    # constant means equal values (the range is exact; the sd of equal values can be ~1e-10)
    varies = np.ptp(a, axis=0) > 0 if len(a) else np.zeros(a.shape[1], bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = (a - mean) / sd, (b - mean) / sd
    keep = varies & np.isfinite(a).all(0) & np.isfinite(b).all(0)
    if not keep.any():
        raise ValueError("no radiomic feature varies across the real images: FRD is undefined")
    from .metrics import frechet_distance_of_features  # here: a job that only extracts features needs no torch

    return float(np.log(max(frechet_distance_of_features(a[:, keep], b[:, keep]), np.finfo(float).tiny)))
