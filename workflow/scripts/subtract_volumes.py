from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.synthesis import subtraction_volumes

i, o = snakemake.input, snakemake.output
subtraction_volumes(i.pre, i.real, i.synthetic, i.pre_transform, i.post_transform, o.real, o.synthetic)
log.info("subtractions of %s/%s written", snakemake.wildcards.case, snakemake.wildcards.seq)
