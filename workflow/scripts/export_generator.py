from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.training.checkpoints import export_generator

export_generator(snakemake.input[0], snakemake.output[0])
log.info("generator of epoch %s exported", snakemake.wildcards.epoch)
