from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.training.data import write_manifest

n = write_manifest(snakemake.params.files, snakemake.output[0])
log.info("%d slice arrays listed", n)
