from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.devices import job_device

from dcesynth.training.report import preview

p = snakemake.params
summary = preview(
    snakemake.input.generator,
    p.files,
    p.input_seq,
    p.targets,
    snakemake.output.table,
    snakemake.output.figure,
    n_figure_pairs=p.n_figure_pairs,
    batch_size=p.batch_size,
    device=job_device(snakemake),
    threads=snakemake.threads,
)
log.info("validation preview: %s", summary)
