# Validation, the plan and its bindings: the names and one-line input functions the rules use.
# Everything computed lives in dcesynth.plan (cases, splits, runs, files, targets, resources).
import re
import sys
from pathlib import Path

from snakemake.utils import validate

from dcesynth import segmentation
from dcesynth.config_keys import config_files, emptied_mappings, renamed_folders
from dcesynth.errors import ConfigError
from dcesynth.plan import by_case, path
from dcesynth.plan import load as load_plan

# Validation against the schema (its defaults filled in) and the plan; a refusal stops here,
# before any job. The splits' problems are printed after the cohort summary, which says why.
# Shipped files are found beside the workflow, not in the working directory (`shipped`, Snakefile).
# An empty mapping in a later config file (`models: {}`) empties that key (not Snakemake's merge).
emptied_mappings(config, *config_files(workflow))
try:
    PLAN = load_plan(
        config,
        schema=shipped("config/schema/config.schema.yaml"),
        duke_sheet=shipped("resources/duke_split.tsv"),
    )
    if renamed_folders(retrain=list(PLAN.models)):
        raise ConfigError("; ".join(renamed_folders(retrain=list(PLAN.models))))
except ConfigError as exc:
    raise WorkflowError(f"Configuration error: {exc}") from None
if workflow.is_main_process:
    print(PLAN.summary(), file=sys.stderr)
if PLAN.refusals:
    if not config["splits"]["allow_empty"]:
        raise WorkflowError(
            "Configuration error: the splits cannot run:\n  "
            + "\n  ".join(PLAN.refusals)
        )
    if workflow.is_main_process:  # splits.allow_empty: say it, and run what can run
        print("WARNING: " + "\nWARNING: ".join(PLAN.refusals), file=sys.stderr)
if (
    workflow.is_main_process
    and PLAN.dicom_export["link_to_source"]
    and PLAN.dicom_export["enabled"]
):
    print(
        "WARNING: export.dicom.link_to_source: the DICOM series in results/dicom/ carry the patient's "
        "identity from the source headers; keep them inside the hospital's systems",
        file=sys.stderr,
    )
validate(PLAN.cases, schema="../../config/schema/cases.schema.yaml")

# Bindings the rules use by name.
CASES, SEQS, MASKED = PLAN.cases, PLAN.seqs, PLAN.masked
DATA_SOURCE = PLAN.source.name
GAN, GAN_SEQS = PLAN.gan, PLAN.gan_seqs
SCORING, EPOCH_SCORING = PLAN.scoring, PLAN.epoch_scoring
SLICE_STAGE = PLAN.slice_stage
EVAL_CASES, EVAL_MASKED = PLAN.eval_cases, PLAN.eval_masked
cases_in, example_cases = PLAN.cases_in, PLAN.example_cases
rule_threads, rule_resources = PLAN.rule_threads, PLAN.rule_resources
# The runs whose epochs train on one node, and on several (gan.nodes > 1, SLURM)
ONE_NODE_TRAINING_RUNS = PLAN.runs_on_nodes(multi=False)
MULTI_NODE_TRAINING_RUNS = PLAN.runs_on_nodes(multi=True)


wildcard_constraints:
    case=r"[A-Za-z0-9][A-Za-z0-9._-]*",
    seq=r"pre|post\d+",
    run="|".join(re.escape(r) for r in PLAN.runs),
    epoch=r"\d+",


def check_resource_keys():
    try:
        PLAN.check_resource_keys([r.name for r in workflow.rules])
    except ConfigError as exc:
        raise WorkflowError(f"Configuration error: {exc}") from None


split_sheet = lambda: PLAN.split_sheet or []
all_outputs = lambda: PLAN.targets("all")
preprocess_outputs = lambda: PLAN.targets("preprocess")
synthesis_outputs = lambda: PLAN.targets("synthesis")
segmentation_outputs = lambda: PLAN.targets("segmentation")
ranking_inputs = PLAN.ranking_inputs
epoch_files = lambda name, run: {
    e: path(name, run=run, epoch=e) for e in PLAN.eval_epochs_of(run)
}
run_training = lambda wc: PLAN.training(wc.run)
run_label = lambda wc: PLAN.run_of(wc.run).label
run_losses = lambda wc: PLAN.loss_tables(wc.run)
run_eval_epochs = lambda wc: PLAN.eval_epochs_of(wc.run)
previous_state = lambda wc: path("state", run=wc.run, epoch=int(wc.epoch) - 1)
training_gpus = lambda wc: PLAN.epoch_gpus(wc.run)
epoch_threads = lambda wc: PLAN.epoch_threads(wc.run)
# the training chains before other jobs that are ready, the main run's first, and the preprocessing
# they wait for before them (PLAN.training_priority)
PREPROCESS_PRIORITY = PLAN.preprocess_priority
training_priority = lambda wc: PLAN.training_priority(wc.run)
epoch_priority = lambda wc: PLAN.training_priority(wc.run, epoch=True)
training_nodes_resources = lambda: PLAN.nodes_resources("train_epoch")
synthesis_target_files = lambda wc: PLAN.synthesis_files(wc.run, wc.case)
synthesis_generator = lambda wc: PLAN.synthesis_generator(wc.run)
# the runs synthesize_volume makes images for, and those whose images come from files (a regex
# that matches none if none)
TRAINED_RUNS = "|".join(re.escape(r) for r in PLAN.runs if r not in PLAN.external_runs)
EXTERNAL_RUNS = "|".join(re.escape(r) for r in PLAN.external_runs) or "(?!)"
figure_files = lambda wc: PLAN.figure_files(wc.run)
synthesis_figure_inputs = lambda wc: PLAN.figure_inputs(wc.run)
viewer_inputs = lambda wc: PLAN.figure_inputs(wc.run, PLAN.viewer_cases())


