from dcesynth import logs

log = logs.from_snakemake(snakemake)

from pathlib import Path

from dcesynth.figures import plot_cohort

# results/nifti/{case}/{seq}.nii.gz, in the order of params.cases; cases without a mask get ""
by_case = {case: {"mask": ""} for case in snakemake.params.cases}
for path in [*snakemake.input.volumes, *snakemake.input.masks]:
    by_case[Path(path).parent.name][Path(path).name.removesuffix(".nii.gz")] = path
plot_cohort(by_case, snakemake.output[0])
