# Sheets, config validation, input functions and wildcard constraints shared by every stage.
import re
import sys
from pathlib import Path

from snakemake.utils import validate

from dcesynth import devices, segmentation
from dcesynth.cohort import FILE_SOURCES
from dcesynth.plan import by_case, path
from dcesynth.plan import load as load_plan
from dcesynth.errors import ConfigError

# Validation against the schema (its defaults filled in) and the plan (dcesynth.plan): the case
# table, the splits (computed and checked once), the cases of every stage and the GAN's epochs, all
# from the config; a refusal stops here, before any job.
SHIPPED = Path(workflow.basedir) / "resources"
try:
    PLAN = load_plan(config, Path(workflow.basedir))
except ConfigError as exc:
    raise WorkflowError(f"Configuration error: {exc}") from None
if workflow.is_main_process:
    print(PLAN.summary(), file=sys.stderr)
if PLAN.refusals:  # after the summary, which says why
    if not config["splits"]["allow_empty"]:
        raise WorkflowError(
            "Configuration error: the splits cannot run:\n  "
            + "\n  ".join(PLAN.refusals)
        )
    if workflow.is_main_process:  # splits.allow_empty: say it, and run what can run
        print("WARNING: " + "\nWARNING: ".join(PLAN.refusals), file=sys.stderr)
if (
    workflow.is_main_process
    and PLAN.dicom_export["enabled"]
    and PLAN.dicom_export["link_to_source"]
):
    print(
        "WARNING: export.dicom.link_to_source: the DICOM series in results/dicom/ carry the patient's "
        "identity from the source headers; keep them inside the hospital's systems",
        file=sys.stderr,
    )

validate(PLAN.cases, schema="../../config/schema/cases.schema.yaml")

# Bindings the rules use by name.
CASES = PLAN.cases
SEQS = PLAN.seqs
MASKED = PLAN.masked
DATA_SOURCE = config["data"]["source"]
GAN = PLAN.gan
RUN = PLAN.run
GAN_SEQS = PLAN.gan_seqs
SCORING = PLAN.scoring
EPOCH_SCORING = PLAN.epoch_scoring
SLICE_STAGE = PLAN.slice_stage
EVAL_CASES = PLAN.eval_cases
EVAL_MASKED = PLAN.eval_masked
SYNTH_CASES = PLAN.synth_cases
cases_in = PLAN.cases_in


def split_sheet():
    """The split sheet the splits were read from (an input of split_cases), or none."""
    return PLAN.split_sheet or []


def gan_outputs():
    return PLAN.targets("synthesis")


def epoch_files(name, run):
    """``{epoch: path}`` of the evaluated epochs (a param of the selection jobs)."""
    return {e: path(name, run=run, epoch=e) for e in PLAN.eval_epochs_of(run)}


def ranking_inputs():
    files = PLAN.ranking_files()
    return [
        f
        for case in files.values()
        for key, f in case.items()
        for f in (f.values() if key == "synthetic" else [f])
    ] + [
        f
        for group in PLAN.ranking_segmentation().values()
        for f in (group.values() if isinstance(group, dict) else [group])
    ]


def run_training(wildcards):
    return PLAN.training(wildcards.run)


def run_losses(wildcards):
    return [
        f"results/gan/{wildcards.run}/losses/epoch_{e}.tsv"
        for e in range(1, PLAN.n_epochs_of(wildcards.run) + 1)
    ]


def run_eval_epochs(wildcards):
    return PLAN.eval_epochs_of(wildcards.run)


def previous_state(wildcards):
    return path("state", run=wildcards.run, epoch=int(wildcards.epoch) - 1)


def use_cuda():
    """Whether GPU rules ask the scheduler for a GPU (the one place that decides it)."""
    return devices.wants_gpu(config["device"])


wildcard_constraints:
    case=r"[A-Za-z0-9][A-Za-z0-9._-]*",
    seq=r"pre|post\d+",
    run="|".join(re.escape(r) for r in PLAN.runs),
    epoch=r"\d+",


def rule_resources(name, gpu=0):
    """Resources of a rule from config (`resources.<rule>`), with the defaults of `resources.default`;
    ``gpu``: the GPUs a job of this rule uses when it runs on CUDA."""
    merged = dict(config["resources"]["default"])
    merged.update(config["resources"].get(name) or {})
    merged.pop("threads", None)
    if gpu:
        merged["gpu"] = int(gpu) if use_cuda() else 0
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