def ingest_input(wildcards):
    """The raw inputs of one case (its DICOM folder, or its files per sequence); the user's files
    are ``ancient``, the phantom's are the workflow's own outputs."""
    return {k: keep(f) for k, f in PLAN.ingest_inputs(wildcards.case).items()}


def mask_input(wildcards):
    mask = CASES.loc[wildcards.case, "mask"]
    return {
        "mask": keep(mask),
        "reference": path("volume", stage="nifti", case=wildcards.case, seq="pre"),
    }


keep = lambda f: f if PLAN.source.generated else ancient(f)
# The user's raw files rerun their case through their fingerprint, a parameter (not their times:
# an rsync -a copy keeps an older one); none for the phantom, whose files are the workflow's outputs.
fingerprint = PLAN.fingerprint_params


def export_source(wildcards):
    """The case's DICOM folder when the series links to the source study (export.dicom.link_to_source)."""
    if not PLAN.dicom_export["link_to_source"]:
        return {}
    return {"case_dir": ancient(CASES.loc[wildcards.case, "case_dir"])}


def dicom_seg_input(wildcards):
    """A case's predictions, the images they were made on and the synthetic series (the synthetic
    export writes it) when a model predicts on synthetic images."""
    return {
        **PLAN.dicom_seg_inputs(wildcards.run, wildcards.case),
        **export_source(wildcards),
    }


def dicom_seg_output():
    """The real series a case's SEG objects reference (this job writes them) and the SEG files."""
    series, segs = PLAN.dicom_seg_outputs()
    return [*(directory(s) for s in series), *segs]


dicom_link_params = PLAN.dicom_link_params


# Tumour segmentation (nnU-Net): the scenarios that run (segmentation.run), a pretrained model
# as one more scenario, the CV and test cases, and nnU-Net's folder names.
SEG = config["segmentation"]
SEG_CV, SEG_TEST = PLAN.seg_cv, PLAN.seg_test
SEG_TABLE_SCENARIOS = PLAN.table_scenarios
REAL_CROPS = ["real_pre", "real_post", segmentation.LABEL]


wildcard_constraints:
    scenario="|".join(re.escape(s) for s in PLAN.job_scenarios),
    domain="|".join(segmentation.IMAGES),
    dataset=r"Dataset\d{3}_\w+",
    model=re.escape(PLAN.seg_model),
    fold=r"\d+",


nnunet_model_dir, nnunet_folds = PLAN.model_dir, PLAN.folds
nnunet_root = lambda wc: path("nnunet_root", run=wc.run, scenario=wc.scenario)
nnunet_test_folder = lambda wc: PLAN.test_folder(wc.run, wc.scenario, wc.domain)
crop_input = lambda wc, images: PLAN.crop_inputs(wc.run, wc.case, images)
crop_path = PLAN.crop_path
# the cases of a list that a run has synthetic volumes of (all but an external run's missing ones)
run_cases = PLAN.of_run
run_seg_test = lambda run: PLAN.of_run(run, SEG_TEST)
# an external run's test cases without a volume: their label grids, for an empty prediction
no_image_labels = lambda run: {
    c: crop_path(run, c, segmentation.LABEL) for c in PLAN.missing_cases(run, SEG_TEST)
}
# a test folder's images, and {"no_image": label} for a case the run has none of
test_images = lambda run, domain: {
    **{c: crop_path(run, c, domain) for c in run_seg_test(run)},
    **{c: {segmentation.NO_IMAGE: f} for c, f in no_image_labels(run).items()},
}
nnunet_training_crops = lambda wc: PLAN.training_crops(wc.run, wc.scenario)
nnunet_dataset_input = lambda wc: PLAN.dataset_inputs(wc.run, wc.scenario)
segmentation_metric_tables = lambda wc: PLAN.metric_tables(wc.run)


def nnunet_checkpoints(wildcards):
    files = PLAN.checkpoints(wildcards.run, wildcards.scenario)
    if PLAN.segmenter_of(wildcards.scenario) == segmentation.PRETRAINED:
        return [ancient(f) for f in files]  # the user's files: never rebuilt
    return files
