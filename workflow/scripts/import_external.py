from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.synthesis import import_external_case

p = snakemake.params
import_external_case(snakemake.input, p.targets, p.external, p.intensity)
log.info("%s: imported %s, with the subtractions", snakemake.wildcards.case, p.external["images"])
