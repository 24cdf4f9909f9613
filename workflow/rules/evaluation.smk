# Per-epoch validation metrics, SAMe epoch selection, and the paper's Table 1.


rule evaluate_epoch:
    input:
        generator=path("generator"),
        pairs=path("pairs", split="val"),
    output:
        path("epoch_metrics"),
    log:
        "logs/evaluate_epoch/{run}/epoch_{epoch}.log",
    benchmark:
        "benchmarks/evaluate_epoch/{run}/epoch_{epoch}.tsv"
    # the training chains and their synthesis are the long pole: start them first
    priority: training_priority
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("evaluate_epoch")
    resources:
        **rule_resources("evaluate_epoch", gpu=1),
    params:
        metrics=EPOCH_SCORING,
        input_seq=GAN["input"],
        target=GAN["targets"][0],
        n_targets=len(GAN["targets"]),
    script:
        "../scripts/evaluate_epoch.py"


rule select_best_epoch:
    input:
        tables=lambda wc: expand(
            path("epoch_metrics", run=wc.run), epoch=run_eval_epochs(wc)
        ),
        generators=lambda wc: expand(
            path("generator", run=wc.run), epoch=run_eval_epochs(wc)
        ),
    output:
        best="results/metrics/{run}/best_epoch.json",
        generator=path("generator_best"),
    log:
        "logs/select_best_epoch/{run}.log",
    benchmark:
        "benchmarks/select_best_epoch/{run}.tsv"
    # the training chains and their synthesis are the long pole: start them first
    priority: training_priority
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("select_best_epoch")
    resources:
        **rule_resources("select_best_epoch"),
    params:
        tables=lambda wc: epoch_files("epoch_metrics", wc.run),
        generators=lambda wc: epoch_files("generator", wc.run),
        same_metrics=config["metrics"]["same_metrics"],
        criterion=config["metrics"]["selection"],
    script:
        "../scripts/select_best_epoch.py"


# The table and figure of every evaluated epoch: apart from the selection, so that labels such as
# the cohort's name never touch the chosen generator and what was made from it.
rule tabulate_epochs:
    input:
        tables=lambda wc: expand(
            path("epoch_metrics", run=wc.run), epoch=run_eval_epochs(wc)
        ),
    output:
        epochs=report(
            path("epochs_table"),
            caption="../report/epochs.rst",
            category="Epoch selection (SAMe)",
            labels={"table": "metrics per epoch", "cohort": config["data"]["cohort"]},
        ),
        figure=report(
            "results/metrics/{run}/figures/epochs.png",
            caption="../report/epochs.rst",
            category="Epoch selection (SAMe)",
            labels={"figure": "Fig. 4: metrics and SAMe per epoch"},
        ),
    log:
        "logs/tabulate_epochs/{run}.log",
    benchmark:
        "benchmarks/tabulate_epochs/{run}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("tabulate_epochs")
    resources:
        **rule_resources("tabulate_epochs"),
    params:
        tables=lambda wc: epoch_files("epoch_metrics", wc.run),
        same_metrics=config["metrics"]["same_metrics"],
        criterion=config["metrics"]["selection"],
        cohort=config["data"]["cohort"],
    script:
        "../scripts/tabulate_epochs.py"


rule image_quality_tables:
    input:
        slices=expand(path("slices"), case=EVAL_CASES, seq=GAN_SEQS),
        synthetic=lambda wc: [
            path("synthetic_slices", run=wc.run, case=c, seq=GAN["targets"][0])
            for c in run_cases(wc.run, EVAL_CASES)
        ],
        paper=[
            str(shipped("resources/paper_table1.tsv")),
            str(shipped("resources/paper_extra_metrics.tsv")),
        ],
        generator=synthesis_generator,
    output:
        table1=report(
            path("table1"),
            caption="../report/table1.rst",
            category="Image quality (Table 1)",
            labels={"table": "this run", "cohort": config["data"]["cohort"]},
        ),
        paper=report(
            "results/tables/{run}/paper_table1.tsv",
            caption="../report/paper_table1.rst",
            category="Image quality (Table 1)",
            labels={"table": "paper (Duke)", "cohort": "Duke (published)"},
        ),
    log:
        "logs/image_quality_tables/{run}.log",
    benchmark:
        "benchmarks/image_quality_tables/{run}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("image_quality_tables")
    resources:
        **rule_resources("image_quality_tables", gpu=1),
    params:
        metrics=SCORING,
        input_seq=GAN["input"],
        target=GAN["targets"][0],
        label=run_label,
        val=lambda wc: run_cases(wc.run, cases_in("val")),
        test=lambda wc: run_cases(wc.run, cases_in("test")),
        cohort=config["data"]["cohort"],
        slices=by_case("slices", EVAL_CASES, GAN_SEQS),
        synthetic=lambda wc: by_case(
            "synthetic_slices",
            run_cases(wc.run, EVAL_CASES),
            run=wc.run,
            seq=GAN["targets"][0],
        ),
    script:
        "../scripts/image_quality_tables.py"


