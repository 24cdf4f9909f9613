from dcesynth import logs

log = logs.from_snakemake(snakemake)

import pickle

import numpy as np
import pandas as pd
import SimpleITK as sitk
from tqdm import tqdm

from dcesynth.evaluation import mama_synth as ms
from dcesynth.evaluation.features import lpips_network
from dcesynth.evaluation.ranking import rank_models
from dcesynth.figures import plot_model_slices
from dcesynth.frd import frd
from dcesynth.io import write_table

# Every run ranked by the MAMA-SYNTH challenge's eight metrics, computed on the runs' exports
# (results/mama_synth/{run}: what the challenge's evaluator would read); the pre-contrast image
# as it is gets a row of its own, unranked.
BASELINE = "pre-contrast (as is)"
p = snakemake.params
lpips_net = lpips_network(p.lpips)
classifiers = {}
for kind in ms.CLASSIFIERS:
    with open(getattr(snakemake.input, kind), "rb") as fh:
        classifiers[kind] = pickle.load(fh)
seg = p.segmentation
models = [*p.runs, BASELINE]
exported = pd.read_csv(f"{p.exports[p.main]}/cases.tsv", sep="\t", dtype={"case": str}).set_index("case")
rows, figure, aspect = [], {}, {}
real_roi, fake_roi = {}, {m: {} for m in models}
contrast = {m: {} for m in models}  # the contrast classifier's probability of each model's slice
pre_contrast, tumour, mirror = {}, {m: {} for m in models}, {m: {} for m in models}
for case in tqdm(p.cases, desc="ranking cases", unit="case", mininterval=5):
    truth = ms.read_export(p.exports[p.main], case)  # every run's export holds the same ground truth
    # a run without this case's prediction (an external model's missing volume) is imputed below
    files = {run: ms.export_path(p.exports[run], "prediction", case) for run in p.runs}
    predictions = {run: ms.read_slice(f)[0] for run, f in files.items() if f.exists()}
    predictions[BASELINE] = truth["pre"]
    real, mask = truth["real"], truth["mask"]
    real_roi[case] = ms.roi_features(real, mask)
    whole, mirrored = np.ones(real.shape, dtype=bool), ms.mirrored(mask)
    plane = ms.Plane(sitk.ReadImage(p.masks[case])) if seg and case in seg["cases"] else None
    for model in models:
        if model not in predictions:
            rows.append({"model": model, "case": case, "missing_prediction": True,
                         **(ms.segmenter_on_slice(plane, None) if plane is not None else {})})  # fmt: skip
            continue
        pred = predictions[model]
        row = {"model": model, "case": case, "mse_full_image": ms.mse_full_image(pred, real),
               "lpips_full_image": ms.lpips_full_image(lpips_net, pred, real) if lpips_net else np.nan,
               "ssim_roi": ms.ssim_roi(pred, real, mask), "missing_prediction": False}  # fmt: skip
        if plane is not None:
            preds = seg["runs"][model] if model in p.runs else seg["baseline"]
            row.update(ms.segmenter_on_slice(plane, preds.get(case)))
        rows.append(row)
        # each slice's radiomic features once: the tumour (FRD and the tumour-ROI classifier), the
        # whole slice (the contrast classifier) and the tumour's mirror
        fake_roi[model][case] = ms.roi_features(pred, mask)
        contrast[model][case] = ms.probabilities(classifiers["contrast"], ms.roi_features(pred, whole)[None])[0]
        if mirrored is not None:
            X = np.stack([fake_roi[model][case], ms.roi_features(pred, mirrored)])
            tumour[model][case], mirror[model][case] = ms.probabilities(classifiers["tumour_roi"], X)
    pre_contrast[case] = contrast[BASELINE][case]  # the baseline's slice is the real pre-contrast one
    panels = {m: predictions.get(m, np.full(real.shape, np.nan)) for m in models}  # a missing one blank
    figure[case] = {"panels": {"real post-contrast": real, **panels}, "mask": mask, "slice": exported.loc[case, "slice"]}
    aspect[case] = truth["spacing"][1] / truth["spacing"][0]
table = pd.DataFrame(rows).reindex(columns=["model", "case", *ms.CASE_METRICS, "missing_prediction"])

# the challenge's imputations: a case a run has no prediction of gets that run's worst value of
# each metric; a segmentation test case without a (non-empty) prediction the worst value observed
metrics = ["mse_full_image", *(["lpips_full_image"] if lpips_net else []), "ssim_roi"]
table = ms.impute_missing_cases(table, metrics)
n_missing = table.groupby("model")["missing_prediction"].sum()
for model, n in n_missing.items():
    if n:
        log.warning("%s: no prediction for %d of %d cases; each gets the run's worst value of every per-case metric",
                    model, n, len(p.cases))  # fmt: skip
