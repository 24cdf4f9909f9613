from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.devices import job_device

from dcesynth.gan.data import SlicePairs, read_manifest
from dcesynth.gan.train import train_epoch

cfg = snakemake.params.train
files = read_manifest(snakemake.input.pairs)
pairs = SlicePairs(files, cfg["source"], cfg["targets"], cfg["channels"])
log.info("epoch %s: %d training pairs from %d cases", snakemake.wildcards.epoch, len(pairs), len(files))
train_epoch(
    snakemake.input.state,
    snakemake.output.state,
    snakemake.output.losses,
    pairs,
    cfg,
    int(snakemake.wildcards.epoch),
    device=job_device(snakemake),
    threads=snakemake.threads,
)
