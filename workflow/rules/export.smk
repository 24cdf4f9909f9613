# Outputs for viewers outside the pipeline: each synthetic volume as a DICOM MR series, and each
# segmentation prediction as a DICOM SEG on the series of the image it was predicted on.


rule export_dicom:
    input:
        unpack(export_source),
        volume=path("synthetic"),
        generator=synthesis_generator,
    output:
        directory(path("dicom_series")),
    log:
        "logs/export_dicom/{run}/{case}/{seq}.log",
    benchmark:
        "benchmarks/export_dicom/{run}/{case}/{seq}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("export_dicom")
    resources:
        **rule_resources("export_dicom"),
    params:
        # the series patterns find the source series only when the export links to it
        link=dicom_link_params(),
        selected_by_same=lambda wc: PLAN.selected_by_same_of(wc.run),
        intensity=config["synthesis"]["intensity"],
        cohort=config["data"]["cohort"],
    script:
        "../scripts/export_dicom.py"


# One job per test case: the acquired images its predictions were made on, as series, and one SEG
# per prediction (scenario and test domain) referencing the series of its test image.
if PLAN.dicom_seg_enabled:

    rule export_dicom_seg:
        input:
            unpack(dicom_seg_input),
        output:
            dicom_seg_output(),
        log:
            "logs/export_dicom_seg/{run}/{case}.log",
        benchmark:
            "benchmarks/export_dicom_seg/{run}/{case}.tsv"
        conda:
            "../../envs/torch.yaml"
        threads: rule_threads("export_dicom_seg")
        resources:
            **rule_resources("export_dicom_seg"),
        params:
            files=lambda wc: PLAN.dicom_seg_files(wc.run, wc.case),
            folds={s: PLAN.folds(s) for s in dict(PLAN.seg_pairs)},
            stage=PLAN.slice_stage,
            link=dicom_link_params(),
            cohort=config["data"]["cohort"],
        script:
            "../scripts/export_dicom_seg.py"
