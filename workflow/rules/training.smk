# Every model family: one job per training epoch (epoch e from e-1), generator exports, loss log, preview.


rule list_slice_pairs:
    input:
        lambda wildcards: expand(
            path("slices"),
            case=cases_in(wildcards.split),
            seq=GAN_SEQS,
        ),
    output:
        path("pairs"),
    log:
        "logs/list_slice_pairs/{run}/{split}.log",
    benchmark:
        "benchmarks/list_slice_pairs/{run}/{split}.tsv"
    wildcard_constraints:
        split="train|val|test",
    # the training chains wait for it: it runs first (PLAN.preprocess_priority)
    priority: PREPROCESS_PRIORITY
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("list_slice_pairs")
    resources:
        **rule_resources("list_slice_pairs"),
    params:
        files=lambda wildcards: by_case("slices", cases_in(wildcards.split), GAN_SEQS),
    script:
        "../scripts/list_slice_pairs.py"


rule init_model:
    output:
        temp(path("state", epoch=0)),
    log:
        "logs/init_model/{run}.log",
    benchmark:
        "benchmarks/init_model/{run}.tsv"
    # the training chains and their synthesis are the long pole: start them first
    priority: training_priority
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("init_model")
    resources:
        **rule_resources("init_model"),
    params:
        train=run_training,
    script:
        "../scripts/init_model.py"


rule train_epoch:
    input:
        state=previous_state,
        # one manifest of the training slice arrays instead of every array per epoch: a Duke-size
        # chain of 200 epochs would otherwise resolve 200 x 1336 inputs when the DAG is built
        pairs=path("pairs", split="train"),
    output:
        state=temp(path("state")),
        losses=path("losses"),
    log:
        "logs/train_epoch/{run}/epoch_{epoch}.log",
    benchmark:
        "benchmarks/train_epoch/{run}/epoch_{epoch}.tsv"
    wildcard_constraints:
        epoch=r"[1-9]\d*",
        run=ONE_NODE_TRAINING_RUNS,
    # the training chains and their synthesis are the long pole: start them first
    priority: epoch_priority
    conda:
        "../../envs/torch.yaml"
    threads: epoch_threads
    resources:
        **rule_resources("train_epoch"),
        # one GPU per training process (gan.processes for pix2pixHD; the further models train in one)
        gpu=training_gpus,
    params:
        train=run_training,
    script:
        "../scripts/train_epoch.py"


# gan.nodes > 1: pix2pixHD's epochs span that many nodes of one SLURM job (the job starts its own
# srun, one task per node); the further models' epochs stay in train_epoch.
if PLAN.gan_nodes > 1:

    use rule train_epoch as train_epoch_nodes with:
        wildcard_constraints:
            epoch=r"[1-9]\d*",
            run=MULTI_NODE_TRAINING_RUNS,
        resources:
            **training_nodes_resources(),


rule export_generator:
    input:
        path("state"),
    output:
        path("generator"),
    log:
        "logs/export_generator/{run}/epoch_{epoch}.log",
    benchmark:
        "benchmarks/export_generator/{run}/epoch_{epoch}.tsv"
    # the training chains and their synthesis are the long pole: start them first
    priority: training_priority
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("export_generator")
    resources:
        **rule_resources("export_generator"),
    script:
        "../scripts/export_generator.py"


rule training_log:
    input:
        run_losses,
    output:
        table=path("train_log"),
        figure=report(
            path("losses_figure"),
            caption="../report/gan_losses.rst",
            category="Synthesis model",
            labels={"figure": "training losses"},
        ),
    log:
        "logs/training_log/{run}.log",
    benchmark:
        "benchmarks/training_log/{run}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("training_log")
    resources:
        **rule_resources("training_log"),
    script:
        "../scripts/training_log.py"


rule preview_model:
    input:
        generator=lambda wc: path(
            "generator", run=wc.run, epoch=PLAN.n_epochs_of(wc.run)
        ),
        slices=expand(path("slices"), case=cases_in("val"), seq=GAN_SEQS),
    output:
        table=path("val_preview"),
        figure=report(
            "results/models/{run}/figures/val_pairs.png",
            caption="../report/gan_preview.rst",
            category="Synthesis model",
            labels={"figure": "validation pairs"},
        ),
    log:
        "logs/preview_model/{run}.log",
    benchmark:
        "benchmarks/preview_model/{run}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("preview_model")
    resources:
        **rule_resources("preview_model", gpu=1),
    params:
        input_seq=GAN["input"],
        targets=GAN["targets"],
        n_figure_pairs=GAN["preview"]["n_figure_pairs"],
        batch_size=GAN["preview"]["batch_size"],
        files=by_case("slices", cases_in("val"), GAN_SEQS),
    script:
        "../scripts/preview_model.py"
