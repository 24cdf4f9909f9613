from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.figures import plot_synthesis_grid, plot_tumour_crops
from dcesynth.synthesis import figure_volumes

p = snakemake.params
cases = figure_volumes(p.files)
plot_synthesis_grid(cases, snakemake.output.grid)
plot_tumour_crops(cases, snakemake.output.crops, margin_mm=p.margin_mm)
log.info("synthesis figures for %s", ", ".join(cases))
