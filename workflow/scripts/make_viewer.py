from dcesynth import logs

log = logs.from_snakemake(snakemake)

import numpy as np
import SimpleITK as sitk
from tqdm import tqdm

from dcesynth.synthesis import figure_volumes
from dcesynth.viewer import PANELS, case_payload, write_viewer

p = snakemake.params


def array(image):
    image = image if isinstance(image, sitk.Image) else sitk.ReadImage(str(image))
    return sitk.GetArrayFromImage(image).astype(np.float32)


cases = []
for case, volumes in tqdm(figure_volumes(p.files).items(), desc="viewer cases", unit="case", mininterval=5):
    images = {name: array(volumes[name]) for name in PANELS}
    mask = array(volumes["mask"]) > 0 if volumes["mask"] else None
    spacing = volumes["pre"].GetSpacing()[::-1]  # figure_volumes reads the pre-contrast image
    cases.append(case_payload(case, p.roles[case], images, mask, spacing, p.max_voxels))
size = write_viewer(cases, snakemake.output[0], f"dcesynth: synthetic contrast, run {snakemake.wildcards.run} ({p.cohort})")
log.info("viewer of %d cases: %.1f MB -> %s", len(cases), size / 1e6, snakemake.output[0])
