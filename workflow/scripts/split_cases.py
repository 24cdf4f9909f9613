from dcesynth import logs

log = logs.from_snakemake(snakemake)

import pandas as pd

from dcesynth.io import write_table
from dcesynth.splits import check_splits, duke_splits, generated_splits

cases = pd.DataFrame(snakemake.params.cases)
if snakemake.params.method == "duke":
    sheet = pd.read_csv(snakemake.input.sheet, sep="\t", dtype=str, keep_default_na=False)
    synthesis, segmentation = duke_splits(cases, sheet)
else:
    synthesis, segmentation = generated_splits(
        cases, snakemake.params.test_fraction, snakemake.params.n_folds, snakemake.params.seed
    )
for problem in check_splits(synthesis, segmentation, snakemake.params.n_folds):
    log.warning(problem)
write_table(synthesis, snakemake.output.synthesis)
write_table(segmentation, snakemake.output.segmentation)
log.info("synthesis: %s", synthesis["split"].value_counts().to_dict())
log.info("segmentation: %s", segmentation["role"].value_counts().to_dict())
