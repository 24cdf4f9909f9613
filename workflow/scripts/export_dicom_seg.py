from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.dicom_export import export_reference, linked_source_header
from dcesynth.dicom_seg import write_segmentation

wc, p = snakemake.wildcards, snakemake.params
source_header = None
if p.link:
    source_header = linked_source_header(wc.case, snakemake.input.case_dir, p.link["include"], p.link["exclude"],
                                         p.link["source_seq"])  # fmt: skip
references = p.files["references"]
for domain, ref in references.items():
    if domain != "syn_post":  # the synthetic series is the synthetic export's
        export_reference(ref["volume"], ref["series"], wc.case, ref["seq"], p.stage, source_header, cohort=p.cohort)
for key, files in p.files["predictions"].items():
    scenario, domain = key.split("|")
    write_segmentation(files["prediction"], references[domain]["volume"], references[domain]["series"], files["seg"],
                       case=wc.case, run=wc.run, scenario=scenario, domain=domain, folds=p.folds[scenario])  # fmt: skip
