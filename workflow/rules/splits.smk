# Patient-level splits: synthesis train/val/test and segmentation CV folds.


rule split_cases:
    input:
        sheet=split_sheet(),
    output:
        synthesis=report(
            path("splits", table="synthesis"),
            caption="../report/splits.rst",
            category="Cohort",
            labels={"table": "synthesis split", "cohort": config["data"]["cohort"]},
        ),
        segmentation=report(
            path("splits", table="segmentation"),
            caption="../report/splits.rst",
            category="Cohort",
            labels={"table": "segmentation folds", "cohort": config["data"]["cohort"]},
        ),
        skipped="results/splits/skipped.tsv",
    log:
        "logs/split_cases/split_cases.log",
    benchmark:
        "benchmarks/split_cases/split_cases.tsv"
    # the training chains wait for it: it runs first (PLAN.preprocess_priority)
    priority: PREPROCESS_PRIORITY
    conda:
        "../../envs/imaging.yaml"
    threads: rule_threads("split_cases")
    resources:
        **rule_resources("split_cases"),
    params:
        # The tables the DAG was planned from (computed and checked at parse time), written as is.
        synthesis=PLAN.split_records("synthesis"),
        segmentation=PLAN.split_records("segmentation"),
        skipped=PLAN.skipped,
        cohort=config["data"]["cohort"],
    script:
        "../scripts/split_cases.py"
