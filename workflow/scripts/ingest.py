from dcesynth import logs

log = logs.from_snakemake(snakemake)

from dcesynth.sources import source
from dcesynth.ingest import ingest_dicom_case, ingest_nifti_case

case = snakemake.wildcards.case
outputs = dict(snakemake.output.items())
if source(snakemake.params.source).files:
    ingest_nifti_case(case, dict(snakemake.input.items()), outputs, snakemake.params.resample_mismatched)
else:
    chosen = ingest_dicom_case(
        case,
        snakemake.input.case_dir,
        outputs,
        include=snakemake.params.include,
        exclude=snakemake.params.exclude,
        resample_mismatched=snakemake.params.resample_mismatched,
    )
    log.info("case %s: series used: %s", case, chosen)
