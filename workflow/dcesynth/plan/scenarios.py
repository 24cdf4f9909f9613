"""The plan's segmentation experiments: the cases, folds and scenarios of nnU-Net, the fixed segmenter
of the model ranking, and nnU-Net's folder names."""

from __future__ import annotations

from functools import cached_property

import pandas as pd

from .. import segmentation
from .paths import path


class SegmentationMixin:
    # --- segmentation ----------------------------------------------------------------------

    @cached_property
    def segmentation_cases(self) -> pd.DataFrame:
        """The segmentation split of the annotated cases (a split sheet may name more)."""
        return self.segmentation_split[self.segmentation_split["case_id"].isin(set(self.masked))]

    @cached_property
    def seg_cv(self) -> pd.DataFrame:
        seg = self.segmentation_cases
        return seg.loc[seg["role"] == "cv", ["case_id", "fold"]].astype({"fold": int})

    @cached_property
    def seg_test(self) -> list[str]:
        seg = self.segmentation_cases
        return seg.loc[seg["role"] == "test", "case_id"].tolist()

    @property
    def seg_folds(self) -> list[int]:
        return list(range(self.config["splits"]["n_folds"]))

    @property
    def seg_model(self) -> str:
        seg = self.config["segmentation"]
        return f"{seg['trainer']}__{seg['plans']}__{seg['configuration']}"

    @cached_property
    def seg_pairs(self) -> list[tuple[str, str]]:
        """(scenario, test domain) of every prediction; a pretrained model is one more scenario."""
        pairs = [(s, d) for s, spec in self.scenarios.items() for d in spec["test_on"]]
        if self.pretrained:
            pairs += [(segmentation.PRETRAINED, d) for d in self.pretrained["test_on"]]
        return pairs

    @cached_property
    def table_scenarios(self) -> dict:
        """Scenario → dataset id for the tables (the pretrained model's from its folder)."""
        extra = {segmentation.PRETRAINED: {"id": self.pretrained["id"]}} if self.pretrained else {}
        return {**self.scenarios, **extra}

    @cached_property
    def fixed_segmenter(self) -> str | None:
        """The scenario whose model the model ranking applies to every run's synthetic test images
        (the challenge's fixed segmenter, ``segmentation.ranking_segmenter``), or None where that
        does not run (or segmentation is off)."""
        name = self.config["segmentation"].get("ranking_segmenter", segmentation.FIXED_SCENARIO)
        runs = name in self.scenarios or (name == segmentation.PRETRAINED and self.pretrained)
        return name if runs and self.seg_test else None

    def segmenter_of(self, scenario: str) -> str:
        """The scenario whose model predicts for ``scenario`` (the fixed segmenter's, for FIXED)."""
        return self.fixed_segmenter if scenario == segmentation.FIXED else scenario

    def segmenter_prediction(self, run: str, domain: str, case: str) -> str:
        """The fixed segmenter's prediction of ``run``'s ``domain`` image of ``case``: one the main
        run makes anyway where there is one, else one filed under the FIXED scenario."""
        main = self.run_of(run).main and (self.fixed_segmenter, domain) in self.seg_pairs
        scenario = self.fixed_segmenter if main else segmentation.FIXED
        return path("prediction", run=run, scenario=scenario, domain=domain, case=case)

    def dataset_name(self, scenario: str) -> str:
        scenario = self.segmenter_of(scenario)
        if scenario == segmentation.PRETRAINED:
            return self.pretrained["dataset"]
        return segmentation.dataset_name(self.config["segmentation"]["scenarios"][scenario]["id"], scenario)

    def model_dir(self, run: str, scenario: str) -> str:
        if scenario == segmentation.FIXED:  # one model for every run: the main run's
            run, scenario = self.run, self.fixed_segmenter
        if scenario == segmentation.PRETRAINED:
            return self.pretrained["folder"]
        root = path("nnunet_root", run=run, scenario=scenario)
        return f"{root}/nnUNet_results/{self.dataset_name(scenario)}/{self.seg_model}"

    def folds(self, scenario: str) -> list[int]:
        scenario = self.segmenter_of(scenario)
        return self.pretrained["folds"] if scenario == segmentation.PRETRAINED else self.seg_folds


    @property
    def job_scenarios(self) -> list[str]:
        """The scenario wildcard's values: the tables' scenarios and the model ranking's fixed segmenter."""
        return [*self.table_scenarios] + ([segmentation.FIXED] if self.fixed_segmenter else [])

    def checkpoints(self, run: str, scenario: str) -> list[str]:
        """The final checkpoint of every fold of the model that predicts for ``scenario``."""
        model = self.model_dir(run, scenario)
        return [f"{model}/fold_{f}/checkpoint_final.pth" for f in self.folds(scenario)]

    def test_folder(self, run: str, scenario: str, domain: str) -> str:
        root = path("nnunet_root", run=run, scenario=scenario)
        return f"{root}/nnUNet_raw/{self.dataset_name(scenario)}/imagesTs_{domain}"
