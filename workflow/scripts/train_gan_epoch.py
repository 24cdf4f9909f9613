from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.devices import job_device

from dcesynth.gan.data import SlicePairs, read_manifest
from dcesynth.gan.distributed import run_epoch
from dcesynth.gan.train import train_epoch

cfg = snakemake.params.train
# gan.processes is read from the config, not from the params: how many processes train an epoch
# does not change what it computes (the params hold the global batch), so changing it reruns nothing
processes = int(snakemake.config["gan"].get("processes", 1))
files = read_manifest(snakemake.input.pairs)
pairs = SlicePairs(files, cfg["source"], cfg["targets"], cfg["channels"])
epoch = int(snakemake.wildcards.epoch)
log.info("epoch %s: %d training pairs from %d cases, global batch %d in %d process%s", epoch, len(pairs), len(files),
         cfg["batch_size"], processes, "es" if processes > 1 else "")  # fmt: skip
job = dict(state_in=snakemake.input.state, state_out=snakemake.output.state, losses_out=snakemake.output.losses,
           cfg=cfg, epoch=epoch, device=job_device(snakemake), threads=snakemake.threads)  # fmt: skip
if processes > snakemake.threads:
    log.warning("%d training processes share %d thread(s) (resources.train_gan_epoch.threads): the cores are "
                "oversubscribed", processes, snakemake.threads)  # fmt: skip
if processes == 1:
    train_epoch(pairs=pairs, **job)
else:
    run_epoch(processes, manifest=snakemake.input.pairs, **job)
