from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth import segmentation

segmentation.write_test_images(snakemake.output[0], snakemake.params.crops)
log.info("%d %s test images", len(snakemake.params.crops), snakemake.wildcards.domain)
