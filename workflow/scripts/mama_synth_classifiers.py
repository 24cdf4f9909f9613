from dcesynth import logs

log = logs.from_snakemake(snakemake)

import pickle

import numpy as np
import pandas as pd
from tqdm import tqdm

from dcesynth.evaluation.mama_synth import (CLASSIFIERS, case_slices, classifier_samples, cross_validated_auroc,
                                            fit_classifier)  # fmt: skip
from dcesynth.frd import FEATURE_NAMES
from dcesynth.io import atomic_path, write_table

# MAMA-SYNTH's two classifiers, trained on the real images of the annotated cases outside the test set:
# contrast (real post- against pre-contrast, whole slice) and tumour ROI (the tumour against its
# left-right mirror on the real post-contrast slice), on radiomic features of the evaluated slice.
p, out = snakemake.params, snakemake.output
samples = {k: {"positive": [], "negative": [], "cases": []} for k in CLASSIFIERS}
for case, f in tqdm(p.cases.items(), desc="classifier training cases", unit="case", mininterval=5):
    s = case_slices(f["mask"], f["volumes"])
    for kind, (pos, neg) in classifier_samples(s).items():
        samples[kind]["positive"].append(pos)
        samples[kind]["negative"].append(neg)
        samples[kind]["cases"].append(case)

rows, summary = [], []
for kind in CLASSIFIERS:
    pos, neg, cases = np.array(samples[kind]["positive"]), np.array(samples[kind]["negative"]), samples[kind]["cases"]
    try:
        clf = fit_classifier(pos, neg, seed=p.seed)
    except ValueError as exc:  # too few annotated cases: no classifier, the ranking leaves its AUROC out
        log.warning("no %s classifier: %s (annotated cases outside the test set: %d)", kind, exc, len(p.cases))
        clf = None
    cv_auroc = cross_validated_auroc(pos, neg, cases, seed=p.seed) if clf is not None else np.nan
    with atomic_path(getattr(out, kind)) as tmp, open(tmp, "wb") as fh:
        pickle.dump(clf, fh)
    for label, X in ((1, pos), (0, neg)):
        rows += [{"classifier": kind, "case": c, "label": label, **dict(zip(FEATURE_NAMES, x))} for c, x in zip(cases, X)]
    summary.append({"classifier": kind, "trained": clf is not None, "n_cases": len(cases), "cv_auroc": cv_auroc,
                    "model": "StandardScaler + LogisticRegression (L2, scikit-learn)", "seed": p.seed,
                    "features": f"{len(FEATURE_NAMES)} radiomic features (dcesynth.frd, no re-z-scoring)"})  # fmt: skip
    log.info("%s classifier: %d training cases, cross-validated AUROC %.3f", kind, len(cases), cv_auroc)
write_table(pd.DataFrame(rows).assign(cohort=p.cohort), out.training)
write_table(pd.DataFrame(summary).assign(cohort=p.cohort), out.summary)