if seg:
    # an empty segmentation first (the worst over the runs), then a missing case (the run's own
    # worst, its imputed empty ones included), on the segmentation test cases only
    table = ms.impute_worst(table, cases=seg["cases"], baseline=BASELINE, exclude=table["missing_prediction"])
    table = ms.impute_missing_cases(table, list(ms.SEGMENTATION_METRICS), cases=seg["cases"])
    metrics += list(ms.SEGMENTATION_METRICS)
    log.info("fixed segmenter: %s (Dice and HD95 on the evaluated slice of %d test cases; %d predictions imputed)",
             p.segmenter, len(set(p.cases) & set(seg["cases"])), int(table["imputed_dice"].sum()))  # fmt: skip
else:
    log.info("no fixed segmenter (segmentation off, or segmentation.ranking_segmenter does not run): the ranking "
             "has no Dice or HD95")  # fmt: skip


# the set metrics of a draw: each model's on the drawn cases it has a prediction of
def frd_roi(ids):
    out = {}
    for m in models:
        have = [c for c in ids if c in fake_roi[m]]
        try:
            out[m] = frd(np.stack([real_roi[c] for c in have]), np.stack([fake_roi[m][c] for c in have]))
        except ValueError:  # no feature varies across the drawn real slices (or too few of them)
            out[m] = np.nan
    return out


def auroc_contrast(ids):
    return {m: ms.auroc(np.array([contrast[m][c] for c in ids if c in contrast[m]]),
                        np.array([pre_contrast[c] for c in ids if c in contrast[m]])) for m in models}  # fmt: skip


def auroc_tumour_roi(ids):
    return {m: ms.auroc(np.array([tumour[m][c] for c in ids if c in tumour[m]]),
                        np.array([mirror[m][c] for c in ids if c in mirror[m]])) for m in models}  # fmt: skip


set_metrics = {"frd_roi": frd_roi, "auroc_contrast": auroc_contrast, "auroc_tumour_roi": auroc_tumour_roi}
for kind in ms.CLASSIFIERS:
    if classifiers[kind] is None:
        log.warning("no %s classifier (too few annotated cases outside the test set): auroc_%s is left out", kind, kind)
        del set_metrics[f"auroc_{kind}"]
ranking = rank_models(table, metrics, ms.HIGHER_IS_BETTER, n_bootstrap=p.n_bootstrap, seed=p.seed,
                      set_metrics=set_metrics, baseline=BASELINE)  # fmt: skip
ranked = [*metrics, *set_metrics]
ranking = ranking.reindex(columns=["model", *ms.CHALLENGE_METRICS, *[c for c in ranking.columns
                                                                     if c not in ms.CHALLENGE_METRICS and c != "model"]])  # fmt: skip
ranking.insert(1, "family", ranking["model"].map(lambda m: p.runs.get(m, {}).get("family", "none")))
ranking.insert(2, "target", ranking["model"].map(lambda m: p.runs.get(m, {}).get("target", "")))
ranking["metrics_ranked"] = ", ".join(m for m in ms.CHALLENGE_METRICS if m in ranked)
ranking["slice"] = "largest tumour area, axial; z-scored with the case's pre-contrast statistics"
lpips_provenance = lpips_net.provenance if lpips_net is not None else "off"
ranking["lpips_provenance"] = lpips_provenance
ranking["segmenter"] = p.segmenter if seg else "none"
ranking["n_cases_segmenter"] = len(set(p.cases) & set(seg["cases"])) if seg else 0
# the cases whose segmentation was missing or empty and got the worst observed value
imputed = table.groupby("model")["imputed_dice"].sum() if seg else {}
ranking["n_imputed_segmentation"] = ranking["model"].map(lambda m: int(imputed.get(m, 0)) if seg else 0)
# the cases a run has no prediction of, each imputed with the run's worst values
ranking["n_missing_cases"] = ranking["model"].map(lambda m: int(n_missing.get(m, 0)))
ranking["cohort"] = p.cohort
write_table(ranking, snakemake.output.ranking)
write_table(table.assign(lpips_provenance=lpips_provenance, cohort=p.cohort), snakemake.output.cases)
plot_model_slices(figure, aspect, snakemake.output.figure, vrange=(-1.0, ms.LPIPS_CLIP))
for _, row in ranking.iterrows():
    if pd.isna(row["rank"]):
        log.info("%s (not ranked): mean MSE %.3f", row["model"], row["mse_full_image"])
    else:
        log.info("rank %d: %s (mean rank %.2f; held it in %.0f%% of bootstrap draws)", row["rank"], row["model"],
                 row["mean_rank"], 100 * row["p_same_rank"])  # fmt: skip
