from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.gan.state import save_state

cfg = snakemake.params.train
if "family" in cfg:  # a further model family (config models)
    from dcesynth.models.train import init_model_state

    save_state(init_model_state(cfg), snakemake.output[0])
    log.info("initial %s state written (seed %s, options %s, target %s)", cfg["family"], cfg["seed"], cfg["options"],
             cfg["target"])  # fmt: skip
else:
    from dcesynth.gan.train import init_state

    save_state(init_state(cfg, cfg.get("init_generator")), snakemake.output[0])
    log.info("initial state written (seed %s, generator %s)", cfg["seed"], cfg["generator"])
