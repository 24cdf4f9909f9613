# Raw DICOM/NIfTI → NIfTI per sequence → N4 bias correction → axial slice arrays.


rule ingest:
    input:
        unpack(ingest_input),
    output:
        **{seq: path("volume", stage="nifti", seq=seq) for seq in SEQS},
    log:
        "logs/ingest/{case}.log",
    benchmark:
        "benchmarks/ingest/{case}.tsv"
    # the training chains wait for it: it runs first (PLAN.preprocess_priority)
    priority: PREPROCESS_PRIORITY
    conda:
        "../../envs/imaging.yaml"
    threads: rule_threads("ingest")
    resources:
        **rule_resources("ingest"),
    params:
        **fingerprint("inputs"),
        source=DATA_SOURCE,
        include=config["series"]["include"],
        exclude=config["series"]["exclude"],
        resample_mismatched=config["ingest"]["resample_mismatched"],
    script:
        "../scripts/ingest.py"


rule ingest_mask:
    input:
        unpack(mask_input),
    output:
        path("mask"),
    log:
        "logs/ingest_mask/{case}.log",
    benchmark:
        "benchmarks/ingest_mask/{case}.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: rule_threads("ingest_mask")
    resources:
        **rule_resources("ingest_mask"),
    params:
        **fingerprint("mask_file"),
        resample_mismatched=config["ingest"]["resample_mismatched"],
        label=config["data"]["mask_label"],
    script:
        "../scripts/ingest_mask.py"


# N4 and slicing run one job per case over all its sequences (not one per volume): Snakemake's
# per-job cost dominates an up-to-date run, so jobs are kept to one per case.
rule n4_bias_correction:
    input:
        **{seq: path("volume", stage="nifti", seq=seq) for seq in SEQS},
    output:
        **{seq: path("volume", stage="n4", seq=seq) for seq in SEQS},
    log:
        "logs/n4_bias_correction/{case}.log",
    benchmark:
        "benchmarks/n4_bias_correction/{case}.tsv"
    # the training chains wait for it: it runs first (PLAN.preprocess_priority)
    priority: PREPROCESS_PRIORITY
    conda:
        "../../envs/imaging.yaml"
    threads: rule_threads("n4_bias_correction")
    resources:
        **rule_resources("n4_bias_correction"),
    params:
        shrink_factor=config["n4"]["shrink_factor"],
        iterations=config["n4"]["iterations"],
        convergence_threshold=config["n4"]["convergence_threshold"],
    script:
        "../scripts/n4_bias_correction.py"


rule extract_slices:
    input:
        **{seq: path("volume", stage=SLICE_STAGE, seq=seq) for seq in SEQS},
    output:
        **{f"{seq}_slices": path("slices", seq=seq) for seq in SEQS},
        **{f"{seq}_transform": path("transform", seq=seq) for seq in SEQS},
    log:
        "logs/extract_slices/{case}.log",
    benchmark:
        "benchmarks/extract_slices/{case}.tsv"
    # the training chains wait for it: it runs first (PLAN.preprocess_priority)
    priority: PREPROCESS_PRIORITY
    conda:
        "../../envs/imaging.yaml"
    threads: rule_threads("extract_slices")
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
