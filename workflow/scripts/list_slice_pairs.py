from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.training.manifest import write_manifest

n = write_manifest(snakemake.params.files, snakemake.output[0])
log.info("%d slice arrays listed", n)
