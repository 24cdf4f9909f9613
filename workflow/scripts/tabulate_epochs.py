from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.evaluation import best_epoch, score_epochs
from dcesynth.figures import plot_epochs
from dcesynth.io import write_table

# epochs.tsv and Fig. 4 apart from the selection: the cohort's name, which only labels the table,
# never touches the chosen generator and what was made from it.
p, o = snakemake.params, snakemake.output
table = score_epochs(p.tables, p.same_metrics, p.cohort)
write_table(table, o.epochs)
plot_epochs(table, p.same_metrics, best_epoch(table, p.criterion), o.figure)
log.info("epochs:\n%s", table.to_string(index=False))