def gan_nodes_resources():
    """A pix2pixHD epoch over gan.nodes nodes (SLURM profile): the nodes and one task on each;
    `mpi` makes the plugin run the job itself on the first node (not in a one-task step), so that it
    can start its own srun; on CUDA each node's share of the GPUs (`gres` counts per node, the
    plugin's `gpu` per job)."""
    nodes = PLAN.gan_nodes
    out = {
        **rule_resources("train_gan_epoch"),
        "nodes": nodes,
        "tasks": nodes,
        "mpi": "srun",
    }
    if use_cuda():
        out |= {"gres": f"gpu:{PLAN.gan_processes // nodes}", "tasks_per_gpu": 0}
    else:
        out["gpu"] = 0  # the job then trains on the CPU (dcesynth.devices.job_device)
    return out


def gan_epoch_gpus(wildcards):
    """GPUs of one train_gan_epoch job on CUDA: one per training process."""
    if not use_cuda():
        return 0
    return PLAN.gan_processes if PLAN.family(wildcards.run) == "pix2pixHD" else 1


# Jobs of the GAN chains (training, epoch scoring, SAMe's choice, synthesis) run before others that
# are ready: everything synthetic waits for them, while real-image work (nnU-Net on real crops) fills in.
GAN_CHAIN_PRIORITY = 1


# The runs whose epochs train_gan_epoch trains on one node (all but a multi-node pix2pixHD)
ONE_NODE_TRAINING_RUNS = (
    "|".join(re.escape(r) for r in PLAN.runs if PLAN.gan_nodes == 1 or r != PLAN.run)
    or "(?!)"
)


def rule_threads(name):
    return (config["resources"].get(name) or {}).get(
        "threads", config["resources"]["default"].get("threads", 1)
    )


def ingest_input(wildcards):
    """The raw inputs of one case: its DICOM folder, or its NIfTI files from the sheet."""
    row = CASES.loc[wildcards.case]
    if DATA_SOURCE in FILE_SOURCES:
        return {seq: ancient(row[seq]) for seq in SEQS}
    if DATA_SOURCE == "phantom":
        return {"case_dir": row["case_dir"]}
    return {"case_dir": ancient(row["case_dir"])}


def mask_input(wildcards):
    row = CASES.loc[wildcards.case]
    mask = row["mask"] if DATA_SOURCE == "phantom" else ancient(row["mask"])
    return {
        "mask": mask,
        "reference": path("volume", stage="nifti", case=wildcards.case, seq="pre"),
    }


def synthesis_target_files(wildcards):
    return PLAN.synthesis_files(wildcards.run, wildcards.case)


def export_source(wildcards):
    """The case's DICOM folder when the series links to the source study (export.dicom.link_to_source)."""
    if not PLAN.dicom_export["link_to_source"]:
        return {}
    return {"case_dir": ancient(CASES.loc[wildcards.case, "case_dir"])}


def dicom_seg_input(wildcards):
    """A case's predictions and the images they were made on (with the synthetic series, which
    the synthetic export writes, when a pretrained model predicts on synthetic images).
    """
    files = PLAN.dicom_seg_files(wildcards.run, wildcards.case)
    refs = files["references"]
    synthetic = (
        {"synthetic_series": refs["syn_post"]["series"]} if "syn_post" in refs else {}
    )
    return {
        "predictions": [f["prediction"] for f in files["predictions"].values()],
        "volumes": [r["volume"] for r in refs.values()],
        **synthetic,
        **export_source(wildcards),
    }


def dicom_seg_output():
    """The real series a case's SEG objects reference (this job writes them) and the SEG files."""
    files = PLAN.dicom_seg_files()
    series = [
        directory(r["series"])
        for d, r in files["references"].items()
        if d != "syn_post"
    ]
    return [*series, *(f["seg"] for f in files["predictions"].values())]


def dicom_link_params():
    """What finds the source series when the export links to the source study, else None."""
    if not PLAN.dicom_export["link_to_source"]:
        return None
    return {
        "include": config["series"]["include"],
        "exclude": config["series"]["exclude"],
        "source_seq": GAN["input"],
    }


def synthesis_generator(wildcards):
    return PLAN.synthesis_generator(wildcards.run)


