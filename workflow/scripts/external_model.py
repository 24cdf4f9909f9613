from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.training.checkpoints import write_external_record

write_external_record(snakemake.params.record, snakemake.output[0])
log.info("external model %s: images %s", snakemake.wildcards.run, snakemake.params.record["images"])
