from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.evaluation import select_best_epoch

p, o = snakemake.params, snakemake.output
best = select_best_epoch(p.tables, p.generators, p.same_metrics, p.criterion, o.best, o.generator)
log.info("best epoch by %s: %d", p.criterion, best)
