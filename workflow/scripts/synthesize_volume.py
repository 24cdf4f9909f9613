from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.devices import job_device
from dcesynth.synthesis import subtraction_volumes, synthesize_case

i, targets = snakemake.input, snakemake.params.targets  # {target: its files}
synthesize_case(
    i.generator,
    i.slices,
    i.transform,
    i.reference,
    {t: {"volume": f["volume"], "slices": f["slices"]} for t, f in targets.items()},
    target_transforms={t: f["transform"] for t, f in targets.items()},
    intensity=snakemake.params.intensity,
    batch_size=snakemake.params.batch_size,
    device=job_device(snakemake),
    threads=snakemake.threads,
)
for t, f in targets.items():
    subtraction_volumes(i.reference, f["real"], f["slices"], i.transform, f["transform"], f["real_subtraction"],
                        f["synthetic_subtraction"])  # fmt: skip
    log.info("subtractions of %s/%s written", snakemake.wildcards.case, t)
