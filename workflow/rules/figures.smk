# Figures for the report.


rule plot_cohort:
    input:
        volumes=expand(path("volume", stage="nifti"), case=example_cases(), seq=SEQS),
        masks=expand(
            path("mask"),
            case=[c for c in example_cases() if c in MASKED],
        ),
    output:
        report(
            path("cohort_figure"),
            caption="../report/cohort.rst",
            category="Cohort",
            labels={"figure": "example cases"},
        ),
    log:
        "logs/plot_cohort/plot_cohort.log",
    benchmark:
        "benchmarks/plot_cohort/plot_cohort.tsv"
    conda:
        "../../envs/imaging.yaml"
    threads: rule_threads("plot_cohort")
    resources:
        **rule_resources("plot_cohort"),
    params:
        volumes=by_case("volume", example_cases(), SEQS, stage="nifti"),
        masks=by_case("mask", [c for c in example_cases() if c in MASKED]),
    script:
        "../scripts/plot_cohort.py"
