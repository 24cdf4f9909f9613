# Tumour segmentation with nnU-Net v2 (the paper's Tables 2 and 3): single-breast crops, one
# nnU-Net dataset per training scenario, plan, one training job per fold, fold-ensemble prediction
# per test domain, Dice / HD95 per case and the tables.


# One job per case for the real volumes and the label, one for the synthetic volume (which waits
# for the GAN): real-only scenarios need not wait, and the DAG stays small at Duke scale.
rule crop_breast:
    input:
        unpack(lambda wildcards: crop_input(wildcards, REAL_CROPS)),
    output:
        **{i: path("crop", image=i) for i in REAL_CROPS},
    log:
        "logs/crop_breast/{run}/{case}.log",
    benchmark:
        "benchmarks/crop_breast/{run}/{case}.tsv"
    conda:
        "../../envs/nnunet.yaml"
    threads: rule_threads("crop_breast")
    resources:
        **rule_resources("crop_breast"),
    params:
        resample_mm=SEG["resample_mm"],
    script:
        "../scripts/crop_breast.py"


use rule crop_breast as crop_synthetic with:
    input:
        unpack(lambda wildcards: crop_input(wildcards, ["syn_post"])),
    output:
        syn_post=path("crop", image="syn_post"),
    log:
        "logs/crop_synthetic/{run}/{case}.log",
    benchmark:
        "benchmarks/crop_synthetic/{run}/{case}.tsv"
    threads: rule_threads("crop_synthetic")
    resources:
        **rule_resources("crop_synthetic"),


rule nnunet_dataset:
    input:
        unpack(nnunet_dataset_input),
    output:
        images=directory(
            "results/segmentation/{run}/{scenario}/nnUNet_raw/{dataset}/imagesTr"
        ),
        labels=directory(
            "results/segmentation/{run}/{scenario}/nnUNet_raw/{dataset}/labelsTr"
        ),
        meta="results/segmentation/{run}/{scenario}/nnUNet_raw/{dataset}/dataset.json",
        splits="results/segmentation/{run}/{scenario}/nnUNet_raw/{dataset}/splits_final.json",
    log:
        "logs/nnunet_dataset/{run}/{scenario}/{dataset}.log",
    benchmark:
        "benchmarks/nnunet_dataset/{run}/{scenario}/{dataset}.tsv"
    conda:
        "../../envs/nnunet.yaml"
    threads: rule_threads("nnunet_dataset")
    resources:
        **rule_resources("nnunet_dataset"),
    params:
        image_kinds=lambda wc: segmentation.scenario_images(wc.scenario),
        images=lambda wc: nnunet_training_crops(wc)["images"],
        labels=lambda wc: nnunet_training_crops(wc)["labels"],
        cv=SEG_CV.to_dict("records"),
        dataset_dir=lambda wc: f"{nnunet_root(wc)}/nnUNet_raw/{wc.dataset}",
        n_folds=config["splits"]["n_folds"],
        channel_name=SEG["channel_name"],
    script:
        "../scripts/nnunet_dataset.py"


rule nnunet_test_images:
    input:
        lambda wc: [crop_path(wc.run, c, wc.domain) for c in run_seg_test(wc.run)],
        # an external run's test cases without a volume: their label crops (an empty prediction's grid)
        no_image=lambda wc: list(no_image_labels(wc.run).values()),
    output:
        directory(
            "results/segmentation/{run}/{scenario}/nnUNet_raw/{dataset}/imagesTs_{domain}"
        ),
    log:
        "logs/nnunet_test_images/{run}/{scenario}/{dataset}/{domain}.log",
    benchmark:
        "benchmarks/nnunet_test_images/{run}/{scenario}/{dataset}/{domain}.tsv"
    conda:
        "../../envs/nnunet.yaml"
    threads: rule_threads("nnunet_test_images")
    resources:
        **rule_resources("nnunet_test_images"),
    params:
        crops=lambda wc: test_images(wc.run, wc.domain),
    script:
        "../scripts/nnunet_test_images.py"


rule nnunet_plan:
    input:
        **dict(rules.nnunet_dataset.output.items()),
    output:
        directory("results/segmentation/{run}/{scenario}/nnUNet_preprocessed/{dataset}"),
    log:
        "logs/nnunet_plan/{run}/{scenario}/{dataset}.log",
    benchmark:
        "benchmarks/nnunet_plan/{run}/{scenario}/{dataset}.tsv"
    conda:
        "../../envs/nnunet.yaml"
    threads: rule_threads("nnunet_plan")
    resources:
        **rule_resources("nnunet_plan"),
    params:
        dataset_id=lambda wc: SEG["scenarios"][wc.scenario]["id"],
        configuration=SEG["configuration"],
        root=nnunet_root,
    script:
        "../scripts/nnunet_plan.py"


