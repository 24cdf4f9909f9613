from dcesynth import logs

log = logs.from_snakemake(snakemake)

import pandas as pd

from dcesynth import io, segmentation

wc = snakemake.wildcards
rows = []
for case, pred in snakemake.params.predictions.items():
    m = segmentation.case_metrics(snakemake.params.labels[case], pred)
    rows.append({"scenario": wc.scenario, "test_on": wc.domain, "case_id": case, **m})
table = pd.DataFrame(rows)
io.write_table(table, snakemake.output[0])
log.info("%s on %s: mean Dice %.3f over %d cases", wc.scenario, wc.domain, table["dice"].mean(), len(table))
