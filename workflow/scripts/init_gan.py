from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.gan.state import save_state
from dcesynth.gan.train import init_state

cfg = snakemake.params.train
save_state(init_state(cfg, cfg.get("init_generator")), snakemake.output[0])
log.info("initial state written (seed %s, generator %s)", cfg["seed"], cfg["generator"])
