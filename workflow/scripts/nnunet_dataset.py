from dcesynth import logs

log = logs.from_snakemake(snakemake)

from pathlib import Path

import pandas as pd

from dcesynth import io, segmentation

i, p, wc = snakemake.input, snakemake.params, snakemake.wildcards
cv = pd.DataFrame(p.cv, columns=["case_id", "fold"])
cases = cv["case_id"].tolist()

# Inputs come in the order the rule's input function builds them: CV case by case, each in the
# scenario's sources; labels per CV case; test crops domain by domain.
images = iter(i.images)
labels = dict(zip(cases, i.labels))
training = {(c, s): (next(images), labels[c]) for c in cases for s in p.sources}
tests: dict[str, dict[str, str]] = {}
for f in i.tests:
    case, domain = Path(f).parent.name, Path(f).name.split(".")[0]
    tests.setdefault(domain, {})[case] = f

splits = segmentation.fold_splits(cv, p.sources, p.n_folds)
segmentation.write_raw_dataset(
    Path(snakemake.output.raw) / p.dataset, training, tests, p.channel_name,
    f"dcesynth scenario {wc.scenario} (run {wc.run}): training on {', '.join(p.sources)}",
)
io.write_json(splits, snakemake.output.splits)
log.info("%s: %d training images from %d CV cases, %d folds; test domains %s", p.dataset, len(training), len(cases),
         len(splits), {d: len(c) for d, c in tests.items()})