# The tumour-region metrics need no feature network: their own job, so they do not wait for FIDs.
rule tumour_region_metrics:
    input:
        slices=expand(
            path("slices"),
            case=EVAL_MASKED,
            seq=[GAN["input"], GAN["targets"][0]],
        ),
        transforms=expand(path("transform"), case=EVAL_MASKED, seq=GAN["input"]),
        synthetic=lambda wc: [
            path("synthetic_slices", run=wc.run, case=c, seq=GAN["targets"][0])
            for c in run_cases(wc.run, EVAL_MASKED)
        ],
        masks=expand(path("mask"), case=EVAL_MASKED),
    output:
        report(
            path("tumour_region"),
            caption="../report/tumour_region.rst",
            category="Image quality (Table 1)",
            labels={"table": "tumour region", "cohort": config["data"]["cohort"]},
        ),
    log:
        "logs/tumour_region_metrics/{run}.log",
    benchmark:
        "benchmarks/tumour_region_metrics/{run}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("tumour_region_metrics")
    resources:
        **rule_resources("tumour_region_metrics"),
    params:
        input_seq=GAN["input"],
        target=GAN["targets"][0],
        margin_mm=config["metrics"]["tumour_margin_mm"],
        val=lambda wc: run_cases(wc.run, cases_in("val")),
        test=lambda wc: run_cases(wc.run, cases_in("test")),
        cohort=config["data"]["cohort"],
        slices=by_case("slices", EVAL_MASKED, [GAN["input"], GAN["targets"][0]]),
        transforms=by_case("transform", EVAL_MASKED, seq=GAN["input"]),
        synthetic=lambda wc: by_case(
            "synthetic_slices",
            run_cases(wc.run, EVAL_MASKED),
            run=wc.run,
            seq=GAN["targets"][0],
        ),
        masks=lambda wc: by_case("mask", run_cases(wc.run, EVAL_MASKED)),
    script:
        "../scripts/tumour_region_metrics.py"


# One run's annotated test cases as the MAMA-SYNTH challenge's evaluator reads them (its local
# mode): per case the axial slice with the largest tumour area of the prediction, the real post-
# and pre-contrast images and the mask, z-scored with the case's pre-contrast statistics.
rule mama_synth_export:
    input:
        lambda wc: PLAN.mama_synth_files(run=wc.run),
    output:
        folder=directory(path("mama_synth")),
    log:
        "logs/mama_synth_export/{run}.log",
    benchmark:
        "benchmarks/mama_synth_export/{run}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("mama_synth_export")
    resources:
        **rule_resources("mama_synth_export"),
    params:
        **fingerprint("run_images"),
        cases=lambda wc: PLAN.mama_synth_cases(run=wc.run),
    script:
        "../scripts/mama_synth_export.py"


# The challenge's two classifiers (contrast; tumour against its mirror), trained on the real
# images of the annotated cases outside the test set.
rule mama_synth_classifiers:
    input:
        PLAN.mama_synth_files(PLAN.classifier_splits),
    output:
        contrast=path("classifier", kind="contrast"),
        tumour_roi=path("classifier", kind="tumour_roi"),
        training="results/classifiers/training.tsv",
        summary=report(
            "results/tables/classifiers.tsv",
            caption="../report/classifiers.rst",
            category="Image quality (Table 1)",
            labels={
                "table": "MAMA-SYNTH classifiers",
                "cohort": config["data"]["cohort"],
            },
        ),
    log:
        "logs/mama_synth_classifiers/mama_synth_classifiers.log",
    benchmark:
        "benchmarks/mama_synth_classifiers/mama_synth_classifiers.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("mama_synth_classifiers")
    resources:
        **rule_resources("mama_synth_classifiers"),
    params:
        cases=PLAN.mama_synth_cases(PLAN.classifier_splits),
        seed=config["metrics"]["seed"],
        cohort=config["data"]["cohort"],
    script:
        "../scripts/mama_synth_classifiers.py"


# Every run ranked as the MAMA-SYNTH challenge ranks (a flat Borda count over its eight metrics,
# computed on the runs' exports), with a case bootstrap; the pre-contrast image apart, unranked.
rule model_ranking:
    input:
        exports=expand(path("mama_synth"), run=PLAN.runs),
        contrast=path("classifier", kind="contrast"),
        tumour_roi=path("classifier", kind="tumour_roi"),
        masks=PLAN.ranking_masks().values(),
        segmentation=ranking_inputs(),
    output:
        ranking=report(
            path("model_ranking"),
            caption="../report/model_ranking.rst",
            category="Image quality (Table 1)",
            labels={"table": "model ranking", "cohort": config["data"]["cohort"]},
        ),
        cases="results/tables/model_ranking_cases.tsv",
        figure=report(
            path("model_slices"),
            caption="../report/model_ranking.rst",
            category="Image quality (Table 1)",
            labels={"figure": "every model on the same slices"},
        ),
    log:
        "logs/model_ranking/model_ranking.log",
    benchmark:
        "benchmarks/model_ranking/model_ranking.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("model_ranking")
    resources:
        **rule_resources("model_ranking"),
    params:
        main=PLAN.run,
        cases=PLAN.ranking_cases(),
        exports={r: path("mama_synth", run=r) for r in PLAN.runs},
        masks=PLAN.ranking_masks(),
        segmentation=PLAN.ranking_segmentation(),
        segmenter=PLAN.fixed_segmenter
        and f"nnU-Net {PLAN.fixed_segmenter}: {nnunet_model_dir(PLAN.run, segmentation.FIXED)}",
        runs={
            r: {
                "family": PLAN.family(r),
                "target": PLAN.training(r).get("target", "post"),
            }
            for r in PLAN.runs
        },
        lpips=config["metrics"]["lpips"],
        n_bootstrap=1000,
        seed=config["metrics"]["seed"],
        cohort=config["data"]["cohort"],
    script:
        "../scripts/model_ranking.py"
