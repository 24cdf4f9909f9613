from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.evaluation import tumour_region_table
from dcesynth.io import write_table

p = snakemake.params
cases = {c: {"mask": m, "transform": p.transforms[c], "pre": p.slices[c][p.input_seq], "real": p.slices[c][p.target],
             "synthetic": p.synthetic[c]} for c, m in p.masks.items()}  # fmt: skip
split_of = {c: "val" for c in p.val} | {c: "test" for c in p.test}
table = tumour_region_table(cases, p.margin_mm, split_of, p.cohort)
write_table(table, snakemake.output[0])
for region, t in table.groupby("region"):
    log.info("%s: MAE synthetic %.2f, pre-contrast %.2f (mean over %d cases; synthetic closer in %d)", region,
             t["mae_synthetic"].mean(), t["mae_pre"].mean(), len(t), int((t["mae_synthetic"] < t["mae_pre"]).sum()))  # fmt: skip
