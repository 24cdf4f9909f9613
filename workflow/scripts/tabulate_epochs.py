from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.evaluation import tabulate_epochs

p, o = snakemake.params, snakemake.output
table = tabulate_epochs(p.tables, p.same_metrics, p.criterion, p.cohort, o.epochs, o.figure)
log.info("epochs:\n%s", table.to_string(index=False))
