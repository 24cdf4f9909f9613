from dcesynth import logs

log = logs.from_snakemake(snakemake)

from pathlib import Path

from dcesynth import dicom
from dcesynth.dicom_export import export_synthetic, first_dicom_file
from dcesynth.gan.state import generator_provenance

wc, p = snakemake.wildcards, snakemake.params
provenance = {**generator_provenance(snakemake.input.generator), "model": "pix2pixHD", "selected": p.selected_by_same}
source_header = None
if p.link_to_source:
    case_dir = Path(snakemake.input.case_dir)
    dce = dicom.select_dce(dicom.find_series(case_dir), p.include, p.exclude)
    pre = dicom.assign_sequences(wc.case, case_dir, dce, ["pre"])["pre"]
    source_header = first_dicom_file(pre.path)
    log.warning("%s: linked to the study of the source series %s (the files identify the patient)", wc.case, pre.label)
export_synthetic(snakemake.input.volume, snakemake.output[0], wc.case, wc.run, wc.seq, provenance, source_header)
