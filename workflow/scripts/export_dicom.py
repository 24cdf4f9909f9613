from dcesynth import logs

log = logs.from_snakemake(snakemake)

from pathlib import Path

from dcesynth import dicom
from dcesynth.dicom_export import export_synthetic, first_dicom_file
from dcesynth.gan.state import generator_provenance

wc, p = snakemake.wildcards, snakemake.params
provenance = {**generator_provenance(snakemake.input.generator), "model": "pix2pixHD",
              "selected": p.selected_by_same, "intensity": p.intensity}  # fmt: skip
source_header, source_seq = None, "pre"
if p.link:
    case_dir, source_seq = Path(snakemake.input.case_dir), p.link["source_seq"]
    dce = dicom.select_dce(dicom.find_series(case_dir), p.link["include"], p.link["exclude"])
    seqs = ["pre", *(f"post{k}" for k in range(1, len(dce)))]
    series = dicom.assign_sequences(wc.case, case_dir, dce, seqs)[source_seq]
    source_header = first_dicom_file(series.path)
    log.warning("%s: linked to the study of the source series %s (the files identify the patient)", wc.case,
                series.label)  # fmt: skip
export_synthetic(snakemake.input.volume, snakemake.output[0], wc.case, wc.run, wc.seq, provenance, source_header,
                 cohort=p.cohort, source_seq=source_seq)  # fmt: skip
