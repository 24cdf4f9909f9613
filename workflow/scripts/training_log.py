from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.training.report import plot_losses, training_log
from dcesynth.io import write_table

table = training_log(snakemake.input)
write_table(table, snakemake.output.table)
plot_losses(table, snakemake.output.figure)
