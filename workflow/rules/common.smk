# Sheets, config validation, input functions and wildcard constraints shared by every stage.
import re
import shutil
import sys
from pathlib import Path

from snakemake.utils import validate

import pandas as pd
import yaml

from dcesynth import cohort, config_keys, segmentation, splits, weights
from dcesynth.errors import ConfigError

try:
    validate(config, schema="../../config/schema/config.schema.yaml")
except WorkflowError:
    # The schema refuses unknown keys with a schema dump: name a typo by its path instead. Only
    # on failure, so a valid config is not parsed twice on every start (and every cluster job).
    _unknown = config_keys.unknown_keys(
        config,
        yaml.safe_load(
            (Path(workflow.basedir) / "config/schema/config.schema.yaml").read_text()
        ),
    )
    if _unknown:
        raise WorkflowError("Configuration error: " + "; ".join(_unknown)) from None
    raise

# Weights files are read by jobs that may start hours into a run: a missing one stops it here.
_missing = weights.missing_files(config)
if _missing:
    raise WorkflowError("Configuration error: " + "\n".join(_missing))

try:
    CASES = cohort.case_table(config)
except ConfigError as exc:
    raise WorkflowError(f"Configuration error: {exc}") from None

validate(CASES, schema="../../config/schema/cases.schema.yaml")

SEQS = cohort.sequences(config["data"]["post_phases"])
MASKED = [c for c, m in zip(CASES["case_id"], CASES["has_mask"]) if m]
SOURCE = config["data"]["source"]
SHIPPED = Path(workflow.basedir) / "resources"


def split_sheet():
    """The split sheet the splits are read from: Duke's (shipped or given) or the user's own."""
    if config["splits"]["method"] == "sheet":
        return config["splits"]["sheet"]
    return config["splits"]["duke_sheet"] or str(SHIPPED / "duke_split.tsv")


# The splits are a pure function of the config and the case table: computed here so that input
# functions know each stage's cases, and written to results/splits/ by split_cases.
try:
    SYNTHESIS, SEGMENTATION = splits.make_splits(CASES, config["splits"], split_sheet())
except ConfigError as exc:
    raise WorkflowError(f"Configuration error: {exc}") from None


def split_records(table):
    """A split table as plain records (a rule param; missing folds are None)."""
    return [
        {
            k: (None if pd.isna(v) else getattr(v, "item", lambda: v)())
            for k, v in row.items()
        }
        for row in table.to_dict("records")
    ]


def cases_in(split):
    return SYNTHESIS.loc[SYNTHESIS["split"] == split, "case_id"].tolist()


# The GAN run: its epochs, the epochs whose generator is exported, and the training keys.
GAN = config["gan"]
RUN = GAN["run"]
N_EPOCHS = GAN["niter"] + GAN["niter_decay"]
# The evaluated epochs (SAMe min-max scales over exactly these): gan.eval_epochs, or every
# eval_every epochs and the last. The last epoch's generator is always exported (the preview).
# No epoch (niter + niter_decay = 0) synthesises with gan.init_generator as it is, exported as
# epoch 0: no training, no epoch selection.
SYNTHESIS_ONLY = N_EPOCHS == 0
if SYNTHESIS_ONLY and not GAN["init_generator"]:
    raise WorkflowError(
        "Configuration error: gan.niter + gan.niter_decay is 0 (no training), so gan.init_generator "
        "must name the generator to synthesise with"
    )
if SYNTHESIS_ONLY:
    EVAL_EPOCHS = []
elif GAN["eval_epochs"]:
    EVAL_EPOCHS = sorted(set(GAN["eval_epochs"]))
    if EVAL_EPOCHS[-1] > N_EPOCHS:
        raise WorkflowError(
            f"Configuration error: gan.eval_epochs names epoch {EVAL_EPOCHS[-1]}, but training "
            f"stops at epoch {N_EPOCHS} (gan.niter + gan.niter_decay)"
        )
else:
    EVAL_EPOCHS = sorted(
        set(range(GAN["eval_every"], N_EPOCHS + 1, GAN["eval_every"])) | {N_EPOCHS}
    )
EXPORT_EPOCHS = sorted(set(EVAL_EPOCHS) | {N_EPOCHS})
# Keys that shape training; evaluation-only keys (eval_every, eval_epochs, preview) stay out so
# that changing them reruns no training job.
GAN_TRAINING = {
    k: v
    for k, v in GAN.items()
    if k not in ("eval_every", "eval_epochs", "preview", "run")
}
GAN_SEQS = [GAN["source"], *GAN["targets"]]
# What scores one generator (per-epoch tables, Table 1): the epoch-selection and tumour-region
# keys are left out, so changing them reruns only their own jobs, not every evaluation.
SCORING = {
    k: v
    for k, v in config["metrics"].items()
    if k not in ("same_metrics", "selection", "tumour_margin_mm")
}
# One epoch is scored on validation pairs, without LPIPS (Table 1 only): the test-set FID sample
# size and the LPIPS network are not its keys, so changing them rescores no epoch.
EPOCH_SCORING = {
    k: v for k, v in SCORING.items() if k not in ("n_fid_pairs_test", "lpips")
}


