# Synthetic post-contrast volumes on their input grid with their subtraction volumes, and the
# figures. Subtractions are written by the synthesis job: a second per-case job for a few array
# operations would cost the DAG more than the work.


rule synthesize_volume:
    input:
        generator=synthesis_generator,
        slices=path("slices", seq=GAN["input"]),
        transform=path("transform", seq=GAN["input"]),
        reference=path("volume", stage=SLICE_STAGE, seq=GAN["input"]),
        target_transforms=expand(path("transform", case="{{case}}"), seq=GAN["targets"]),
        real=expand(
            path("volume", stage=SLICE_STAGE, case="{{case}}"), seq=GAN["targets"]
        ),
    output:
        volumes=expand(
            path("synthetic", run="{{run}}", case="{{case}}"), seq=GAN["targets"]
        ),
        slices=expand(
            path("synthetic_slices", run="{{run}}", case="{{case}}"),
            seq=GAN["targets"],
        ),
        real_subtractions=expand(
            path("subtraction", run="{{run}}", case="{{case}}", kind="real"),
            seq=GAN["targets"],
        ),
        synthetic_subtractions=expand(
            path("subtraction", run="{{run}}", case="{{case}}", kind="synthetic"),
            seq=GAN["targets"],
        ),
    log:
        "logs/synthesize_volume/{run}/{case}.log",
    benchmark:
        "benchmarks/synthesize_volume/{run}/{case}.tsv"
    wildcard_constraints:
        run=TRAINED_RUNS,
    # the training chains and their synthesis are the long pole: start them first
    priority: training_priority
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("synthesize_volume")
    resources:
        **rule_resources("synthesize_volume", gpu=1),
    params:
        targets=synthesis_target_files,
        intensity=config["synthesis"]["intensity"],
        batch_size=config["synthesis"]["batch_size"],
    script:
        "../scripts/synthesize_volume.py"


rule plot_synthesis:
    input:
        synthesis_figure_inputs,
    output:
        grid=report(
            path("synthesis_grid"),
            caption="../report/synthesis_grid.rst",
            category="Synthetic contrast",
            labels={"figure": "Fig. 3: synthesis grid"},
        ),
        crops=report(
            path("tumour_crops"),
            caption="../report/tumour_crops.rst",
            category="Synthetic contrast",
            labels={"figure": "Fig. 5: tumour crops"},
        ),
    log:
        "logs/plot_synthesis/{run}.log",
    benchmark:
        "benchmarks/plot_synthesis/{run}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("plot_synthesis")
    resources:
        **rule_resources("plot_synthesis"),
    params:
        files=figure_files,
        margin_mm=config["report"]["crop_margin_mm"],
    script:
        "../scripts/plot_synthesis.py"


# An external model's volumes of one case (models.<run>.images) in place of synthesis: checked
# against the pre-contrast grid, extracted as the real post-contrast volume was, and written as
# synthesize_volume writes a synthetic volume, so every later rule takes them alike.
rule import_external:
    input:
        record=synthesis_generator,
        images=lambda wc: list(PLAN.external_images(wc.run, wc.case).values()),
        slices=path("slices", seq=GAN["input"]),
        transform=path("transform", seq=GAN["input"]),
        reference=path("volume", stage=SLICE_STAGE, seq=GAN["input"]),
        target_transforms=expand(path("transform", case="{{case}}"), seq=GAN["targets"]),
        real=expand(
            path("volume", stage=SLICE_STAGE, case="{{case}}"), seq=GAN["targets"]
        ),
    output:
        volumes=expand(
            path("synthetic", run="{{run}}", case="{{case}}"), seq=GAN["targets"]
        ),
        slices=expand(
            path("synthetic_slices", run="{{run}}", case="{{case}}"),
            seq=GAN["targets"],
        ),
        real_subtractions=expand(
            path("subtraction", run="{{run}}", case="{{case}}", kind="real"),
            seq=GAN["targets"],
        ),
        synthetic_subtractions=expand(
            path("subtraction", run="{{run}}", case="{{case}}", kind="synthetic"),
            seq=GAN["targets"],
        ),
    log:
        "logs/import_external/{run}/{case}.log",
    benchmark:
        "benchmarks/import_external/{run}/{case}.tsv"
    wildcard_constraints:
        run=EXTERNAL_RUNS,
    conda:
        "../../envs/torch.yaml"
    threads: rule_threads("import_external")
    resources:
        **rule_resources("import_external"),
    params:
        **fingerprint("images"),
        targets=synthesis_target_files,
        external=lambda wc: PLAN.external_synthesis(wc.run, wc.case),
        intensity=config["synthesis"]["intensity"],
    script:
        "../scripts/import_external.py"


# An external model (models.<run>.images): the record every rule's generator input is for it
rule external_model:
    output:
        path("external_model"),
    log:
        "logs/external_model/{run}.log",
    conda:
        "../../envs/torch.yaml"
    params:
        record=lambda wc: {"run": wc.run, **PLAN.training(wc.run)},
    script:
        "../scripts/external_model.py"
