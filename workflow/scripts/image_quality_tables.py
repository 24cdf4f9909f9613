from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.devices import job_device

from dcesynth.evaluation import beside_paper, quality_table, read_paper_table
from dcesynth.evaluation.feature_cache import ROOT as FEATURE_CACHE
from dcesynth.training.checkpoints import generator_provenance
from dcesynth.io import write_table

p, i, o = snakemake.params, snakemake.input, snakemake.output
files = {split: {c: p.slices[c] for c in cases} for split, cases in (("val", p.val), ("test", p.test)) if cases}
provenance = {"cohort": p.cohort, **generator_provenance(i.generator)}
table = quality_table(files, p.synthetic, p.input_seq, p.target, p.label, p.metrics, job_device(snakemake), provenance,
                      cache=FEATURE_CACHE)  # fmt: skip
paper = read_paper_table(i.paper[0]).merge(read_paper_table(i.paper[1]), on=["comparison", "dataset"], how="outer")
table = beside_paper(table, paper, p.label)  # each published value beside the column that computes it
write_table(table, o.table1)
paper.insert(0, "cohort", "Duke-Breast-Cancer-MRI (Osuala et al. 2024)")
write_table(paper, o.paper)
log.info("Table 1:\n%s", table.to_string(index=False))
