from dcesynth import logs

log = logs.from_snakemake(snakemake)

import pandas as pd

from dcesynth.io import write_table
from dcesynth.splits import check_splits, make_splits

cases = pd.DataFrame(snakemake.params.cases)
synthesis, segmentation = make_splits(cases, snakemake.params.splits, snakemake.input.sheet or None)
for problem in check_splits(synthesis, segmentation, snakemake.params.splits["n_folds"]):
    log.warning(problem)
write_table(synthesis.assign(cohort=snakemake.params.cohort), snakemake.output.synthesis)
write_table(segmentation.assign(cohort=snakemake.params.cohort), snakemake.output.segmentation)
log.info("synthesis: %s", synthesis["split"].value_counts().to_dict())
log.info("segmentation: %s", segmentation["role"].value_counts().to_dict())
