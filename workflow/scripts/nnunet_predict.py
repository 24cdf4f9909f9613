from dcesynth import logs

log = logs.from_snakemake(snakemake)

from pathlib import Path

from dcesynth.devices import job_device

from dcesynth import io, nnunet

p, wc = snakemake.params, snakemake.wildcards
nnunet.environment(p.root, snakemake.threads)
with io.atomic_path(p.out_dir) as tmp:
    if p.cases:
        nnunet.predict(p.model_dir, p.folds, snakemake.input.images, tmp, snakemake.threads, job_device(snakemake), p.tta, p.step_size, snakemake.log[0])
    missing = [c for c in p.cases if not (tmp / f"{c}.nii.gz").exists()]
    if missing:
        raise RuntimeError(f"nnU-Net wrote no prediction for {missing}")
    # the outputs of cases the run has no image of (an external model's missing volumes), in order:
    # an empty prediction each, on its label crop's grid, which the model ranking imputes
    no_image = [Path(f).name for f in snakemake.output if not (tmp / Path(f).name).exists()]
    if len(no_image) != len(snakemake.input.no_image):
        raise RuntimeError(f"{len(no_image)} outputs without an image, {len(snakemake.input.no_image)} label grids for them")
    for name, label in zip(no_image, snakemake.input.no_image):
        nnunet.write_empty_prediction(label, tmp / name)
log.info("%s on %s: ensemble of folds %s, %d cases", wc.scenario, wc.domain, p.folds, len(p.cases))
if no_image:
    cases = ", ".join(n.removesuffix(".nii.gz") for n in no_image)
    log.warning("no %s image of %s: an empty prediction written for each (the model ranking imputes it)", wc.domain, cases)
