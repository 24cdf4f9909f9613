# Outputs for viewers outside the pipeline: each synthetic volume as a DICOM MR series.


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
        link_to_source=PLAN.dicom_export["link_to_source"],
        selected_by_same=config["synthesis"]["epoch"] is None and not SYNTHESIS_ONLY,
        include=config["series"]["include"],
        exclude=config["series"]["exclude"],
    script:
        "../scripts/export_dicom.py"
