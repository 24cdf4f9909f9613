from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.ingest import ingest_mask

n = ingest_mask(
    snakemake.wildcards.case,
    snakemake.input.mask,
    snakemake.input.reference,
    snakemake.output[0],
    snakemake.params.resample_mismatched,
    snakemake.params.label,
)
log.info("case %s: mask with %d tumour voxels", snakemake.wildcards.case, n)
