from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.evaluation import select_best_epoch

p, i, o = snakemake.params, snakemake.input, snakemake.output
best = select_best_epoch(dict(zip(p.epochs, i.tables)), dict(zip(p.epochs, i.generators)), p.same_metrics, p.criterion,
                         o.best, o.generator)  # fmt: skip
log.info("best epoch by %s: %d", p.criterion, best)
