from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.synthesis import subtraction_volumes, synthesize_case

i, targets = snakemake.input, snakemake.params.targets  # {target: its files}
synthesize_case(
    None,
    i.slices,
    i.transform,
    i.reference,
    {t: {"volume": f["volume"], "slices": f["slices"]} for t, f in targets.items()},
    target_transforms={t: f["transform"] for t, f in targets.items()},
    intensity=snakemake.params.intensity,
    external=snakemake.params.external,
)
for t, f in targets.items():
    subtraction_volumes(i.reference, f["real"], f["slices"], i.transform, f["transform"], f["real_subtraction"],
                        f["synthetic_subtraction"])  # fmt: skip
    log.info("%s/%s: imported from %s, with its subtractions", snakemake.wildcards.case, t,
             snakemake.params.external["images"][t])  # fmt: skip
