from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.dicom_export import export_synthetic, linked_source_header
from dcesynth.training.checkpoints import generator_family, generator_provenance

wc, p = snakemake.wildcards, snakemake.params
provenance = {**generator_provenance(snakemake.input.generator), "model": generator_family(snakemake.input.generator),
              "selected": p.selected_by_same, "intensity": p.intensity}  # fmt: skip
source_header, source_seq = None, "pre"
if p.link:
    source_seq = p.link["source_seq"]
    source_header = linked_source_header(wc.case, snakemake.input.case_dir, p.link["include"], p.link["exclude"],
                                         source_seq)  # fmt: skip
export_synthetic(snakemake.input.volume, snakemake.output[0], wc.case, wc.run, wc.seq, provenance, source_header,
                 cohort=p.cohort, source_seq=source_seq)  # fmt: skip
