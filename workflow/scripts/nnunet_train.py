from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.devices import job_device

from pathlib import Path

from dcesynth import nnunet

p, wc = snakemake.params, snakemake.wildcards
nnunet.environment(p.root, snakemake.threads)
resume = nnunet.prepare_fold(Path(p.fold_dir), snakemake.input.preprocessed, p.trainer, p.configuration)
log.info("%s fold %s: %s", wc.dataset, wc.fold, "resuming from its last checkpoint" if resume else "training")
device = job_device(snakemake)  # where the fold runs, not what it computes: not a param (no rerun)
nnunet.train(p.dataset_id, p.configuration, int(wc.fold), p.trainer, p.plans, snakemake.threads, device, resume,
             snakemake.log[0])  # fmt: skip
log.info("%s fold %s trained: %s", wc.dataset, wc.fold, snakemake.output[0])
