from dcesynth import logs

log = logs.from_snakemake(snakemake)

import math

import numpy as np
import pandas as pd
import SimpleITK as sitk
from tqdm import tqdm

from dcesynth.evaluation.features import lpips_network
from dcesynth.figures import plot_model_slices
from dcesynth.evaluation.ranking import (BASELINE, HIGHER_IS_BETTER, SEGMENTER_METRICS, SLICE_METRICS, frd_tumour,
                                         largest_tumour_slice, rank_models, segmenter_scores, slice_scores,
                                         tumour_box, tumour_features)  # fmt: skip
from dcesynth.io import write_table
from dcesynth.synthesis import read_transform, stack_to_volume

p = snakemake.params
lpips_net = lpips_network(p.lpips)
rows, figure, aspect = [], {}, {}
real_features, fake_features = {}, {}
for case, f in tqdm(p.cases.items(), desc="ranking cases", unit="case", mininterval=5):
    mask_img = sitk.ReadImage(f["mask"])
    transform = read_transform(f["transform"])
    mask = sitk.GetArrayFromImage(mask_img) > 0
    z = largest_tumour_slice(mask)
    sx, sy = mask_img.GetSpacing()[:2]
    box = tumour_box(mask[z], (math.ceil(p.margin_mm / sy), math.ceil(p.margin_mm / sx)))

    def plane(stack_file):  # the slice on the 0-255 model scale, on the mask's grid
        return sitk.GetArrayFromImage(stack_to_volume(np.load(stack_file), transform, mask_img))[z].astype(np.float32)

    real = plane(f["real"])
    fakes = {BASELINE: plane(f["pre"]), **{run: plane(f["synthetic"][run]) for run in p.runs}}
    real_features[case] = tumour_features(real, box)
    for model, fake in fakes.items():
        rows.append({"model": model, "case": case, "slice": z, **slice_scores(real, fake, box, lpips_net)})
        fake_features.setdefault(model, {})[case] = tumour_features(fake, box)
    figure[case] = {"panels": {"real post-contrast": real, **fakes}, "mask": mask[z], "slice": z}
    aspect[case] = sy / sx
table = pd.DataFrame(rows)
metrics = [m for m in SLICE_METRICS if lpips_net is not None or m != "lpips"]

seg = p.segmentation
if seg:  # the fixed segmenter's Dice and HD95 on each run's synthetic volume and on the pre-contrast one
    diagonal = {}
    for case, label in seg["labels"].items():
        img = sitk.ReadImage(label)
        diagonal[case] = float(np.linalg.norm(np.multiply(img.GetSize(), img.GetSpacing())))
    # case ids as written (a numeric-looking id such as 001 stays a string)
    read = lambda f: segmenter_scores(pd.read_csv(f, sep="\t", dtype={"case_id": str}), diagonal)  # noqa: E731
    scores = {**{run: read(f) for run, f in seg["runs"].items()}, BASELINE: read(seg["baseline"])}
    for m in SEGMENTER_METRICS:
        table[m] = [scores[model][m].get(case, np.nan) for model, case in zip(table["model"], table["case"])]
    metrics += list(SEGMENTER_METRICS)
    log.info("fixed segmenter: %s (Dice and HD95 on %d test cases)", p.segmenter, len(seg["labels"]))
else:
    log.info("no fixed segmenter (segmentation off, or segmentation.ranking_segmenter does not run): the ranking "
             "has no Dice or HD95")  # fmt: skip

ranking = rank_models(table, metrics, HIGHER_IS_BETTER, n_bootstrap=1000, seed=p.seed,
                      set_metrics={"frd_tumour": frd_tumour(real_features, fake_features)})  # fmt: skip
ranking.insert(1, "family", ranking["model"].map(lambda m: p.runs.get(m, {}).get("family", "none")))
ranking.insert(2, "target", ranking["model"].map(lambda m: p.runs.get(m, {}).get("target", "")))
ranking["slice"] = "largest tumour area, axial"
lpips_provenance = lpips_net.provenance if lpips_net is not None else "off"
ranking["lpips_provenance"] = lpips_provenance
ranking["segmenter"] = p.segmenter if seg else "none"
ranking["n_cases_segmenter"] = int(table.loc[table["model"] == BASELINE, "dice"].notna().sum()) if seg else 0
ranking["cohort"] = p.cohort
write_table(ranking, snakemake.output.ranking)
write_table(table.assign(lpips_provenance=lpips_provenance, cohort=p.cohort), snakemake.output.cases)
plot_model_slices(figure, aspect, snakemake.output.figure)
for _, row in ranking.iterrows():
    log.info("rank %d: %s (mean rank %.2f; held it in %.0f%% of bootstrap draws)", row["rank"], row["model"],
             row["mean_rank"], 100 * row["p_same_rank"])  # fmt: skip
