from dcesynth import logs

log = logs.from_snakemake(snakemake)

import pandas as pd

from dcesynth import io, segmentation

p, wc = snakemake.params, snakemake.wildcards
cv = pd.DataFrame(p.cv, columns=["case_id", "fold"])
training = {(c, s): (p.images[c][s], p.labels[c]) for c in cv["case_id"] for s in p.image_kinds}
splits = segmentation.fold_splits(cv, p.image_kinds, p.n_folds)
segmentation.write_training_set(
    p.dataset_dir, training, p.channel_name,
    f"dcesynth scenario {wc.scenario} (run {wc.run}): training on {', '.join(p.image_kinds)}",
)
io.write_json(splits, snakemake.output.splits)
log.info("%s: %d training images from %d CV cases, %d patient-level folds", wc.dataset, len(training), len(cv),
         len(splits))
