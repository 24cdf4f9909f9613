"""The plan's cohort: the cases of every stage and split, the cases the figures and the viewer show,
and the cohort summary every run prints first."""

from __future__ import annotations

import random
from functools import cached_property

import pandas as pd

from .. import cohort, sources, splits
from ..fingerprint import fingerprint
from .runs import n_epochs


class CohortMixin:
    @property
    def source(self):
        """The cohort source (:class:`dcesynth.sources.Source`)."""
        return sources.source(self.config["data"]["source"])

    def ingest_inputs(self, case: str) -> dict[str, str]:
        """The raw inputs of one case's ingest job."""
        return self.source.ingest_inputs(self.cases.loc[case], self.seqs)

    def input_fingerprint(self, case: str) -> str:
        """The fingerprint of one case's raw images (:mod:`dcesynth.fingerprint`)."""
        return fingerprint(list(self.ingest_inputs(case).values()))

    def mask_fingerprint(self, case: str) -> str:
        return fingerprint([self.cases.loc[case, "mask"]])

    def fingerprint_params(self, name: str) -> dict:
        """A rule's fingerprint parameter: ``{"inputs": f(wildcards)}`` (the case's images),
        ``{"mask_file": ...}``, ``{"images": ...}`` (an external run's volumes of the case) or
        ``{"run_images": ...}`` (an external run's volumes of the ranked cases); none
        where ``ingest.fingerprint`` is off, and none for the images of a generated source (the
        phantom's files are the workflow's own outputs; an external run's are never)."""
        if not self.config["ingest"]["fingerprint"]:
            return {}
        if name == "images":
            return {name: lambda wildcards: fingerprint(list(self.external_images(wildcards.run, wildcards.case).values()))}
        if name == "run_images":  # every volume of an external run's ranked cases (its export reads them)
            return {name: lambda wildcards: fingerprint([f for c in self.ranking_cases()
                                                         for f in self.external_images(wildcards.run, c).values()])}  # fmt: skip
        if self.source.generated:
            return {}
        of = self.input_fingerprint if name == "inputs" else self.mask_fingerprint
        return {name: lambda wildcards: of(wildcards.case)}

    # --- cohort and splits -----------------------------------------------------------------

    @property
    def case_ids(self) -> list[str]:
        return self.cases["case_id"].tolist()

    @property
    def seqs(self) -> list[str]:
        return cohort.sequences(self.config["data"]["post_phases"])

    @cached_property
    def masked(self) -> list[str]:
        return [c for c, m in zip(self.cases["case_id"], self.cases["has_mask"]) if m]

    def cases_in(self, split: str) -> list[str]:
        return self.synthesis.loc[self.synthesis["split"] == split, "case_id"].tolist()

    @cached_property
    def eval_cases(self) -> list[str]:
        """Validation and test cases: what Table 1, the figures and the tumour regions use."""
        return self.cases_in("val") + self.cases_in("test")

    @cached_property
    def eval_masked(self) -> list[str]:
        masked = set(self.masked)
        return [c for c in self.eval_cases if c in masked]

    @cached_property
    def synth_cases(self) -> list[str]:
        """Cases synthesised: evaluation cases, or every case (``synthesis.cases: all``)."""
        if self.config["synthesis"].get("cases", "evaluation") == "evaluation":
            return self.eval_cases
        return self.eval_cases + self.cases_in("train")

    @cached_property
    def dicom_export(self) -> dict:
        """``export.dicom`` with its defaults."""
        cfg = (self.config.get("export") or {}).get("dicom") or {}
        return {"enabled": bool(cfg.get("enabled", True)), "link_to_source": bool(cfg.get("link_to_source", False))}

    @property
    def slice_stage(self) -> str:
        """The volumes slices are cut from (and segmentation crops): N4-corrected or ingested."""
        return "n4" if self.config["slices"]["use_n4"] else "nifti"

    # --- figures ---------------------------------------------------------------------------

    def figure_cases(self) -> list[str]:
        """Cases in the synthesis figures: the configured ones, then seeded random test cases."""
        report = self.config["report"]
        chosen = [c for c in report["synthesis_cases"] if c in self.eval_cases]
        pool = sorted(set(self.cases_in("test")) - set(chosen))
        chosen += random.Random(report["seed"]).sample(pool, min(report["random_cases"], len(pool)))
        return chosen or self.eval_cases[:1]

    def viewer_cases(self) -> list[str]:
        """Cases in the interactive viewer: the synthesis figures' cases, then the other validation
        and test cases in a seeded random order, ``report.viewer_cases`` in all."""
        report = self.config["report"]
        first = self.figure_cases()
        rest = sorted(set(self.eval_cases) - set(first))
        random.Random(report["seed"]).shuffle(rest)
        return (first + rest)[: report["viewer_cases"]]

    def case_roles(self, cases: list[str]) -> dict[str, str]:
        """``{case: 'validation' | 'test' | 'training'}``: the synthesis split of each case."""
        names = {"val": "validation", "test": "test", "train": "training"}
        split = self.synthesis.set_index("case_id")["split"]
        return {c: names.get(split[c], split[c]) for c in cases}

    def example_cases(self) -> list[str]:
        """Cases shown in the cohort figure: the first annotated ones (then any)."""
        masked = self.masked
        ordered = masked + [c for c in self.case_ids if c not in set(masked)]
        return ordered[: self.config["report"]["example_cases"]]

    # --- what the run says first -----------------------------------------------------------

    def split_records(self, table: str) -> list[dict]:
        """A split table as plain records (``split_cases`` writes them; missing folds are None)."""
        df = self.synthesis if table == "synthesis" else self.segmentation_split
        return [
            {k: (None if pd.isna(v) else getattr(v, "item", lambda v=v: v)()) for k, v in row.items()}
            for row in df.to_dict("records")
        ]

    def summary(self) -> str:
        """The one-screen cohort summary every run prints."""
        seg = self.config["segmentation"]
        return splits.summary(
            self.cases,
            self.synthesis,
            self.segmentation_cases,
            {
                "cohort": self.config["data"]["cohort"],
                "source": self.config["data"]["source"],
                "post_phases": self.config["data"]["post_phases"],
                "available": cohort.phase_counts(self.cases) if "post_available" in self.cases else "",
                "method": self.config["splits"]["method"],
                "n_folds": self.config["splits"]["n_folds"],
                "segments": seg["enabled"],
                "scenarios": ", ".join(self.table_scenarios) or "none",
                "skipped": self.skipped,
            },
        ) + self._models_line()

    def _missing_text(self, run: str) -> str:
        missing = self.missing_cases(run)
        if not missing:
            return ""
        named = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        return (f"; no volume for {len(missing)} of {len(self.synth_cases)} cases ({named}): the ranking imputes them "
                f"with the run's worst values")  # fmt: skip

    def _models_line(self) -> str:
        if not self.models:
            return ""
        further = ", ".join(f"{name} ({m['family']}, target {m['target']}, {n_epochs(m)} epochs)" if "images" not in m
                            else f"{name} (external: {next(iter(m['images'].values()))}{self._missing_text(name)})"
                            for name, m in self.models.items())  # fmt: skip
        name = self.config["segmentation"].get("ranking_segmenter")
        seg = (f"nnU-Net {self.fixed_segmenter}" if self.fixed_segmenter else
               f"none ({name} does not run)" if name and self.config["segmentation"]["enabled"] else "none")  # fmt: skip
        return f"\n  models     {self.run} ({self.family(self.run)}), {further}; ranked, segmented by {seg}"
