"""The plan: everything the DAG needs, computed once from the config, without Snakemake.

``Plan.from_config(config, duke_sheet)`` reads the case table (a directory listing or a sheet, no
image), computes and checks the splits, and derives the cases of every stage, the runs (:class:`Run`: one per
synthesis model, with its epochs and the generator it synthesises with), the segmentation
scenarios, one path template per output and the rules' resources. ``common.smk`` wraps it for the
rules, ``split_cases`` writes exactly its tables, and the tests see the DAG's shape from it in
milliseconds. Every refusal is a :class:`ConfigError` naming the key or file and what to change.

A small package: :mod:`.paths` (the templates), :mod:`.cases` (cases, splits, figures, summary),
:mod:`.runs` (the runs), :mod:`.scenarios` (nnU-Net's scenarios, folds, folders),
:mod:`.outputs` (each job's files and the final targets) and :mod:`.resources` (threads, memory,
GPUs and nodes per rule). :class:`Plan` joins them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from .. import cohort, segmentation, sources, splits, weights
from ..errors import ConfigError
from . import checks
from .cases import CohortMixin
from .outputs import OutputsMixin
from .paths import PATHS, by_case, path
from .resources import ResourcesMixin
from .runs import (GAN_EVALUATION_KEYS, GAN_EXECUTION_KEYS, MODEL_DEFAULTS, SELECTION_KEYS, TABLE1_ONLY_KEYS, Run,
                   RunsMixin, n_epochs)  # fmt: skip
from .scenarios import SegmentationMixin

__all__ = ["GAN_EVALUATION_KEYS", "GAN_EXECUTION_KEYS", "MODEL_DEFAULTS", "PATHS", "SELECTION_KEYS", "TABLE1_ONLY_KEYS",
           "Plan", "Run", "by_case", "load", "path"]  # fmt: skip


def _split_sheet(config: dict, duke_sheet: str | Path) -> str | None:
    method = config["splits"]["method"]
    if method == "sheet":
        return config["splits"].get("sheet")
    if method == "duke":
        return config["splits"]["duke_sheet"] or str(duke_sheet)
    return None


def load(config: dict, basedir: str | Path | None = None, *, schema: str | Path | None = None,
         duke_sheet: str | Path | None = None) -> Plan:
    """What the workflow does with its config at parse time (``common.smk``), callable without
    Snakemake running: validate ``config`` in place against the shipped schema (filling its
    defaults), name unknown and renamed keys by their path, and make the plan. ``basedir`` is the
    workflow's folder (the one holding ``config/schema`` and ``resources``); ``schema`` (the config
    schema) and ``duke_sheet`` (the shipped Duke split sheet) override it, as the workflow does
    (:mod:`dcesynth.shipped`: a module deployment reads its own). A refusal
    is a :class:`ConfigError`; any other schema failure is Snakemake's own validation error. The
    splits' problems are left in :attr:`Plan.refusals` (the summary is printed before they stop a
    run)."""
    import yaml
    from snakemake.utils import validate  # here, so that importing the plan imports no Snakemake

    from .. import config_keys

    if schema is None or duke_sheet is None:
        if basedir is None:
            raise TypeError("load() needs basedir, or both schema and duke_sheet")
        schema = schema or Path(basedir) / "config" / "schema" / "config.schema.yaml"
        duke_sheet = duke_sheet or Path(basedir) / "resources" / "duke_split.tsv"
    schema = Path(schema)
    try:
        validate(config, schema=str(schema))
    except Exception:
        # the schema's own message is a dump of the schema: name a typo, a renamed key or a refused
        # value by its path instead (only on failure: a valid config is not walked twice on every start)
        rules = yaml.safe_load(schema.read_text())
        problems = config_keys.renamed(config) + config_keys.unknown_keys(config, rules)
        problems = problems or config_keys.schema_errors(config, rules)
        if problems:
            raise ConfigError("; ".join(problems)) from None
        raise
    problems = checks.value_problems(config)
    if problems:
        raise ConfigError("; ".join(problems))
    return Plan.from_config(config, Path(duke_sheet))


@dataclass
class Plan(CohortMixin, RunsMixin, SegmentationMixin, OutputsMixin, ResourcesMixin):
    """Derived values are computed once, on first use (the config and the tables do not change)."""

    config: dict
    duke_sheet: Path  # the shipped Duke split sheet (splits.method: duke without a sheet of one's own)
    cases: pd.DataFrame
    synthesis: pd.DataFrame
    segmentation_split: pd.DataFrame
    pretrained: dict | None
    scenarios: dict
    skipped: dict[str, str] = field(default_factory=dict)  # case → why it was left out

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: dict, duke_sheet: str | Path) -> Plan:
        """The plan of a validated config; ``duke_sheet`` is the shipped Duke split sheet
        (``resources/duke_split.tsv``). Refuses what cannot be planned (a missing file, a bad sheet or key);
        splits that cannot run are listed in :attr:`refusals`, so that the cohort summary can be
        printed before the run stops."""
        synthesis_only = n_epochs(config["gan"]) == 0
        # a further model (config models) trains even where pix2pixHD only synthesises
        trains = not synthesis_only or bool(config.get("models"))
        missing = weights.missing_files(config, training=not synthesis_only)
        if missing:
            raise ConfigError("\n".join(missing))
        cases = cohort.case_table(config)
        source = sources.source(config["data"]["source"])
        if not source.generated:
            shared = checks.shared_inputs(cases, cohort.sequences(config["data"]["post_phases"]), source.files)
            if shared:
                raise ConfigError("; ".join(shared))
        split_cfg = config["splits"]
        if not trains:  # no model trains: no annotated case is held back for training
            split_cfg = {**split_cfg, "min_gan_train_cases": 0}
        synthesis, seg_split = splits.make_splits(cases, split_cfg, _split_sheet(config, duke_sheet))
        seg = config["segmentation"]
        pretrained, scenarios = None, {}
        if seg["enabled"]:
            segmentation.check_scenarios(seg["scenarios"])
            pretrained = segmentation.pretrained_model(seg.get("pretrained_model") or {})
            scenarios = segmentation.chosen_scenarios(seg["scenarios"], seg.get("run"), pretrained is not None)
        plan = cls(config, Path(duke_sheet), cases, synthesis, seg_split, pretrained, scenarios,
                   dict(cases.attrs.get("skipped", {})))  # fmt: skip
        plan.run_specs  # refused at parse: a bad further model
        plan._check_epochs()
        plan.check_external_images()
        plan.export_runs  # refused at parse: an unknown run name
        return plan

    @property
    def split_sheet(self) -> str | None:
        """The split sheet the splits were read from (duke or sheet method), or None."""
        return _split_sheet(self.config, self.duke_sheet)

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
        if self.dicom_export["enabled"] and self.dicom_export["link_to_source"] and self.source.files:
            raise ConfigError(f"export.dicom.link_to_source needs DICOM input (data.source: {self.config['data']['source']} "
                              "has no source headers to link to); set it to false")  # fmt: skip
        if self.gan_processes % self.gan_nodes:
            raise ConfigError(f"gan.processes ({self.gan_processes}) must be a multiple of gan.nodes ({self.gan_nodes}): "
                              "each node runs the same number of training processes")  # fmt: skip
        if self.gan_processes > 1 and not self.synthesis_only and gan["generator"].get("norm") == "batch":
            raise ConfigError("gan.processes > 1 needs gan.generator.norm: instance (batch-norm statistics would "
                              "be those of one process's share of the batch, not of the global batch)")  # fmt: skip

