from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.io import read_image, write_json, write_npy
from dcesynth.slices import extract_slices, plan_case_transforms

p = snakemake.params
images = {seq: read_image(snakemake.input[seq]) for seq in p.seqs}
transforms = plan_case_transforms(images, p.joint_scale, size=p.size, slice_range=p.slice_range,
                                  clip_percentiles=p.clip_percentiles, rotate90=p.rotate90)  # fmt: skip
for seq, image in images.items():
    write_npy(extract_slices(image, transforms[seq]), snakemake.output[f"{seq}_slices"])
    write_json(transforms[seq], snakemake.output[f"{seq}_transform"])
    log.info("%d slices of %s/%s", transforms[seq]["n_slices"], snakemake.wildcards.case, seq)
