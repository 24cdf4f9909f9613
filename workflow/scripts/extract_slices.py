from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.io import read_image, write_json, write_npy
from dcesynth.slices import extract_slices, plan_transform

for seq in snakemake.params.seqs:
    image = read_image(snakemake.input[seq])
    transform = plan_transform(
        image,
        size=snakemake.params.size,
        slice_range=snakemake.params.slice_range,
        clip_percentiles=snakemake.params.clip_percentiles,
        rotate90=snakemake.params.rotate90,
    )
    write_npy(extract_slices(image, transform), snakemake.output[f"{seq}_slices"])
    write_json(transform, snakemake.output[f"{seq}_transform"])
    log.info("%d slices of %s/%s", transform["n_slices"], snakemake.wildcards.case, seq)
