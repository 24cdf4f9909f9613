from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.evaluation import evaluate_generator
from dcesynth.gan.data import files_by_case

p = snakemake.params
table = evaluate_generator(
    snakemake.input.generator, files_by_case(snakemake.input.slices), p.source, p.target, p.metrics,
    snakemake.output[0], device=p.device, threads=snakemake.threads,
)  # fmt: skip
log.info("epoch %s:\n%s", snakemake.wildcards.epoch, table.to_string(index=False))
