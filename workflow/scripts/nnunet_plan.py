from dcesynth import logs

log = logs.from_snakemake(snakemake)

import shutil
from pathlib import Path

from dcesynth import nnunet

p, wc = snakemake.params, snakemake.wildcards
out = Path(snakemake.output[0])
nnunet.environment(p.root, snakemake.threads, training=False)
nnunet.plan_and_preprocess(p.dataset_id, p.configuration, snakemake.threads, snakemake.log[0])
# nnU-Net reads the folds from splits_final.json beside the plans: our patient-level folds.
shutil.copyfile(snakemake.input.splits, out / "splits_final.json")
log.info("%s planned and preprocessed (%s)", wc.dataset, p.configuration)