rule nnunet_train:
    input:
        preprocessed=rules.nnunet_plan.output[0],
    output:
        "results/segmentation/{run}/{scenario}/nnUNet_results/{dataset}/{model}/fold_{fold}/checkpoint_final.pth",
    log:
        "logs/nnunet_train/{run}/{scenario}/{dataset}/{model}/fold_{fold}.log",
    benchmark:
        "benchmarks/nnunet_train/{run}/{scenario}/{dataset}/{model}/fold_{fold}.tsv"
    conda:
        "../../envs/nnunet.yaml"
    threads: rule_threads("nnunet_train")
    resources:
        **rule_resources("nnunet_train", gpu=1),
    params:
        dataset_id=lambda wc: SEG["scenarios"][wc.scenario]["id"],
        configuration=SEG["configuration"],
        trainer=SEG["trainer"],
        plans=SEG["plans"],
        root=nnunet_root,
        fold_dir=lambda wc: f"{nnunet_model_dir(wc.run, wc.scenario)}/fold_{wc.fold}",
    script:
        "../scripts/nnunet_train.py"


rule nnunet_predict:
    input:
        checkpoints=nnunet_checkpoints,
        images=nnunet_test_folder,
    output:
        expand(
            path(
                "prediction",
                run="{{run}}",
                scenario="{{scenario}}",
                domain="{{domain}}",
            ),
            case=SEG_TEST,
        ),
    log:
        "logs/nnunet_predict/{run}/{scenario}/{domain}.log",
    benchmark:
        "benchmarks/nnunet_predict/{run}/{scenario}/{domain}.tsv"
    conda:
        "../../envs/nnunet.yaml"
    threads: rule_threads("nnunet_predict")
    resources:
        **rule_resources("nnunet_predict", gpu=1),
    params:
        model_dir=lambda wc: nnunet_model_dir(wc.run, wc.scenario),
        folds=lambda wc: nnunet_folds(wc.scenario),
        tta=SEG["tta"],
        step_size=SEG["step_size"],
        root=nnunet_root,
        out_dir=lambda wc: f"{nnunet_root(wc)}/predictions/{wc.domain}",
        cases=lambda wc: run_seg_test(wc.run),
    script:
        "../scripts/nnunet_predict.py"


rule segmentation_metrics:
    input:
        predictions=expand(
            path(
                "prediction",
                run="{{run}}",
                scenario="{{scenario}}",
                domain="{{domain}}",
            ),
            case=SEG_TEST,
        ),
        labels=[crop_path(PLAN.run, c, segmentation.LABEL) for c in SEG_TEST],
    output:
        path("nnunet_metrics"),
    log:
        "logs/segmentation_metrics/{run}/{scenario}/{domain}.log",
    benchmark:
        "benchmarks/segmentation_metrics/{run}/{scenario}/{domain}.tsv"
    conda:
        "../../envs/nnunet.yaml"
    threads: rule_threads("segmentation_metrics")
    resources:
        **rule_resources("segmentation_metrics"),
    params:
        predictions=lambda wc: {
            c: path(
                "prediction",
                run=wc.run,
                scenario=wc.scenario,
                domain=wc.domain,
                case=c,
            )
            for c in SEG_TEST
        },
        labels=lambda wc: {
            c: crop_path(wc.run, c, segmentation.LABEL) for c in SEG_TEST
        },
    script:
        "../scripts/segmentation_metrics.py"


rule segmentation_tables:
    input:
        metrics=segmentation_metric_tables,
        paper=str(shipped("resources/paper_segmentation_dice.tsv")),
        generator=synthesis_generator,
    output:
        table=report(
            path("segmentation_table"),
            caption="../report/segmentation.rst",
            category="Tumour segmentation (Tables 2, 3)",
            labels={
                "table": "this run beside the paper",
                "cohort": config["data"]["cohort"],
            },
        ),
        table2=report(
            "results/tables/{run}/segmentation_table2.tsv",
            caption="../report/segmentation.rst",
            category="Tumour segmentation (Tables 2, 3)",
            labels={
                "table": "Table 2: experiments 1-2 (trained on pre)",
                "cohort": config["data"]["cohort"],
            },
        ),
        table3=report(
            "results/tables/{run}/segmentation_table3.tsv",
            caption="../report/segmentation.rst",
            category="Tumour segmentation (Tables 2, 3)",
            labels={
                "table": "Table 3: experiments 3-4 (trained on post)",
                "cohort": config["data"]["cohort"],
            },
        ),
        cases="results/tables/{run}/segmentation_cases.tsv",
        figure=report(
            path("segmentation_figure"),
            caption="../report/segmentation.rst",
            category="Tumour segmentation (Tables 2, 3)",
            labels={"figure": "Dice per experiment"},
        ),
    log:
        "logs/segmentation_tables/{run}.log",
    benchmark:
        "benchmarks/segmentation_tables/{run}.tsv"
    conda:
        "../../envs/nnunet.yaml"
    threads: rule_threads("segmentation_tables")
    resources:
        **rule_resources("segmentation_tables"),
    params:
        scenarios=SEG_TABLE_SCENARIOS,
        cohort=config["data"]["cohort"],
    script:
        "../scripts/segmentation_tables.py"
