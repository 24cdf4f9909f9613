from dcesynth import logs

log = logs.from_snakemake(snakemake)

import pandas as pd

from dcesynth import io, segmentation

wc = snakemake.wildcards
rows = []
for case, pred, label in zip(snakemake.params.cases, snakemake.input.predictions, snakemake.input.labels):
    m = segmentation.case_metrics(label, pred)
    rows.append({"scenario": wc.scenario, "test_on": wc.domain, "case_id": case, **m})
table = pd.DataFrame(rows)
io.write_table(table, snakemake.output[0])
log.info("%s on %s: mean Dice %.3f over %d cases", wc.scenario, wc.domain, table["dice"].mean(), len(table))
