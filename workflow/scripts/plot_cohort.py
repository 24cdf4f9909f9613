from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.figures import plot_cohort

p = snakemake.params
plot_cohort({case: {**seqs, "mask": p.masks.get(case, "")} for case, seqs in p.volumes.items()}, snakemake.output[0])
