from dcesynth import logs

log = logs.from_snakemake(snakemake)

import shutil
from pathlib import Path

from dcesynth import io, nnunet

p, wc = snakemake.params, snakemake.wildcards
images = Path(snakemake.input.images)
nnunet.environment(images.parents[2], snakemake.threads)
out_dir = Path(snakemake.output[0]).parent
with io.atomic_path(out_dir) as tmp:
    nnunet.predict(p.model_dir, p.folds, images, tmp, snakemake.threads, snakemake.config["device"], p.tta, p.step_size, snakemake.log[0])
    missing = [f for f in snakemake.output if not (tmp / Path(f).name).exists()]
    if missing:
        raise RuntimeError(f"nnU-Net wrote no prediction for {missing}")
log.info("%s on %s: ensemble of folds %s, %d cases", wc.scenario, wc.domain, p.folds, len(snakemake.output))
