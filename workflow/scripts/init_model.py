from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.models import family_of
from dcesynth.training.checkpoints import save_state
from dcesynth.training.epoch import init_state

cfg = snakemake.params.train
save_state(init_state(cfg, cfg.get("init_generator")), snakemake.output[0])
log.info("initial %s state written (seed %s, options %s%s)", family_of(cfg).name, cfg["seed"],
         cfg.get("options", cfg.get("generator")), f", target {cfg['target']}" if "target" in cfg else "")  # fmt: skip
