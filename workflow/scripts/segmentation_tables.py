from dcesynth import logs

log = logs.from_snakemake(snakemake)

import pandas as pd

from dcesynth import figures, io, segmentation
from dcesynth.training.checkpoints import generator_provenance

p = snakemake.params
per_case = pd.concat([pd.read_csv(f, sep="\t", dtype={"case_id": str}) for f in snakemake.input.metrics], ignore_index=True)
paper = pd.read_csv(snakemake.input.paper, sep="\t")
provenance = generator_provenance(snakemake.input.generator)
per_case = per_case.assign(cohort=p.cohort, **provenance)
table = segmentation.segmentation_table(per_case, paper, p.scenarios, p.cohort, provenance)
io.write_table(table, snakemake.output.table)
# The paper's layout: Table 2 holds experiment blocks 1 and 2, Table 3 blocks 3 and 4 (+ ours).
io.write_table(table[table["experiment"].isin(["1", "2"])], snakemake.output.table2)
io.write_table(table[~table["experiment"].isin(["1", "2"])], snakemake.output.table3)
io.write_table(per_case, snakemake.output.cases)
figures.plot_segmentation(table, snakemake.output.figure)
log.info("segmentation tables: %d rows, %d per-case results", len(table), len(per_case))
