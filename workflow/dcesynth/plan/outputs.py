"""The plan's files: what each job reads and writes, and the final outputs of a run (``targets``)."""

from __future__ import annotations

from .. import segmentation
from .paths import path


class OutputsMixin:
    # --- the files of a job, and the targets of a run ----------------------------------------

    def synthesis_files(self, run: str, case: str) -> dict[str, dict[str, str]]:
        """Per target phase of one synthesis job, the files it reads and writes."""
        return {
            t: {
                "volume": path("synthetic", run=run, case=case, seq=t),
                "slices": path("synthetic_slices", run=run, case=case, seq=t),
                "transform": path("transform", case=case, seq=t),
                "real": path("volume", stage=self.slice_stage, case=case, seq=t),
                "real_subtraction": path("subtraction", run=run, case=case, kind="real", seq=t),
                "synthetic_subtraction": path("subtraction", run=run, case=case, kind="synthetic", seq=t),
            }
            for t in self.gan["targets"]
        }

    def figure_files(self, run: str, cases: list[str] | None = None) -> dict[str, dict[str, str]]:
        """Per case of the synthesis figures (or of ``cases``), its files
        (:data:`dcesynth.synthesis.FIGURE_FILES`)."""
        inp, tgt, masked = self.gan["input"], self.gan["targets"][0], set(self.masked)
        return {
            case: {
                "pre": path("volume", stage=self.slice_stage, case=case, seq=inp),
                "post": path("volume", stage=self.slice_stage, case=case, seq=tgt),
                "pre_transform": path("transform", case=case, seq=inp),
                "post_transform": path("transform", case=case, seq=tgt),
                "synthetic": path("synthetic_slices", run=run, case=case, seq=tgt),
                "real_subtraction": path("subtraction", run=run, case=case, kind="real", seq=tgt),
                "synthetic_subtraction": path("subtraction", run=run, case=case, kind="synthetic", seq=tgt),
                "mask": path("mask", case=case) if case in masked else "",
            }
            for case in self._shown(run, self.figure_cases() if cases is None else cases)
        }

    def _shown(self, run: str, cases: list[str]) -> list[str]:
        """Those of ``cases`` that ``run`` has volumes of; if none, its first evaluation case (an
        external model may lack the figures' cases)."""
        return self.of_run(run, cases) or self.of_run(run, self.eval_cases)[:1]

    def training_crops(self, run: str, scenario: str) -> dict[str, dict]:
        """The CV cases' crops in the scenario's images, ``{case: {image: path}}``, and their
        labels ``{case: path}`` (an nnU-Net dataset job's files)."""
        images = segmentation.scenario_images(scenario)
        cv = self.seg_cv["case_id"].tolist()
        return {
            "images": {c: {i: path("crop", run=run, case=c, image=i) for i in images} for c in cv},
            "labels": {c: path("crop", run=run, case=c, image=segmentation.LABEL) for c in cv},
        }

    def dicom_seg_files(self, run: str = "{run}", case: str = "{case}") -> dict:
        """One case's DICOM SEG job: per test domain its image (``volume``) and the series of it
        (``series``; the synthetic one is the export's, the real ones this job writes), and per
        prediction ``"{scenario}|{domain}"`` its file and SEG."""
        inp, tgt = self.gan["input"], self.gan["targets"][0]
        images = {
            "real_pre": (inp, path("dicom_real_series", run=run, case=case, seq=inp)),
            "real_post": (tgt, path("dicom_real_series", run=run, case=case, seq=tgt)),
            "syn_post": (tgt, path("dicom_series", run=run, case=case, seq=tgt)),
        }
        domains = sorted({d for _, d in self.seg_pairs}, key=segmentation.IMAGES.index)
        return {
            "references": {d: {"seq": images[d][0], "volume": self.seg_image(d, run, case), "series": images[d][1]}
                           for d in domains},  # fmt: skip
            "predictions": {
                f"{s}|{d}": {
                    "prediction": path("prediction", run=run, scenario=s, domain=d, case=case),
                    "seg": path("dicom_seg", run=run, case=case, scenario=s, domain=d),
                }
                for s, d in self.seg_pairs
            },
        }

    @property
    def dicom_seg_enabled(self) -> bool:
        """A SEG per prediction when the export and the segmentation both run."""
        return self.dicom_export["enabled"] and self.config["segmentation"]["enabled"] and bool(self.seg_pairs)

    def targets(self, part: str = "all") -> list[str]:
        """What a run of the whole workflow (``all``) or of one part (``preprocess``, ``synthesis``,
        ``segmentation``) asks for: final outputs only (per-case files follow from them), plus
        every tumour mask, so that each mask given is checked even if no stage uses it."""
        checked = [*(path("mask", case=c) for c in self.masked),
                   *(path("splits", table=t) for t in ("synthesis", "segmentation")), path("cohort_figure")]  # fmt: skip
        if part == "preprocess":
            return [path("slices", case=c, seq=s) for c in self.case_ids for s in self.seqs] + checked
        synthesis = [t for name in self.runs for t in self.run_targets(name)]
        if self.models and self.ranking_cases():
            synthesis += [path("model_ranking"), path("model_slices")]
        run = self.run  # the segmentation experiments use the main run's images
        seg = ([path("segmentation_table", run=run), path("segmentation_figure", run=run)]
               if self.config["segmentation"]["enabled"] else [])  # fmt: skip
        if self.dicom_seg_enabled:
            seg += [p["seg"] for c in self.seg_test for p in self.dicom_seg_files(run, c)["predictions"].values()]
        return {"synthesis": synthesis, "segmentation": seg, "all": checked + synthesis + seg}[part]

    def run_targets(self, name: str) -> list[str]:
        """One run's outputs: its exported generators, its training chain, losses and evaluated
        epochs (if it trains), its synthetic volumes with subtractions, figures, Table 1 and
        tumour-region table; the main run's also its preview and tumour crops, and the main run's
        and ``export.runs``' their viewer and DICOM series."""
        run, targets, cases = self.run_of(name), self.gan["targets"], self.run_cases(name)
        out = [path("generator", run=name, epoch=e) for e in run.export_epochs]
        if run.trains:
            out += [path("state", run=name, epoch=run.n_epochs), path("train_log", run=name),
                    path("losses_figure", run=name), path("epochs_table", run=name)]  # fmt: skip
        if run.main:
            out.append(path("val_preview", run=name))
        out += [
            *(path("synthetic", run=name, case=c, seq=t) for c in cases for t in targets),
            *(path("subtraction", run=name, case=c, kind=k, seq=t)
              for c in cases for k in ("real", "synthetic") for t in targets),  # fmt: skip
            path("synthesis_grid", run=name),
            *([path("tumour_crops", run=name)] if run.main else []),
            path("table1", run=name),
            path("tumour_region", run=name),
            *([path("mama_synth", run=name)] if self.ranking_cases() else []),
        ]
        clinician = name in self.export_runs  # the main run and export.runs
        if clinician and self.config["report"]["viewer_cases"]:
            out.append(path("viewer", run=name))
        if clinician and self.dicom_export["enabled"]:
            out += [path("dicom_series", run=name, case=c, seq=t) for c in cases for t in targets]
        return out

    def ranking_segmentation(self) -> dict:
        """What the ranking's Dice and HD95 read: the segmentation test cases (``cases``), and the
        fixed segmenter's prediction of each on each run's synthetic images (``runs``) and on the
        pre-contrast image (``baseline``). Empty without a fixed segmenter."""
        if not self.fixed_segmenter:  # (which needs segmentation test cases)
            return {}
        return {
            "cases": list(self.seg_test),
            "runs": {r: {c: self.segmenter_prediction(r, "syn_post", c) for c in self.of_run(r, self.seg_test)}
                     for r in self.runs},  # fmt: skip
            "baseline": {c: self.segmenter_prediction(self.run, "real_pre", c) for c in self.seg_test},
        }

    def mama_synth_cases(self, splits: tuple[str, ...] = ("test",), run: str | None = None) -> dict[str, dict]:
        """Per annotated case of ``splits``, what its MAMA-SYNTH slices are made of: the mask, the
        pre- and post-contrast volumes the slices were cut from (``volumes``), and (with ``run``)
        the run's ``prediction``: its synthetic slice stack with the extraction transforms, or an
        external model's own volume with its units."""
        inp, tgt, masked, stage = self.gan["input"], self.gan["targets"][0], set(self.masked), self.slice_stage
        out = {}
        for case in (c for split in splits for c in self.cases_in(split) if c in masked):
            out[case] = {"mask": path("mask", case=case),
                         "volumes": {"pre": path("volume", stage=stage, case=case, seq=inp),
                                     "real": path("volume", stage=stage, case=case, seq=tgt)}}  # fmt: skip
            if run in self.external_runs and case not in self.run_cases(run):
                pass  # no prediction: the ranking imputes the case
            elif run in self.external_runs:
                out[case]["prediction"] = {"volume": self.external_images(run, case)[tgt],
                                           "intensity": self.run_of(run).training["intensity"]}  # fmt: skip
            elif run is not None:
                out[case]["prediction"] = {"stack": path("synthetic_slices", run=run, case=case, seq=tgt),
                                           "transforms": {"pre": path("transform", case=case, seq=inp),
                                                          "post": path("transform", case=case, seq=tgt)}}  # fmt: skip
        return out

    def mama_synth_files(self, splits: tuple[str, ...] = ("test",), run: str | None = None) -> list[str]:
        """Every file :meth:`mama_synth_cases` names (a rule's inputs)."""
        files = []
        for f in self.mama_synth_cases(splits, run).values():
            files += [f["mask"], *f["volumes"].values()]
            pred = f.get("prediction", {})
            files += [pred["volume"]] if "volume" in pred else [pred["stack"], *pred["transforms"].values()] if pred else []
        return files

    @property
    def classifier_splits(self) -> tuple[str, ...]:
        """The MAMA-SYNTH classifiers learn from the annotated cases outside the test set (with the
        paper's split, the validation cases: pix2pixHD's training cases have no masks)."""
        return ("train", "val")

    def ranking_cases(self) -> list[str]:
        """The cases the model ranking scores: the annotated test cases."""
        return list(self.mama_synth_cases())

    def ranking_masks(self) -> dict[str, str]:
        """The ranking cases' masks (the fixed segmenter's predictions are compared on their grid)."""
        return {case: f["mask"] for case, f in self.mama_synth_cases().items()}

    def ranking_inputs(self) -> list[str]:
        """The segmentation files the model ranking reads (besides the exports and classifiers)."""
        seg = self.ranking_segmentation()
        runs = [f for predictions in seg.get("runs", {}).values() for f in predictions.values()]
        return sorted({*runs, *seg.get("baseline", {}).values()})

    def loss_tables(self, run: str) -> list[str]:
        return [path("losses", run=run, epoch=e) for e in range(1, self.n_epochs_of(run) + 1)]

    def figure_inputs(self, run: str, cases: list[str] | None = None) -> list[str]:
        """Every file of the synthesis figures (or of ``cases``: the viewer's)."""
        return [f for files in self.figure_files(run, cases).values() for f in files.values() if f]

    def dicom_seg_inputs(self, run: str, case: str) -> dict:
        """A case's DICOM SEG job: its predictions, the images they were made on, and the synthetic
        series when a model predicts on synthetic images."""
        files = self.dicom_seg_files(run, case)
        refs = files["references"]
        synthetic = {"synthetic_series": refs["syn_post"]["series"]} if "syn_post" in refs else {}
        return {"predictions": [f["prediction"] for f in files["predictions"].values()],
                "volumes": [r["volume"] for r in refs.values()], **synthetic}  # fmt: skip

    def dicom_seg_outputs(self) -> tuple[list[str], list[str]]:
        """The real series a case's SEG objects reference (the SEG job writes them) and the SEG files."""
        files = self.dicom_seg_files()
        return ([r["series"] for d, r in files["references"].items() if d != "syn_post"],
                [f["seg"] for f in files["predictions"].values()])  # fmt: skip

    def dicom_link_params(self) -> dict | None:
        """What finds the source series when the export links to the source study, else None."""
        if not self.dicom_export["link_to_source"]:
            return None
        series = self.config["series"]
        return {"include": series["include"], "exclude": series["exclude"], "source_seq": self.gan["input"]}

    def seg_image(self, image: str, run: str, case: str) -> str:
        """A case's volume of a segmentation image (``label``: its mask)."""
        inp, tgt, stage = self.gan["input"], self.gan["targets"][0], self.slice_stage
        return {"real_pre": path("volume", stage=stage, case=case, seq=inp),
                "real_post": path("volume", stage=stage, case=case, seq=tgt),
                "syn_post": path("synthetic", run=run, case=case, seq=tgt),
                segmentation.LABEL: path("mask", case=case)}[image]  # fmt: skip

    def crop_inputs(self, run: str, case: str, images: list[str]) -> dict[str, str]:
        """The volumes a crop job cuts (``label`` is the mask itself) and the mask that places the cut."""
        return {**{i: self.seg_image(i, run, case) for i in images}, "mask": path("mask", case=case)}

    def crop_path(self, run: str, case: str, image: str) -> str:
        """A case's crop; labels are the main run's (the same for every run, cut once)."""
        return path("crop", run=self.run if image == segmentation.LABEL else run, case=case, image=image)

    def dataset_inputs(self, run: str, scenario: str) -> dict[str, list[str]]:
        crops = self.training_crops(run, scenario)
        return {"images": [p for case in crops["images"].values() for p in case.values()],
                "labels": list(crops["labels"].values())}  # fmt: skip

    def metric_tables(self, run: str) -> list[str]:
        return [path("nnunet_metrics", run=run, scenario=s, domain=d) for s, d in self.seg_pairs]
