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


# The interactive viewer: one self-contained HTML file (opened from disk, and in the report).
rule viewer:
    input:
        viewer_inputs,
    output:
        report(
            path("viewer"),
            caption="../report/viewer.rst",
            category="Synthetic contrast",
            labels={"figure": "interactive viewer"},
        ),
    log:
        "logs/viewer/{run}.log",
    benchmark:
        "benchmarks/viewer/{run}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("viewer")
    resources:
        **rule_resources("viewer"),
    params:
        files=lambda wc: PLAN.figure_files(wc.run, PLAN.viewer_cases()),
        roles=lambda wc: PLAN.case_roles(PLAN.viewer_cases()),
        max_voxels=config["report"]["viewer_max_voxels"],
        cohort=config["data"]["cohort"],
    script:
        "../scripts/make_viewer.py"
