from dcesynth import logs

log = logs.from_snakemake(snakemake)

import pandas as pd

from dcesynth.io import write_table

synthesis = pd.DataFrame(snakemake.params.synthesis)
segmentation = pd.DataFrame(snakemake.params.segmentation).astype({"fold": "Int64"})
write_table(synthesis.assign(cohort=snakemake.params.cohort), snakemake.output.synthesis)
write_table(segmentation.assign(cohort=snakemake.params.cohort), snakemake.output.segmentation)
skipped = pd.DataFrame(list(snakemake.params.skipped.items()), columns=["case_id", "reason"])
write_table(skipped.assign(cohort=snakemake.params.cohort), snakemake.output.skipped)
for case, reason in snakemake.params.skipped.items():
    log.warning("case %s skipped: %s", case, reason)
log.info("synthesis: %s", synthesis["split"].value_counts().to_dict())
log.info("segmentation: %s", segmentation["role"].value_counts().to_dict())
