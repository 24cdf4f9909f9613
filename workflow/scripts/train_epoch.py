from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.devices import job_device
from dcesynth.models import family_of
from dcesynth.training.data import training_pairs
from dcesynth.training.manifest import read_manifest

cfg = snakemake.params.train
family = family_of(cfg)
# gan.processes and gan.nodes are read from the config, not from the params: how many processes
# train an epoch does not change what it computes (the params hold the global batch), so changing
# it reruns nothing. A family that cannot train in several processes trains in one.
processes = int(snakemake.config["gan"].get("processes", 1)) if family.processes else 1
nodes = int(snakemake.config["gan"].get("nodes", 1)) if family.processes else 1
files = read_manifest(snakemake.input.pairs)
pairs = training_pairs(files, cfg)
epoch = int(snakemake.wildcards.epoch)
log.info("%s epoch %s: %d training pairs from %d cases, global batch %d in %d process%s%s", family.name, epoch,
         len(pairs), len(files), cfg["batch_size"], processes, "es" if processes > 1 else "",
         f" on {nodes} nodes" if nodes > 1 else "")  # fmt: skip
job = dict(state_in=snakemake.input.state, state_out=snakemake.output.state, losses_out=snakemake.output.losses,
           cfg=cfg, epoch=epoch, device=job_device(snakemake), threads=snakemake.threads)  # fmt: skip
if processes // nodes > snakemake.threads:
    log.warning("%d training processes share %d thread(s) (resources.train_epoch.threads): the cores are "
                "oversubscribed", processes, snakemake.threads)  # fmt: skip
if processes == 1:
    from dcesynth.training.epoch import train_epoch

    train_epoch(pairs=pairs, **job)
else:
    from dcesynth.training.distributed import run_epoch

    run_epoch(processes, nodes, manifest=snakemake.input.pairs, **job)
