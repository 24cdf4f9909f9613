from dcesynth import logs

log = logs.from_snakemake(snakemake)

import pandas as pd

from dcesynth import figures, io, segmentation

p = snakemake.params
per_case = pd.concat([pd.read_csv(f, sep="\t") for f in snakemake.input.metrics], ignore_index=True)
paper = pd.read_csv(snakemake.input.paper, sep="\t")
table = segmentation.segmentation_table(per_case, paper, p.scenarios, p.cohort)
io.write_table(table, snakemake.output.table)
io.write_table(per_case, snakemake.output.cases)
figures.plot_segmentation(table, snakemake.output.figure)
log.info("segmentation tables: %d rows, %d per-case results", len(table), len(per_case))