def gan_outputs():
    training = [
        # the last full state is a target, so it survives temp() and training can be extended
        f"results/gan/{RUN}/state/epoch_{N_EPOCHS}.pt",
        f"results/gan/{RUN}/train_log.tsv",
        f"results/gan/{RUN}/figures/losses.png",
        f"results/metrics/{RUN}/epochs.tsv",
    ]
    return [
        *expand(
            "results/gan/{run}/generator/epoch_{epoch}.pt", run=RUN, epoch=EXPORT_EPOCHS
        ),
        *([] if SYNTHESIS_ONLY else training),
        f"results/gan/{RUN}/val_preview.tsv",
        *expand(
            "results/synthetic/{run}/{case}/{seq}.nii.gz",
            run=RUN,
            case=SYNTH_CASES,
            seq=GAN["targets"],
        ),
        *expand(
            "results/subtraction/{run}/{case}/{kind}_{seq}.nii.gz",
            run=RUN,
            case=SYNTH_CASES,
            kind=["real", "synthetic"],
            seq=GAN["targets"],
        ),
        f"results/figures/{RUN}/synthesis_grid.png",
        f"results/figures/{RUN}/tumour_crops.png",
        f"results/tables/{RUN}/table1.tsv",
        f"results/tables/{RUN}/tumour_region.tsv",
    ]


def previous_state(wildcards):
    return f"results/gan/{wildcards.run}/state/epoch_{int(wildcards.epoch) - 1}.pt"


def use_cuda():
    """Whether GPU rules should ask for a GPU: `device: cuda`, or `auto` where a driver is present."""
    return config["device"] == "cuda" or (
        config["device"] == "auto" and shutil.which("nvidia-smi") is not None
    )


wildcard_constraints:
    case=r"[A-Za-z0-9][A-Za-z0-9._-]*",
    seq=r"pre|post\d+",
    run=re.escape(config["gan"]["run"]),
    epoch=r"\d+",


def rule_resources(name, gpu=False):
    """Resources of a rule from config (`resources.<rule>`), with the defaults of `resources.default`."""
    merged = dict(config["resources"]["default"])
    merged.update(config["resources"].get(name) or {})
    merged.pop("threads", None)
    if gpu:
        merged["gpu"] = 1 if use_cuda() else 0
    return merged


def check_resource_keys():
    """Each `resources.<rule>` must name a rule: a typo (or a rule of an older version) would
    otherwise be ignored without a word. Called once every rule is defined."""
    rules = sorted(r.name for r in workflow.rules)
    unknown = sorted(set(config["resources"]) - {"default"} - set(rules))
    if unknown:
        raise WorkflowError(
            f"Configuration error: resources.{unknown[0]} names no rule of this workflow. "
            f"Rules: {', '.join(rules)}"
        )


def rule_threads(name):
    return (config["resources"].get(name) or {}).get(
        "threads", config["resources"]["default"].get("threads", 1)
    )


def ingest_input(wildcards):
    """The raw inputs of one case: its DICOM folder, or its NIfTI files from the sheet."""
    row = CASES.loc[wildcards.case]
    if SOURCE in cohort.FILE_SOURCES:
        return {seq: ancient(row[seq]) for seq in SEQS}
    if SOURCE == "phantom":
        return {"case_dir": row["case_dir"]}
    return {"case_dir": ancient(row["case_dir"])}


def mask_input(wildcards):
    row = CASES.loc[wildcards.case]
    mask = row["mask"] if SOURCE == "phantom" else ancient(row["mask"])
    return {"mask": mask, "reference": f"results/nifti/{wildcards.case}/pre.nii.gz"}


SLICE_STAGE = "n4" if config["slices"]["use_n4"] else "nifti"


def synthesis_generator(wildcards):
    """The generator used for synthesis: `synthesis.epoch`, or the one SAMe chose when null (the
    exported gan.init_generator when nothing trains)."""
    if SYNTHESIS_ONLY:
        return f"results/gan/{wildcards.run}/generator/epoch_0.pt"
    if config["synthesis"]["epoch"] is None:
        return f"results/gan/{wildcards.run}/generator_best.pt"
    return (
        f"results/gan/{wildcards.run}/generator/epoch_{config['synthesis']['epoch']}.pt"
    )


