from dcesynth import logs

log = logs.from_snakemake(snakemake)

from pathlib import Path

from dcesynth.evaluation import tumour_region_table
from dcesynth.gan.data import files_by_case
from dcesynth.io import write_table

p, i = snakemake.params, snakemake.input
slices = files_by_case(i.slices)
synthetic = {Path(s).parent.name: s for s in i.synthetic}
transforms = {Path(t).parent.name: t for t in i.transforms}
masks = {Path(m).parent.name: m for m in i.masks}
cases = {c: {"mask": m, "transform": transforms[c], "pre": slices[c][p.source], "real": slices[c][p.target],
             "synthetic": synthetic[c]} for c, m in masks.items()}  # fmt: skip
split_of = {c: "val" for c in p.val} | {c: "test" for c in p.test}
table = tumour_region_table(cases, p.source, p.target, p.margin_mm, split_of, p.cohort)
write_table(table, snakemake.output[0])
for region, t in table.groupby("region"):
    log.info("%s: MAE synthetic %.2f, pre-contrast %.2f (mean over %d cases; synthetic closer in %d)", region,
             t["mae_synthetic"].mean(), t["mae_pre"].mean(), len(t), int((t["mae_synthetic"] < t["mae_pre"]).sum()))  # fmt: skip
