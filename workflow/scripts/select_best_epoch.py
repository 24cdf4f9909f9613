from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.evaluation import select_best_epoch

p, o = snakemake.params, snakemake.output
best = select_best_epoch(
    dict(zip(p.epochs, snakemake.input.tables)), dict(zip(p.epochs, snakemake.input.generators)),
    p.same_metrics, p.criterion, o.epochs, o.best, o.generator, o.figure, p.cohort,
)  # fmt: skip
log.info("best epoch by %s: %d", p.criterion, best)