# Evaluation (Table 1, figures, tumour regions) uses validation and test cases only; synthesis
# covers them, or every case (synthesis.cases: all) for a downstream study.
EVAL_CASES = cases_in("val") + cases_in("test")
EVAL_MASKED = [c for c in EVAL_CASES if c in MASKED]
SYNTH_CASES = (
    EVAL_CASES
    if config["synthesis"]["cases"] == "evaluation"
    else EVAL_CASES + cases_in("train")
)


def figure_cases():
    """Cases in the synthesis figures: the configured ones, then seeded random test cases."""
    import random

    chosen = [c for c in config["report"]["synthesis_cases"] if c in EVAL_CASES]
    pool = sorted(set(cases_in("test")) - set(chosen))
    rng = random.Random(config["report"]["seed"])
    chosen += rng.sample(pool, min(config["report"]["random_cases"], len(pool)))
    return chosen or EVAL_CASES[:1]


def synthesis_figure_inputs(wildcards):
    src, tgt = GAN["source"], GAN["targets"][0]
    cases = figure_cases()
    return {
        "volumes": expand(
            f"results/{SLICE_STAGE}/{{case}}/{{seq}}.nii.gz", case=cases, seq=[src, tgt]
        ),
        "transforms": expand(
            "results/slices/{case}/{seq}.json", case=cases, seq=[src, tgt]
        ),
        "synthetic": expand(
            "results/synthetic/{run}/{case}/{tgt}.npy",
            run=wildcards.run,
            case=cases,
            tgt=tgt,
        ),
        "subtractions": expand(
            "results/subtraction/{run}/{case}/{kind}_{tgt}.nii.gz",
            run=wildcards.run,
            case=cases,
            kind=["real", "synthetic"],
            tgt=tgt,
        ),
        "masks": expand(
            "results/nifti/{case}/mask.nii.gz", case=[c for c in cases if c in MASKED]
        ),
    }


def example_cases():
    """Cases shown in the cohort figure: the first annotated ones (then any)."""
    n = config["report"]["example_cases"]
    ordered = MASKED + [c for c in CASES["case_id"] if c not in MASKED]
    return ordered[:n]


def preprocess_outputs():
    """Every case ingested, bias-corrected and sliced, every mask checked, the splits written."""
    return [
        *expand("results/slices/{case}/{seq}.npy", case=CASES["case_id"], seq=SEQS),
        *expand("results/nifti/{case}/mask.nii.gz", case=MASKED),
        "results/splits/synthesis.tsv",
        "results/splits/segmentation.tsv",
        "results/figures/cohort.png",
    ]


def all_outputs():
    """Final outputs only (intermediate per-case files follow from them: fewer targets, faster
    DAG), plus every tumour mask, so that each mask given is checked even if no stage uses it.
    """
    return [
        *expand("results/nifti/{case}/mask.nii.gz", case=MASKED),
        "results/splits/synthesis.tsv",
        "results/splits/segmentation.tsv",
        "results/figures/cohort.png",
        *gan_outputs(),
        *segmentation_outputs(),
    ]


# Tumour segmentation (nnU-Net): scenarios, the CV and test cases, and nnU-Net's folder names.
SEG = config["segmentation"]
try:
    segmentation.check_scenarios(SEG["scenarios"])
    # The scenarios that run: segmentation.run (a list in an extra config file can narrow the
    # mapping, which Snakemake's merge of config files cannot), or every scenario.
    SEG_PRETRAINED = segmentation.pretrained_model(SEG["pretrained_model"])
    SEG_SCENARIOS = segmentation.chosen_scenarios(
        SEG["scenarios"], SEG["run"], SEG_PRETRAINED is not None
    )
except ConfigError as exc:
    raise WorkflowError(f"Configuration error: {exc}") from None
# Only cases whose tumour mask is present take part (a split sheet can name more).
_SEG = SEGMENTATION[SEGMENTATION["case_id"].isin(set(MASKED))]
SEG_CV = _SEG.loc[_SEG["role"] == "cv", ["case_id", "fold"]].astype({"fold": int})
SEG_TEST = _SEG.loc[_SEG["role"] == "test", "case_id"].tolist()
SEG_FOLDS = list(range(config["splits"]["n_folds"]))
SEG_PAIRS = [(s, d) for s, spec in SEG_SCENARIOS.items() for d in spec["test_on"]]
# A pretrained model (segmentation.pretrained_model) predicts its test domains as one more
# "scenario", trained by nobody here.
if SEG_PRETRAINED:
    SEG_PAIRS += [(segmentation.PRETRAINED, d) for d in SEG_PRETRAINED["test_on"]]
