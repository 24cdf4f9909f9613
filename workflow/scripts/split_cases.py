from dcesynth import logs

log = logs.from_snakemake(snakemake)

import pandas as pd

from dcesynth.io import write_table

synthesis = pd.DataFrame(snakemake.params.synthesis)
segmentation = pd.DataFrame(snakemake.params.segmentation).astype({"fold": "Int64"})
write_table(synthesis.assign(cohort=snakemake.params.cohort), snakemake.output.synthesis)
write_table(segmentation.assign(cohort=snakemake.params.cohort), snakemake.output.segmentation)
log.info("synthesis: %s", synthesis["split"].value_counts().to_dict())
log.info("segmentation: %s", segmentation["role"].value_counts().to_dict())