figure_cases = PLAN.figure_cases
example_cases = PLAN.example_cases


def figure_files(wildcards):
    return PLAN.figure_files(wildcards.run)


def viewer_inputs(wildcards):
    files = PLAN.figure_files(wildcards.run, PLAN.viewer_cases())
    return [f for case in files.values() for f in case.values() if f]


def synthesis_figure_inputs(wildcards):
    return [
        f for files in figure_files(wildcards).values() for f in files.values() if f
    ]


def preprocess_outputs():
    return PLAN.targets("preprocess")


def all_outputs():
    return PLAN.targets("all")


# Tumour segmentation (nnU-Net): the scenarios that run (segmentation.run), a pretrained model
# as one more scenario, the CV and test cases, and nnU-Net's folder names.
SEG = config["segmentation"]
SEG_CV = PLAN.seg_cv
SEG_TEST = PLAN.seg_test
SEG_FOLDS = PLAN.seg_folds
SEG_SCENARIOS = PLAN.scenarios
SEG_TABLE_SCENARIOS = PLAN.table_scenarios
SEG_MODEL = PLAN.seg_model
SEG_IMAGES = {
    "real_pre": path("volume", stage=SLICE_STAGE, seq=GAN["input"]),
    "real_post": path("volume", stage=SLICE_STAGE, seq=GAN["targets"][0]),
    "syn_post": path("synthetic", seq=GAN["targets"][0]),
    "label": path("mask"),
}
REAL_CROPS = ["real_pre", "real_post", segmentation.LABEL]
# the scenario wildcard's values: the tables' scenarios and the model ranking's fixed segmenter
SEG_JOB_SCENARIOS = [*SEG_TABLE_SCENARIOS] + (
    [segmentation.FIXED] if PLAN.fixed_segmenter else []
)


wildcard_constraints:
    scenario="|".join(re.escape(s) for s in SEG_JOB_SCENARIOS),
    domain="|".join(segmentation.IMAGES),
    dataset=r"Dataset\d{3}_\w+",
    model=re.escape(SEG_MODEL),
    fold=r"\d+",


nnunet_dataset_name = PLAN.dataset_name
nnunet_model_dir = PLAN.model_dir
nnunet_folds = PLAN.folds


def nnunet_root(wildcards):
    """The scenario's nnU-Net tree (nnUNet_raw, _preprocessed, _results): a job's param."""
    return path("nnunet_root", run=wildcards.run, scenario=wildcards.scenario)


def nnunet_checkpoints(wildcards):
    model = nnunet_model_dir(wildcards.run, wildcards.scenario)
    files = [
        f"{model}/fold_{f}/checkpoint_final.pth"
        for f in nnunet_folds(wildcards.scenario)
    ]
    if PLAN.segmenter_of(wildcards.scenario) == segmentation.PRETRAINED:
        return [ancient(f) for f in files]  # the user's files: never rebuilt
    return files


def nnunet_test_folder(wildcards):
    name = nnunet_dataset_name(wildcards.scenario)
    return f"{nnunet_root(wildcards)}/nnUNet_raw/{name}/imagesTs_{wildcards.domain}"


def crop_input(wildcards, images):
    """The volumes a crop job cuts (``label`` is the mask itself) and the mask that places the cut."""
    return {
        **{
            i: SEG_IMAGES[i].format(case=wildcards.case, run=wildcards.run)
            for i in images
        },
        "mask": path("mask", case=wildcards.case),
    }


def crop_path(run, case, image):
    """A case's crop; labels are the main run's (the same for every run, cut once)."""
    return path(
        "crop",
        run=PLAN.run if image == segmentation.LABEL else run,
        case=case,
        image=image,
    )


def nnunet_training_crops(wildcards):
    return PLAN.training_crops(wildcards.run, wildcards.scenario)


def nnunet_dataset_input(wildcards):
    crops = nnunet_training_crops(wildcards)
    return {
        "images": [p for case in crops["images"].values() for p in case.values()],
        "labels": list(crops["labels"].values()),
    }


def segmentation_metric_tables(wildcards):
    return [
        path("nnunet_metrics", run=wildcards.run, scenario=s, domain=d)
        for s, d in PLAN.seg_pairs
    ]


def segmentation_outputs():
    return PLAN.targets("segmentation")