SEG_TABLE_SCENARIOS = {
    **SEG_SCENARIOS,
    **(
        {segmentation.PRETRAINED: {"id": SEG_PRETRAINED["id"]}}
        if SEG_PRETRAINED
        else {}
    ),
}
SEG_MODEL = f"{SEG['trainer']}__{SEG['plans']}__{SEG['configuration']}"
SEG_IMAGES = {
    "real_pre": f"results/{SLICE_STAGE}/{{case}}/{GAN['source']}.nii.gz",
    "real_post": f"results/{SLICE_STAGE}/{{case}}/{GAN['targets'][0]}.nii.gz",
    "syn_post": f"results/synthetic/{{run}}/{{case}}/{GAN['targets'][0]}.nii.gz",
    "label": "results/nifti/{case}/mask.nii.gz",
}
REAL_CROPS = ["real_pre", "real_post", segmentation.LABEL]


wildcard_constraints:
    scenario="|".join(re.escape(s) for s in SEG_TABLE_SCENARIOS),
    domain="|".join(segmentation.SOURCES),
    dataset=r"Dataset\d{3}_\w+",
    model=re.escape(SEG_MODEL),
    fold=r"\d+",


def nnunet_dataset_name(scenario):
    if scenario == segmentation.PRETRAINED:
        return SEG_PRETRAINED["dataset"]
    return segmentation.dataset_name(SEG["scenarios"][scenario]["id"], scenario)


def nnunet_model_dir(run, scenario):
    if scenario == segmentation.PRETRAINED:
        return SEG_PRETRAINED["folder"]
    return f"results/segmentation/{run}/{scenario}/nnUNet_results/{nnunet_dataset_name(scenario)}/{SEG_MODEL}"


def nnunet_folds(scenario):
    return SEG_PRETRAINED["folds"] if scenario == segmentation.PRETRAINED else SEG_FOLDS


def nnunet_checkpoints(wildcards):
    model = nnunet_model_dir(wildcards.run, wildcards.scenario)
    files = [
        f"{model}/fold_{f}/checkpoint_final.pth"
        for f in nnunet_folds(wildcards.scenario)
    ]
    if wildcards.scenario == segmentation.PRETRAINED:
        return [ancient(f) for f in files]  # the user's files: never rebuilt
    return files


def nnunet_test_folder(wildcards):
    name = nnunet_dataset_name(wildcards.scenario)
    return f"results/segmentation/{wildcards.run}/{wildcards.scenario}/nnUNet_raw/{name}/imagesTs_{wildcards.domain}"


def crop_input(wildcards, images):
    """The volumes a crop job cuts (``label`` is the mask itself) and the mask that places the cut."""
    mask = f"results/nifti/{wildcards.case}/mask.nii.gz"
    return {
        **{
            i: SEG_IMAGES[i].format(case=wildcards.case, run=wildcards.run)
            for i in images
        },
        "mask": mask,
    }


def crop_path(run, case, image):
    return f"results/segmentation/{run}/crops/{case}/{image}.nii.gz"


def nnunet_dataset_input(wildcards):
    """Crops of the CV cases in the scenario's sources (+ labels), and the test cases' crops."""
    run, sources = wildcards.run, segmentation.scenario_sources(wildcards.scenario)
    cv = SEG_CV["case_id"].tolist()
    return {
        "images": [crop_path(run, c, s) for c in cv for s in sources],
        "labels": [crop_path(run, c, segmentation.LABEL) for c in cv],
    }


def segmentation_metric_tables(wildcards):
    return [
        f"results/segmentation/{wildcards.run}/{s}/metrics_{d}.tsv"
        for s, d in SEG_PAIRS
    ]


# Empty sets are refused here, before any job runs, with what to change; then the summary.
_refusals = splits.check_splits(
    SYNTHESIS,
    _SEG,
    config["splits"]["n_folds"],
    config["splits"]["method"],
    gan_trains=N_EPOCHS > 0,
    segments=SEG["enabled"],
    folds=SEG["enabled"] and bool(SEG_SCENARIOS),
)
if _refusals:
    raise WorkflowError(
        "Configuration error: the splits cannot run:\n  " + "\n  ".join(_refusals)
    )
if workflow.is_main_process:
    print(
        splits.summary(
            CASES,
            SYNTHESIS,
            _SEG,
            {
                "cohort": config["data"]["cohort"],
                "source": SOURCE,
                "post_phases": config["data"]["post_phases"],
                "available": (
                    cohort.phase_counts(CASES) if "post_available" in CASES else ""
                ),
                "method": config["splits"]["method"],
                "n_folds": config["splits"]["n_folds"],
                "segments": SEG["enabled"],
                "scenarios": ", ".join(SEG_TABLE_SCENARIOS) or "none",
                "skipped": CASES.attrs.get("skipped", []),
            },
        ),
        file=sys.stderr,
    )


def segmentation_outputs():
    if not SEG["enabled"]:
        return []
    return [
        f"results/tables/{RUN}/segmentation.tsv",
        f"results/figures/{RUN}/segmentation_dice.png",
    ]
