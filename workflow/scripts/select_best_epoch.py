from dcesynth import logs

log = logs.from_snakemake(snakemake)

import shutil

from dcesynth.evaluation import select_best_epoch
from dcesynth.io import atomic_path, write_json

p, o = snakemake.params, snakemake.output
chosen = select_best_epoch(p.tables, p.same_metrics, p.criterion)
write_json(chosen, o.best)
with atomic_path(o.generator) as tmp:
    shutil.copyfile(p.generators[chosen["epoch"]], tmp)
log.info("best epoch by %s: %d (each SAMe variant: %s)", p.criterion, chosen["epoch"], chosen["epoch_by"])
