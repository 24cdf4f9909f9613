from dcesynth import logs

log = logs.from_snakemake(snakemake)

from pathlib import Path

import pandas as pd
from tqdm import tqdm

from dcesynth.evaluation.mama_synth import case_slices, export_case
from dcesynth.io import atomic_path, write_table

# One folder per run in the challenge evaluator's local-mode layout; written to a temporary folder
# and renamed, so that a killed job leaves no half export.
p, out = snakemake.params, Path(snakemake.output.folder)
rows = []
with atomic_path(out) as tmp:
    for case, f in tqdm(p.cases.items(), desc=f"MAMA-SYNTH export of {snakemake.wildcards.run}", unit="case",
                        mininterval=5):  # fmt: skip
        s = case_slices(f["mask"], f["volumes"], {"prediction": f["prediction"]} if "prediction" in f else {})
        export_case(tmp, case, s)
        rows.append({"case": case, "slice": s["z"], "pre_mean": s["mean"], "pre_sd": s["sd"],
                     "spacing_x_mm": s["spacing"][0], "spacing_y_mm": s["spacing"][1]})  # fmt: skip
        if "prediction" not in f:
            log.warning("%s: no volume of this model; the export leaves its prediction out", case)
    write_table(pd.DataFrame(rows, columns=["case", "slice", "pre_mean", "pre_sd", "spacing_x_mm", "spacing_y_mm"]),
                Path(tmp, "cases.tsv"))  # fmt: skip
log.info("%d test cases exported to %s (z-scored with each case's pre-contrast statistics)", len(rows), out)
