from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.phantom import CaseSpec, write_case

summary = write_case(CaseSpec(**snakemake.params.spec), snakemake.output.case_dir, snakemake.output.mask)
log.info("phantom case written: %s", summary)
