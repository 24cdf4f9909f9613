from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.devices import job_device

from dcesynth import io, nnunet

p, wc = snakemake.params, snakemake.wildcards
nnunet.environment(p.root, snakemake.threads)
with io.atomic_path(p.out_dir) as tmp:
    nnunet.predict(p.model_dir, p.folds, snakemake.input.images, tmp, snakemake.threads, job_device(snakemake), p.tta, p.step_size, snakemake.log[0])
    missing = [c for c in p.cases if not (tmp / f"{c}.nii.gz").exists()]
    if missing:
        raise RuntimeError(f"nnU-Net wrote no prediction for {missing}")
log.info("%s on %s: ensemble of folds %s, %d cases", wc.scenario, wc.domain, p.folds, len(p.cases))
