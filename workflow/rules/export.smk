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
        # the series patterns find the source series only when the export links to it
        link=(
            {
                "include": config["series"]["include"],
                "exclude": config["series"]["exclude"],
                "source_seq": GAN["source"],
            }
            if PLAN.dicom_export["link_to_source"]
            else None
        ),
        selected_by_same=PLAN.selected_by_same,
        intensity=config["synthesis"]["intensity"],
        cohort=config["data"]["cohort"],
    script:
        "../scripts/export_dicom.py"
