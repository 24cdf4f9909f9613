from dcesynth import logs

log = logs.from_snakemake(snakemake)

from pathlib import Path

import pandas as pd

from dcesynth import io, segmentation

i, p, wc = snakemake.input, snakemake.params, snakemake.wildcards
cv = pd.DataFrame(p.cv, columns=["case_id", "fold"])
cases = cv["case_id"].tolist()

# Inputs come in the order the rule's input function builds them: CV case by case, each in the
# scenario's sources, then one label per CV case.
images = iter(i.images)
labels = dict(zip(cases, i.labels))
training = {(c, s): (next(images), labels[c]) for c in cases for s in p.sources}
splits = segmentation.fold_splits(cv, p.sources, p.n_folds)
segmentation.write_training_set(
    Path(snakemake.output.meta).parent, training, p.channel_name,
    f"dcesynth scenario {wc.scenario} (run {wc.run}): training on {', '.join(p.sources)}",
)
io.write_json(splits, snakemake.output.splits)
log.info("%s: %d training images from %d CV cases, %d patient-level folds", wc.dataset, len(training), len(cases),
         len(splits))
