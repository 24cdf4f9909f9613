from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.ingest import ingest_dicom_case, ingest_nifti_case
from dcesynth.io import read_image, write_image
from dcesynth.n4 import n4_correct

case = snakemake.wildcards.case
params = snakemake.params
outputs = {seq: snakemake.output[seq] for seq in params.seqs}
if params.source == "nifti":
    ingest_nifti_case(case, dict(snakemake.input.items()), outputs, params.resample_mismatched)
else:
    chosen = ingest_dicom_case(
        case,
        snakemake.input.case_dir,
        outputs,
        include=params.include,
        exclude=params.exclude,
        resample_mismatched=params.resample_mismatched,
    )
    log.info("case %s: series used: %s", case, chosen)

if params.n4:
    for seq in params.seqs:
        corrected, _ = n4_correct(read_image(outputs[seq]), **params.n4)
        write_image(corrected, snakemake.output[f"n4_{seq}"])
        log.info("N4-corrected %s/%s", case, seq)
