from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.synthesis import subtraction_volumes, synthesize_case

targets = snakemake.params.targets
synthesize_case(
    snakemake.input.generator,
    snakemake.input.slices,
    snakemake.input.transform,
    snakemake.input.reference,
    {t: {"volume": v, "slices": s} for t, v, s in zip(targets, snakemake.output.volumes, snakemake.output.slices)},
    target_transforms=dict(zip(targets, snakemake.input.target_transforms)),
    intensity=snakemake.params.intensity,
    batch_size=snakemake.params.batch_size,
    device=snakemake.config["device"],
    threads=snakemake.threads,
)

i, o = snakemake.input, snakemake.output
for k, target in enumerate(targets):
    subtraction_volumes(i.reference, i.real[k], o.slices[k], i.transform, i.target_transforms[k],
                        o.real_subtractions[k], o.synthetic_subtractions[k])  # fmt: skip
    log.info("subtractions of %s/%s written", snakemake.wildcards.case, target)
