# Raw DICOM/NIfTI → NIfTI per sequence → N4 bias correction → axial slice arrays.


rule ingest:
    input:
        unpack(ingest_input),
    output:
        **{seq: f"results/nifti/{{case}}/{seq}.nii.gz" for seq in SEQS},
    params:
        source=SOURCE,
        include=config["series"]["include"],
        exclude=config["series"]["exclude"],
        resample_mismatched=config["ingest"]["resample_mismatched"],
    resources:
        **rule_resources("ingest"),
    log:
        "logs/ingest/{case}.log",
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/ingest.py"


rule ingest_mask:
    input:
        unpack(mask_input),
    output:
        "results/nifti/{case}/mask.nii.gz",
    params:
        resample_mismatched=config["ingest"]["resample_mismatched"],
    log:
        "logs/ingest_mask/{case}.log",
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/ingest_mask.py"


rule n4_bias_correction:
    input:
        "results/nifti/{case}/{seq}.nii.gz",
    output:
        "results/n4/{case}/{seq}.nii.gz",
    params:
        shrink_factor=config["n4"]["shrink_factor"],
        iterations=config["n4"]["iterations"],
        convergence_threshold=config["n4"]["convergence_threshold"],
    threads: 1
    resources:
        **rule_resources("n4_bias_correction"),
    log:
        "logs/n4_bias_correction/{case}/{seq}.log",
    benchmark:
        "benchmarks/n4_bias_correction/{case}/{seq}.tsv"
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/n4_bias_correction.py"


rule extract_slices:
    input:
        slice_source,
    output:
        slices="results/slices/{case}/{seq}.npy",
        transform="results/slices/{case}/{seq}.json",
    params:
        size=config["slices"]["size"],
        slice_range=config["slices"]["range"],
        clip_percentiles=config["slices"]["clip_percentiles"],
        rotate90=config["slices"]["rotate90"],
    resources:
        **rule_resources("extract_slices"),
    log:
        "logs/extract_slices/{case}/{seq}.log",
    benchmark:
        "benchmarks/extract_slices/{case}/{seq}.tsv"
    conda:
        "../../envs/imaging.yaml"
    script:
        "../scripts/extract_slices.py"
