from dcesynth import logs

log = logs.from_snakemake(snakemake)

import shutil
from pathlib import Path

from dcesynth import nnunet

p = snakemake.params
root = Path(snakemake.input.raw).parent
nnunet.environment(root, snakemake.threads)
nnunet.plan_and_preprocess(p.dataset_id, p.configuration, snakemake.threads, snakemake.log[0])
# nnU-Net reads the folds from splits_final.json beside the plans: our patient-level folds.
shutil.copyfile(snakemake.input.splits, Path(snakemake.output[0]) / p.dataset / "splits_final.json")
log.info("%s planned and preprocessed (%s)", p.dataset, p.configuration)
