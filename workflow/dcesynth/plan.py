"""The plan: everything the DAG needs, computed once from the config, without Snakemake.

``Plan.from_config(config, resources)`` reads the case table (a directory listing or a sheet, no
image), computes and checks the splits, and derives the cases of every stage, the GAN's epochs,
the segmentation scenarios and one path template per output. ``common.smk`` wraps it for the
rules, ``split_cases`` writes exactly its tables, and the tests see the DAG's shape from it in
milliseconds. Every refusal is a :class:`ConfigError` naming the key or file and what to change.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from . import cohort, segmentation, splits, weights
from .errors import ConfigError

# One template per output shared by several rules (a rule's own outputs stay in its rule).
PATHS = {
    "volume": "results/{stage}/{case}/{seq}.nii.gz",  # stage: nifti, n4
    "mask": "results/nifti/{case}/mask.nii.gz",
    "slices": "results/slices/{case}/{seq}.npy",
    "transform": "results/slices/{case}/{seq}.json",
    "splits": "results/splits/{table}.tsv",  # table: synthesis, segmentation
    "cohort_figure": "results/figures/cohort.png",
    "pairs": "results/gan/{run}/pairs/{split}.tsv",
    "state": "results/gan/{run}/state/epoch_{epoch}.pt",
    "generator": "results/gan/{run}/generator/epoch_{epoch}.pt",
    "generator_best": "results/gan/{run}/generator_best.pt",
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
}

# Keys of `gan` that only choose what is evaluated: changing them reruns no training job.
GAN_EVALUATION_KEYS = ("eval_every", "eval_epochs", "preview", "run")
# Keys of `gan` that say how a training job runs, not what it computes (like `device`).
GAN_EXECUTION_KEYS = ("processes", "nodes")
# Keys of `metrics` that only select an epoch or describe tumour regions: no generator is rescored.
SELECTION_KEYS = ("same_metrics", "selection", "tumour_margin_mm")
# Keys of one epoch's scoring that only Table 1 uses (the test-set FID sample, LPIPS).
TABLE1_ONLY_KEYS = ("n_fid_pairs_test", "lpips")


# The further model families (dcesynth.models.FAMILIES; kept here so the plan imports no torch)
MODEL_FAMILIES = ("unet", "nca", "flow")
# Training keys of a further model that its config entry may leave out
MODEL_DEFAULTS = {"target": "post", "options": {}, "niter": 2, "niter_decay": 2, "batch_size": 4, "lr": 1e-3,
                  "beta1": 0.9, "lambda_perceptual": 0.0, "eval_every": 2}  # fmt: skip


def _n_epochs(gan: dict) -> int:
    """Training epochs: gan.niter at a constant learning rate, then gan.niter_decay."""
    return int(gan["niter"]) + int(gan["niter_decay"])


def _split_sheet(config: dict, resources: str | Path) -> str | None:
    method = config["splits"]["method"]
    if method == "sheet":
        return config["splits"].get("sheet")
    if method == "duke":
        return config["splits"]["duke_sheet"] or str(Path(resources) / "duke_split.tsv")
    return None


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


def load(config: dict, basedir: str | Path) -> Plan:
    """What the workflow does with its config at parse time (``common.smk``), callable without
    Snakemake running: validate ``config`` in place against the shipped schema (filling its
    defaults), name unknown and renamed keys by their path, and make the plan. ``basedir`` is the
    workflow's folder (the one holding ``config/schema`` and ``resources``). A refusal is a
    :class:`ConfigError`; any other schema failure is Snakemake's own validation error. The splits'
    problems are left in :attr:`Plan.refusals` (the summary is printed before they stop a run)."""
    import yaml
    from snakemake.utils import validate  # here, so that importing the plan imports no Snakemake

    from . import config_keys

    schema = Path(basedir) / "config" / "schema" / "config.schema.yaml"
    try:
        validate(config, schema=str(schema))
    except Exception:
        # the schema refuses an unknown key with a schema dump: name a typo or a renamed key by its
        # path instead (only on failure: a valid config is not walked twice on every start)
        problems = config_keys.renamed(config) + config_keys.unknown_keys(config, yaml.safe_load(schema.read_text()))
        if problems:
            raise ConfigError("; ".join(problems)) from None
        raise
    return Plan.from_config(config, Path(basedir) / "resources")


@dataclass
class Plan:
    """Derived values are computed once, on first use (the config and the tables do not change)."""

    config: dict
    resources: Path  # the shipped resources folder (the Duke split sheet)
    cases: pd.DataFrame
    synthesis: pd.DataFrame
    segmentation_split: pd.DataFrame
    pretrained: dict | None
    scenarios: dict
    skipped: dict[str, str] = field(default_factory=dict)  # case → why it was left out

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: dict, resources: str | Path) -> Plan:
        """The plan of a validated config; ``resources`` is the shipped resources folder (the
        Duke split sheet). Refuses what cannot be planned (a missing file, a bad sheet or key);
        splits that cannot run are listed in :attr:`refusals`, so that the cohort summary can be
        printed before the run stops."""
        synthesis_only = _n_epochs(config["gan"]) == 0
        # a further model (config models) trains even where pix2pixHD only synthesises
        trains = not synthesis_only or bool(config.get("models"))
        missing = weights.missing_files(config, training=not synthesis_only)
        if missing:
            raise ConfigError("\n".join(missing))
        cases = cohort.case_table(config)
        split_cfg = config["splits"]
        if not trains:  # no model trains: no annotated case is held back for training
            split_cfg = {**split_cfg, "min_gan_train_cases": 0}
        synthesis, seg_split = splits.make_splits(cases, split_cfg, _split_sheet(config, resources))
        seg = config["segmentation"]
        pretrained, scenarios = None, {}
        if seg["enabled"]:
            segmentation.check_scenarios(seg["scenarios"])
            pretrained = segmentation.pretrained_model(seg.get("pretrained_model") or {})
            scenarios = segmentation.chosen_scenarios(seg["scenarios"], seg.get("run"), pretrained is not None)
        plan = cls(config, Path(resources), cases, synthesis, seg_split, pretrained, scenarios,
                   dict(cases.attrs.get("skipped", {})))  # fmt: skip
        plan._check_epochs()
        plan.models  # refused at parse: a bad further model
        return plan

    @property
    def split_sheet(self) -> str | None:
        """The split sheet the splits were read from (duke or sheet method), or None."""
        return _split_sheet(self.config, self.resources)

    @cached_property
    def refusals(self) -> list[str]:
        """Why the splits cannot run (an empty set or fold), each with what to change; empty if
        they can."""
        seg = self.config["segmentation"]
        return splits.check_splits(
            self.synthesis,
            self.segmentation_cases,
            self.config["splits"]["n_folds"],
            self.config["splits"]["method"],
            gan_trains=not self.synthesis_only or bool(self.models),
            segments=seg["enabled"],
            folds=seg["enabled"] and bool(self.scenarios),
        )

    def _check_epochs(self) -> None:
        gan = self.gan
        if self.synthesis_only and not gan["init_generator"]:
            raise ConfigError("gan.niter + gan.niter_decay is 0 (no training), so gan.init_generator must name the "
                              "generator to synthesise with")  # fmt: skip
        if gan["eval_epochs"] and not self.synthesis_only and max(gan["eval_epochs"]) > self.n_epochs:
            raise ConfigError(f"gan.eval_epochs names epoch {max(gan['eval_epochs'])}, but training stops at epoch "
                              f"{self.n_epochs} (gan.niter + gan.niter_decay)")  # fmt: skip
        epoch = self.config["synthesis"]["epoch"]
        if epoch is not None and epoch not in self.export_epochs:
            exported = ("none: nothing trains, gan.init_generator synthesises" if self.synthesis_only else
                        f"{', '.join(map(str, self.export_epochs))}: every gan.eval_every-th or gan.eval_epochs, and the last")  # fmt: skip
            raise ConfigError(f"synthesis.epoch: {epoch} is not an exported epoch (exported: {exported}); choose one of "
                              "them, or null for the epoch SAMe chooses")  # fmt: skip
        if self.dicom_export["enabled"] and self.dicom_export["link_to_source"] and self.config["data"]["source"] in cohort.FILE_SOURCES:
            raise ConfigError(f"export.dicom.link_to_source needs DICOM input (data.source: {self.config['data']['source']} "
                              "has no source headers to link to); set it to false")  # fmt: skip
        if self.gan_processes % self.gan_nodes:
            raise ConfigError(f"gan.processes ({self.gan_processes}) must be a multiple of gan.nodes ({self.gan_nodes}): "
                              "each node runs the same number of training processes")  # fmt: skip
        if self.gan_processes > 1 and not self.synthesis_only and gan["generator"].get("norm") == "batch":
            raise ConfigError("gan.processes > 1 needs gan.generator.norm: instance (batch-norm statistics would "
                              "be those of one process's share of the batch, not of the global batch)")  # fmt: skip

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

    @property
    def selected_by_same(self) -> bool:
        """Whether SAMe chose the generator that synthesises."""
        return self.config["synthesis"]["epoch"] is None and not self.synthesis_only

    @cached_property
    def dicom_export(self) -> dict:
        """``export.dicom`` with its defaults."""
        cfg = (self.config.get("export") or {}).get("dicom") or {}
        return {"enabled": bool(cfg.get("enabled", True)), "link_to_source": bool(cfg.get("link_to_source", False))}

    @property
    def slice_stage(self) -> str:
        """The volumes slices are cut from (and segmentation crops): N4-corrected or ingested."""
        return "n4" if self.config["slices"]["use_n4"] else "nifti"

    # --- the GAN ---------------------------------------------------------------------------

    @property
    def gan(self) -> dict:
        return self.config["gan"]

    @property
    def run(self) -> str:
        return self.gan["run"]

    @property
    def n_epochs(self) -> int:
        return _n_epochs(self.gan)

    @property
    def synthesis_only(self) -> bool:
        """No epoch trains: gan.init_generator synthesises as it is (exported as epoch 0)."""
        return self.n_epochs == 0

    @cached_property
    def eval_epochs(self) -> list[int]:
        """The evaluated epochs (SAMe min-max scales over exactly these): gan.eval_epochs, or
        every eval_every epochs and the last."""
        if self.synthesis_only:
            return []
        if self.gan["eval_epochs"]:
            return sorted(set(self.gan["eval_epochs"]))
        return sorted(set(range(self.gan["eval_every"], self.n_epochs + 1, self.gan["eval_every"])) | {self.n_epochs})

    @cached_property
    def export_epochs(self) -> list[int]:
        """Epochs whose generator is exported: the evaluated ones and the last (the preview)."""
        return sorted(set(self.eval_epochs) | {self.n_epochs})

    # --- further model families (config `models`): one run each -----------------------------

    @cached_property
    def models(self) -> dict[str, dict]:
        """The further synthesis models by run name (config ``models``), each with its training
        keys completed from the gan block (input, targets, channels, seed, augmentation)."""
        out = {}
        for name, spec in (self.config.get("models") or {}).items():
            if name == self.run:
                raise ConfigError(f"models.{name}: the name is gan.run's (every model is a run of its own)")
            if spec["family"] not in MODEL_FAMILIES:
                raise ConfigError(f"models.{name}.family: {spec['family']!r} is not one of {', '.join(MODEL_FAMILIES)}")
            shared = {k: self.gan[k] for k in ("input", "targets", "channels", "seed", "augment", "augment_probability",
                                                "max_pairs_per_epoch", "vgg")}  # fmt: skip
            out[name] = {**MODEL_DEFAULTS, **shared, **spec, "options": dict(spec.get("options") or {})}
            if _n_epochs(out[name]) == 0:
                raise ConfigError(f"models.{name}: niter + niter_decay is 0; a model trains at least one epoch")
        return out

    @property
    def runs(self) -> list[str]:
        """Every run: gan.run (pix2pixHD) and one per further model."""
        return [self.run, *self.models]

    def family(self, run: str) -> str:
        return "pix2pixHD" if run == self.run else self.models[run]["family"]

    def training(self, run: str) -> dict:
        """What shapes a run's training (a training job's params; changing it retrains)."""
        if run == self.run:
            return self.gan_training
        return {k: v for k, v in self.models[run].items() if k not in ("eval_every",)}

    def n_epochs_of(self, run: str) -> int:
        return self.n_epochs if run == self.run else _n_epochs(self.models[run])

    def eval_epochs_of(self, run: str) -> list[int]:
        if run == self.run:
            return self.eval_epochs
        n, every = self.n_epochs_of(run), int(self.models[run]["eval_every"])
        return sorted(set(range(every, n + 1, every)) | {n})

    def export_epochs_of(self, run: str) -> list[int]:
        return self.export_epochs if run == self.run else self.eval_epochs_of(run)

    @property
    def gan_seqs(self) -> list[str]:
        return [self.gan["input"], *self.gan["targets"]]

    @property
    def gan_training(self) -> dict:
        """The keys that shape training (a training job's params). ``batch_size`` there is the
        global batch (``gan.processes x gan.batch_size``): 1 x 4 and 2 x 2 are the same training."""
        keys = {k: v for k, v in self.gan.items() if k not in GAN_EVALUATION_KEYS + GAN_EXECUTION_KEYS}
        return {**keys, "batch_size": int(self.gan["batch_size"]) * self.gan_processes}

    @property
    def gan_processes(self) -> int:
        return int(self.gan.get("processes", 1))

    @property
    def gan_nodes(self) -> int:
        """Nodes one pix2pixHD epoch spans (``gan.nodes``; each runs processes / nodes)."""
        return int(self.gan.get("nodes", 1))

    @property
    def scoring(self) -> dict:
        """What scores one generator (Table 1; the per-epoch tables without TABLE1_ONLY_KEYS)."""
        return {k: v for k, v in self.config["metrics"].items() if k not in SELECTION_KEYS}

    @property
    def epoch_scoring(self) -> dict:
        return {k: v for k, v in self.scoring.items() if k not in TABLE1_ONLY_KEYS}

    def synthesis_generator(self, run: str) -> str:
        """The generator that synthesises: ``synthesis.epoch`` (pix2pixHD), or the one SAMe chose
        (every further model; pix2pixHD when it is null), or the exported gan.init_generator when
        nothing trains."""
        if run == self.run and self.synthesis_only:
            return path("generator", run=run, epoch=0)
        if run != self.run or self.config["synthesis"]["epoch"] is None:
            return path("generator_best", run=run)
        return path("generator", run=run, epoch=self.config["synthesis"]["epoch"])

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

    def segmenter_metrics(self, run: str, domain: str) -> str:
        """The fixed segmenter's per-case metrics of ``run``'s ``domain`` images: a prediction the
        main run makes anyway where there is one, else one filed under the FIXED scenario."""
        if run == self.run and (self.fixed_segmenter, domain) in self.seg_pairs:
            return path("nnunet_metrics", run=run, scenario=self.fixed_segmenter, domain=domain)
        return path("nnunet_metrics", run=run, scenario=segmentation.FIXED, domain=domain)

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
            for case in (self.figure_cases() if cases is None else cases)
        }

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
        inp, tgt, stage = self.gan["input"], self.gan["targets"][0], self.slice_stage
        images = {
            "real_pre": (inp, path("volume", stage=stage, case=case, seq=inp), path("dicom_real_series", run=run, case=case, seq=inp)),
            "real_post": (tgt, path("volume", stage=stage, case=case, seq=tgt), path("dicom_real_series", run=run, case=case, seq=tgt)),
            "syn_post": (tgt, path("synthetic", run=run, case=case, seq=tgt), path("dicom_series", run=run, case=case, seq=tgt)),
        }  # fmt: skip
        domains = sorted({d for _, d in self.seg_pairs}, key=segmentation.IMAGES.index)
        return {
            "references": {d: dict(zip(("seq", "volume", "series"), images[d])) for d in domains},
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
        run, targets = self.run, self.gan["targets"]
        checked = [*(path("mask", case=c) for c in self.masked),
                   *(path("splits", table=t) for t in ("synthesis", "segmentation")), path("cohort_figure")]  # fmt: skip
        if part == "preprocess":
            return [path("slices", case=c, seq=s) for c in self.case_ids for s in self.seqs] + checked
        training = [path("state", run=run, epoch=self.n_epochs), f"results/gan/{run}/train_log.tsv",
                    f"results/gan/{run}/figures/losses.png", f"results/metrics/{run}/epochs.tsv"]  # fmt: skip
        synthesis = [
            *(path("generator", run=run, epoch=e) for e in self.export_epochs),
            *([] if self.synthesis_only else training),
            f"results/gan/{run}/val_preview.tsv",
            *(path("synthetic", run=run, case=c, seq=t) for c in self.synth_cases for t in targets),
            *(path("subtraction", run=run, case=c, kind=k, seq=t)
              for c in self.synth_cases for k in ("real", "synthetic") for t in targets),  # fmt: skip
            f"results/figures/{run}/synthesis_grid.png",
            f"results/figures/{run}/tumour_crops.png",
            f"results/tables/{run}/table1.tsv",
            f"results/tables/{run}/tumour_region.tsv",
            *([path("viewer", run=run)] if self.config["report"]["viewer_cases"] else []),
            *((path("dicom_series", run=run, case=c, seq=t) for c in self.synth_cases for t in targets)
              if self.dicom_export["enabled"] else ()),  # fmt: skip
        ]
        synthesis += [t for model in self.models for t in self.model_targets(model)]
        if self.models and self.ranking_files():
            synthesis += ["results/tables/model_ranking.tsv", "results/figures/model_slices.png"]
        seg = ([f"results/tables/{run}/segmentation.tsv", f"results/figures/{run}/segmentation_dice.png"]
               if self.config["segmentation"]["enabled"] else [])  # fmt: skip
        if self.dicom_seg_enabled:
            seg += [p["seg"] for c in self.seg_test for p in self.dicom_seg_files(run, c)["predictions"].values()]
        return {"synthesis": synthesis, "segmentation": seg, "all": checked + synthesis + seg}[part]

    def model_targets(self, run: str) -> list[str]:
        """A further model's outputs: its training chain and losses, the evaluated epochs and the
        SAMe choice, its synthetic volumes, figures, Table 1 and tumour-region table."""
        targets, cases = self.gan["targets"], self.synth_cases
        return [
            path("state", run=run, epoch=self.n_epochs_of(run)),
            f"results/gan/{run}/train_log.tsv",
            f"results/metrics/{run}/epochs.tsv",
            *(path("generator", run=run, epoch=e) for e in self.export_epochs_of(run)),
            *(path("synthetic", run=run, case=c, seq=t) for c in cases for t in targets),
            *(path("subtraction", run=run, case=c, kind=k, seq=t)
              for c in cases for k in ("real", "synthetic") for t in targets),  # fmt: skip
            f"results/figures/{run}/synthesis_grid.png",
            f"results/tables/{run}/table1.tsv",
            f"results/tables/{run}/tumour_region.tsv",
        ]

    def ranking_segmentation(self) -> dict[str, dict[str, str]]:
        """What the ranking's segmentation scores read: per run (``runs``) and for the pre-contrast
        baseline (``baseline``) the fixed segmenter's per-case metrics, and per segmentation test
        case its label crop (the worst HD95 of an empty prediction is its
        diagonal). Empty without a fixed segmenter."""
        if not self.fixed_segmenter:  # (which needs segmentation test cases)
            return {}
        return {
            "runs": {r: self.segmenter_metrics(r, "syn_post") for r in self.runs},
            "baseline": self.segmenter_metrics(self.run, "real_pre"),
            "labels": {c: path("crop", run=self.run, case=c, image=segmentation.LABEL) for c in self.seg_test},
        }

    def ranking_files(self) -> dict[str, dict]:
        """Per annotated test case, the files the model ranking reads: the mask, the slice
        transform, the pre- and post-contrast slices and every run's synthetic slices."""
        inp, tgt, masked = self.gan["input"], self.gan["targets"][0], set(self.masked)
        return {
            case: {
                "mask": path("mask", case=case),
                "transform": path("transform", case=case, seq=inp),
                "pre": path("slices", case=case, seq=inp),
                "real": path("slices", case=case, seq=tgt),
                "synthetic": {r: path("synthetic_slices", run=r, case=case, seq=tgt) for r in self.runs},
            }
            for case in self.cases_in("test")
            if case in masked
        }

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

    def _models_line(self) -> str:
        if not self.models:
            return ""
        further = ", ".join(f"{name} ({m['family']}, target {m['target']}, {_n_epochs(m)} epochs)"
                            for name, m in self.models.items())  # fmt: skip
        name = self.config["segmentation"].get("ranking_segmenter")
        seg = (f"nnU-Net {self.fixed_segmenter}" if self.fixed_segmenter else
               f"none ({name} does not run)" if name and self.config["segmentation"]["enabled"] else "none")  # fmt: skip
        return f"\n  models     {self.run} (pix2pixHD), {further}; ranked, segmented by {seg}"
