# Raw DICOM/NIfTI → NIfTI per sequence (+ N4 bias correction) → axial slice arrays.


# Ingest and N4 are one job per case: N4 needs nothing but the volumes the ingest has just
# written, and at Duke scale a separate N4 rule is 922 jobs more, for every up-to-date run to check
# and for a cluster to queue. An N4 key change re-reads the DICOM too (seconds beside N4's minutes).
rule ingest:
    input:
        unpack(ingest_input),
    output:
        **{seq: f"results/nifti/{{case}}/{seq}.nii.gz" for seq in SEQS},
        **N4_OUTPUTS,
    log:
        "logs/ingest/{case}.log",
    benchmark:
        "benchmarks/ingest/{case}.tsv"
    conda:
        "../../envs/imaging.yaml"
    resources:
        **rule_resources("ingest"),
    params:
        source=SOURCE,
        seqs=SEQS,
        include=config["series"]["include"],
        exclude=config["series"]["exclude"],
        resample_mismatched=config["ingest"]["resample_mismatched"],
        # only when the N4 volumes are used: otherwise N4 keys rerun nothing
        n4=config["n4"] if USE_N4 else None,
    script:
        "../scripts/ingest.py"


rule ingest_mask:
    input:
        unpack(mask_input),
    output:
        "results/nifti/{case}/mask.nii.gz",
    log:
        "logs/ingest_mask/{case}.log",
    conda:
        "../../envs/imaging.yaml"
    params:
        resample_mismatched=config["ingest"]["resample_mismatched"],
    script:
        "../scripts/ingest_mask.py"


# Slicing runs one job per case over all its sequences (not one per volume): Snakemake's per-job
# cost dominates an up-to-date run at Duke scale.
rule extract_slices:
    input:
        **{seq: f"results/{SLICE_STAGE}/{{case}}/{seq}.nii.gz" for seq in SEQS},
    output:
        **{f"{seq}_slices": f"results/slices/{{case}}/{seq}.npy" for seq in SEQS},
        **{f"{seq}_transform": f"results/slices/{{case}}/{seq}.json" for seq in SEQS},
    log:
        "logs/extract_slices/{case}.log",
    benchmark:
        "benchmarks/extract_slices/{case}.tsv"
    conda:
        "../../envs/imaging.yaml"
    resources:
        **rule_resources("extract_slices"),
    params:
        seqs=SEQS,
        size=config["slices"]["size"],
        slice_range=config["slices"]["range"],
        clip_percentiles=config["slices"]["clip_percentiles"],
        joint_scale=config["slices"]["joint_scale"],
        rotate90=config["slices"]["rotate90"],
    script:
        "../scripts/extract_slices.py"
