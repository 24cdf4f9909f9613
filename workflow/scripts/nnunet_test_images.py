from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth import segmentation

segmentation.write_test_images(snakemake.output[0], dict(zip(snakemake.params.cases, snakemake.input)))
log.info("%d %s test images", len(snakemake.input), snakemake.wildcards.domain)
