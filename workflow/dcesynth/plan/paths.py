"""The output paths shared by several rules: one template each (a rule's own outputs stay in its rule)."""

from __future__ import annotations

from typing import Any

# One template per output shared by several rules (a rule's own outputs stay in its rule).
PATHS = {
    "volume": "results/{stage}/{case}/{seq}.nii.gz",  # stage: nifti, n4
    "mask": "results/nifti/{case}/mask.nii.gz",
    "slices": "results/slices/{case}/{seq}.npy",
    "transform": "results/slices/{case}/{seq}.json",
    "splits": "results/splits/{table}.tsv",  # table: synthesis, segmentation
    "cohort_figure": "results/figures/cohort.png",
    "pairs": "results/models/{run}/pairs/{split}.tsv",
    "state": "results/models/{run}/state/epoch_{epoch}.pt",
    "generator": "results/models/{run}/generator/epoch_{epoch}.pt",
    "generator_best": "results/models/{run}/generator_best.pt",
    # an external model's record (models.<run>.images): what every rule's generator input is for it
    "external_model": "results/models/{run}/external.json",
    "synthetic": "results/synthetic/{run}/{case}/{seq}.nii.gz",
    "synthetic_slices": "results/synthetic/{run}/{case}/{seq}.npy",
    "subtraction": "results/subtraction/{run}/{case}/{kind}_{seq}.nii.gz",
    # one DICOM MR series (a folder of one file per slice) per synthetic volume
    "dicom_series": "results/dicom/{run}/{case}/synthetic_{seq}",
    # the acquired volumes the segmentations were predicted on (as the pipeline holds them), and
    # one DICOM SEG per prediction, referencing the series of its test image
    "dicom_real_series": "results/dicom/{run}/{case}/real_{seq}",
    "dicom_seg": "results/dicom/{run}/{case}/seg_{scenario}_on_{domain}.dcm",
    "viewer": "results/viewer/{run}/index.html",
    "epoch_metrics": "results/metrics/{run}/val/epoch_{epoch}.tsv",
    "crop": "results/segmentation/{run}/crops/{case}/{image}.nii.gz",
    # one nnU-Net tree (nnUNet_raw, _preprocessed, _results) per scenario
    "nnunet_root": "results/segmentation/{run}/{scenario}",
    "nnunet_metrics": "results/segmentation/{run}/{scenario}/metrics_{domain}.tsv",
    "prediction": "results/segmentation/{run}/{scenario}/predictions/{domain}/{case}.nii.gz",
    # the final outputs a run asks for (targets) and the rules that make them
    "train_log": "results/models/{run}/train_log.tsv",
    "losses_figure": "results/models/{run}/figures/losses.png",
    "epochs_table": "results/metrics/{run}/epochs.tsv",
    "val_preview": "results/models/{run}/val_preview.tsv",
    "synthesis_grid": "results/figures/{run}/synthesis_grid.png",
    "tumour_crops": "results/figures/{run}/tumour_crops.png",
    "table1": "results/tables/{run}/table1.tsv",
    "tumour_region": "results/tables/{run}/tumour_region.tsv",
    "model_ranking": "results/tables/model_ranking.tsv",
    # a run's test slices as the MAMA-SYNTH evaluator reads them, and the challenge's two classifiers
    "mama_synth": "results/mama_synth/{run}",
    "classifier": "results/classifiers/{kind}.pkl",  # kind: contrast, tumour_roi
    "model_slices": "results/figures/model_slices.png",
    "segmentation_table": "results/tables/{run}/segmentation.tsv",
    "segmentation_figure": "results/figures/{run}/segmentation_dice.png",
    "losses": "results/models/{run}/losses/epoch_{epoch}.tsv",
}


def path(name: str, **wildcards: Any) -> str:
    """An output path from its template; wildcards left out stay as ``{name}`` for Snakemake."""
    return PATHS[name].format_map(_Keep(wildcards))


def by_case(name: str, cases: list[str], seqs: list[str] | None = None, **wildcards: Any) -> dict:
    """``{case: path}``, or ``{case: {seq: path}}`` with ``seqs``: how a script is told which file
    is whose (a rule param beside its inputs), so that no script reads meaning from a path."""
    if seqs is None:
        return {c: path(name, case=c, **wildcards) for c in cases}
    return {c: {s: path(name, case=c, seq=s, **wildcards) for s in seqs} for c in cases}


class _Keep(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
