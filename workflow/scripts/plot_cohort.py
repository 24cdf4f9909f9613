from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.figures import plot_cohort

p = snakemake.params
cases = {
    case: {**{seq: f"results/nifti/{case}/{seq}.nii.gz" for seq in p.seqs},
           "mask": f"results/nifti/{case}/mask.nii.gz" if case in p.masked else ""}
    for case in p.cases
}
plot_cohort(cases, snakemake.output[0])
