from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.devices import job_device

from dcesynth.evaluation import evaluate_generator
from dcesynth.evaluation.feature_cache import ROOT as FEATURE_CACHE
from dcesynth.training.manifest import read_manifest

p = snakemake.params
table = evaluate_generator(
    snakemake.input.generator, read_manifest(snakemake.input.pairs), p.input_seq, p.target, p.metrics,
    snakemake.output[0], device=job_device(snakemake), threads=snakemake.threads, n_targets=p.n_targets,
    cache=FEATURE_CACHE,
)  # fmt: skip
log.info("epoch %s:\n%s", snakemake.wildcards.epoch, table.to_string(index=False))
