"""Write radiomics_reference.npz: PyRadiomics 3.0.1 features of seeded test images.

The cross-check of dcesynth.frd (tests/test_frd.py) compares our features with these values.
PyRadiomics is not a dependency of the project; to regenerate (Python 3.11):

    pip install numpy && pip install --no-build-isolation pyradiomics==3.0.1
    python tests/data/make_radiomics_reference.py

Settings: the FRD v1 2D extraction (normalize x100, bin width 5, voxelArrayShift 300, force2D,
first order, the 22 GLCM features FRD v1 enables, GLRLM, GLSZM, NGTDM) on the original image, without resampling,
with the FRD reference code's ROI (every pixel but the corner).
"""

from pathlib import Path

import numpy as np
import radiomics
import SimpleITK as sitk
from radiomics import featureextractor
from scipy import ndimage

GLCM = [
    "Autocorrelation", "JointAverage", "ClusterProminence", "ClusterShade", "ClusterTendency", "Contrast",
    "Correlation", "DifferenceAverage", "DifferenceEntropy", "DifferenceVariance", "JointEnergy", "JointEntropy",
    "Imc1", "Imc2", "Idm", "Idmn", "Id", "Idn", "InverseVariance", "MaximumProbability", "SumEntropy", "SumSquares",
]  # fmt: skip


def images() -> list[np.ndarray]:
    rng = np.random.default_rng(20241125)
    out = []
    # smooth texture, MRI-like dark background with a bright blob
    t = ndimage.gaussian_filter(rng.normal(size=(48, 40)), 2)
    img = 60 + 400 * t
    yy, xx = np.mgrid[:48, :40]
    img[(yy - 20) ** 2 + (xx - 25) ** 2 < 36] += 120
    out.append(np.clip(img, 0, 255).astype(np.uint8))
    # uniform noise, full range
    out.append(rng.integers(0, 256, size=(32, 32)).astype(np.uint8))
    # few grey levels, mostly flat (empty bins between the levels)
    img = np.zeros((40, 36), np.uint8)
    img[5:30, 4:20] = 90
    img[10:18, 22:34] = 250
    img[rng.random((40, 36)) < 0.05] = 30
    out.append(img)
    # smooth ramp plus noise
    out.append(np.clip(np.linspace(0, 200, 64)[None] + rng.normal(0, 8, (64, 64)), 0, 255).astype(np.uint8))
    return out


def main() -> None:
    settings = {"normalize": True, "normalizeScale": 100, "binWidth": 5, "voxelArrayShift": 300,
                "force2D": True, "force2Ddimension": 0, "label": 1}  # fmt: skip
    ext = featureextractor.RadiomicsFeatureExtractor(**settings)
    ext.disableAllFeatures()
    ext.enableImageTypes(Original={})
    ext.enableFeaturesByName(firstorder=[], glcm=GLCM, glrlm=[], glszm=[], ngtdm=[])
    imgs, feats, names = images(), [], None
    for img in imgs:
        mask = np.ones_like(img, dtype=np.int32)
        mask[0, 0] = 0
        im = sitk.JoinSeries(sitk.GetImageFromArray(img))
        mk = sitk.JoinSeries(sitk.GetImageFromArray(mask))
        res = {k: float(v) for k, v in ext.execute(im, mk).items() if k.startswith("original_")}
        names = names or sorted(res)
        feats.append([res[k] for k in names])
    out = Path(__file__).with_name("radiomics_reference.npz")
    np.savez_compressed(out, names=np.array(names), features=np.array(feats),
                        version=np.array(radiomics.__version__), **{f"image_{k}": im for k, im in enumerate(imgs)})  # fmt: skip
    print(f"{out}: {len(imgs)} images x {len(names)} features (pyradiomics {radiomics.__version__})")


if __name__ == "__main__":
    main()
