"""The plan's runs: the gan block's pix2pixHD run and one per further model (config ``models``),
each a :class:`Run` that says everything a rule needs about it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ..errors import ConfigError
from ..models import EXTERNAL, FAMILIES, GAN_FAMILY, family, further_families
from .paths import path

# Keys of `gan` that only choose what is evaluated: changing them reruns no training job.
GAN_EVALUATION_KEYS = ("eval_every", "eval_epochs", "preview", "run")
# Keys of `gan` that say how a training job runs, not what it computes (like `device`).
GAN_EXECUTION_KEYS = ("processes", "nodes")
# Keys of `metrics` that only select an epoch or describe tumour regions: no generator is rescored.
SELECTION_KEYS = ("same_metrics", "selection", "tumour_margin_mm")
# Keys of one epoch's scoring that only Table 1 uses (the test-set FID sample, LPIPS).
TABLE1_ONLY_KEYS = ("n_fid_pairs_test", "lpips")
# Training keys of a further model that its config entry may leave out
MODEL_DEFAULTS = {"target": "post", "options": {}, "niter": 2, "niter_decay": 2, "batch_size": 4, "lr": 1e-3,
                  "beta1": 0.9, "lambda_perceptual": 0.0, "eval_every": 2}  # fmt: skip
# A further model's keys that are not training params: changing them retrains nothing
MODEL_EXECUTION_KEYS = ("eval_every", "threads")
# The gan block's keys every further model shares: they define the task (input, targets, seed, pairs)
SHARED_KEYS = ("input", "targets", "channels", "seed", "augment", "augment_probability", "max_pairs_per_epoch", "vgg")


def n_epochs(training: dict) -> int:
    """Training epochs: niter at a constant learning rate, then niter_decay."""
    return int(training["niter"]) + int(training["niter_decay"])


def _evaluated(n: int, every: int, chosen: list[int] | None = None) -> tuple[int, ...]:
    """The evaluated epochs (SAMe min-max scales over exactly these): ``chosen``, or every
    ``every`` epochs and the last; none when nothing trains."""
    if n == 0:
        return ()
    if chosen:
        return tuple(sorted(set(chosen)))
    return tuple(sorted(set(range(every, n + 1, every)) | {n}))


@dataclass(frozen=True)
class Run:
    """One synthesis model: how it trains, which epochs are scored and exported, and what it
    synthesises with. ``main``: gan.run, whose images the segmentation experiments, the DICOM
    export and the viewer use."""

    name: str
    family: str
    main: bool
    training: dict  # a training job's params: changing them retrains
    n_epochs: int
    eval_epochs: tuple[int, ...]
    export_epochs: tuple[int, ...]  # the evaluated ones and the last (0: a published generator as it is)
    processes: int  # per epoch (a family that declares it trains data-parallel)
    nodes: int
    generator: str  # the generator file it synthesises with
    label: str  # Table 1's name for its synthetic rows: the epoch actually used ("best" = SAMe's)

    @property
    def trains(self) -> bool:
        return self.n_epochs > 0


class RunsMixin:
    """The runs (:class:`Run`) and what scores them."""

    @property
    def gan(self) -> dict:
        return self.config["gan"]

    @property
    def run(self) -> str:
        """The main run's name (gan.run)."""
        return self.gan["run"]

    @cached_property
    def run_specs(self) -> dict[str, Run]:
        """Every run by name: the main run first, then the further models in config order."""
        return {self.run: self._main_run(), **{name: self._further_run(name, m) for name, m in self.models.items()}}

    def run_of(self, name: str) -> Run:
        return self.run_specs[name]

    @property
    def runs(self) -> list[str]:
        return list(self.run_specs)

    def _main_run(self) -> Run:
        gan, fam = self.gan, family(GAN_FAMILY)
        n = n_epochs(gan)
        evaluated = _evaluated(n, gan["eval_every"], gan["eval_epochs"])
        epoch = self.config["synthesis"]["epoch"]
        if n == 0:  # gan.init_generator synthesises as it is, exported as epoch 0
            generator, label = path("generator", run=self.run, epoch=0), "ep0"
        elif epoch is None:
            generator, label = path("generator_best", run=self.run), "best"
        else:
            generator, label = path("generator", run=self.run, epoch=epoch), f"ep{epoch}"
        processes = int(gan.get("processes", 1)) if fam.processes else 1
        keys = {k: v for k, v in gan.items() if k not in GAN_EVALUATION_KEYS + GAN_EXECUTION_KEYS}
        # batch_size in the params is the global batch (processes x gan.batch_size): 1 x 4 and 2 x 2
        # are the same training
        training = {**keys, "batch_size": int(gan["batch_size"]) * processes}
        return Run(self.run, fam.name, True, training, n, evaluated, tuple(sorted(set(evaluated) | {n})), processes,
                   int(gan.get("nodes", 1)) if fam.processes else 1, generator, label)  # fmt: skip

    def _further_run(self, name: str, model: dict) -> Run:
        if not family(model["family"]).trains:  # volumes made elsewhere: the run's "generator" describes them
            return Run(name, model["family"], False, model, 0, (), (), 1, 1, path("external_model", run=name), "external")
        n = n_epochs(model)
        evaluated = _evaluated(n, int(model["eval_every"]))
        # the family's state format is a training key: a new version of a family retrains its runs
        training = {**{k: v for k, v in model.items() if k not in MODEL_EXECUTION_KEYS},
                    "state_format": family(model["family"]).state_format}  # fmt: skip
        return Run(name, model["family"], False, training, n, evaluated, evaluated, 1, 1,
                   path("generator_best", run=name), "best")  # fmt: skip

    @cached_property
    def models(self) -> dict[str, dict]:
        """The further synthesis models by run name (config ``models``), each with its training
        keys completed from the gan block (SHARED_KEYS)."""
        out = {}
        for name, spec in (self.config.get("models") or {}).items():
            if name == self.run:
                raise ConfigError(f"models.{name}: the name is gan.run's (every model is a run of its own)")
            if spec["family"] not in further_families():
                raise ConfigError(f"models.{name}.family: {spec['family']!r} is not one of {', '.join(further_families())}"
                                  + (" (pix2pixHD is the gan block)" if spec["family"] in FAMILIES else ""))  # fmt: skip
            fam = family(spec["family"])
            if not fam.trains:
                out[name] = self._external_model(name, spec)
                continue
            if "images" in spec:
                raise ConfigError(f"models.{name}.images: only a model of the {EXTERNAL} family reads its images from "
                                  f"files; a {fam.name} model synthesises them")  # fmt: skip
            out[name] = {**MODEL_DEFAULTS, **{k: self.gan[k] for k in SHARED_KEYS}, **spec,
                         "options": dict(spec.get("options") or {})}  # fmt: skip
            if out[name]["target"] not in fam.targets:
                raise ConfigError(f"models.{name}.target: {out[name]['target']} is not a target of the {fam.name} family "
                                  f"({', '.join(fam.targets)})")  # fmt: skip
            if n_epochs(out[name]) == 0:
                raise ConfigError(f"models.{name}: niter + niter_decay is 0; a model trains at least one epoch")
        return out

    def _external_model(self, name: str, spec: dict) -> dict:
        """An external model's entry: its image template per target (``{case}`` in each)."""
        extra = sorted(set(spec) - {"family", "images", "intensity"})
        if extra:
            raise ConfigError(f"models.{name}.{extra[0]}: a model of the {EXTERNAL} family trains nowhere here; it takes "
                              "only family, images (a path with {case}) and intensity")  # fmt: skip
        images, targets = spec.get("images"), self.gan["targets"]
        if isinstance(images, str):
            images = {targets[0]: images} if len(targets) == 1 else None
        if not images or set(images) != set(targets) or not all(isinstance(v, str) and "{case}" in v for v in images.values()):
            raise ConfigError(f"models.{name}.images: a path with {{case}} (e.g. /data/{name}/{{case}}_0001.nii.gz), or one "
                              f"per target ({', '.join(targets)}: {{post1: ...}}), got {spec.get('images')!r}")  # fmt: skip
        return {"family": EXTERNAL, "target": "post", "images": {t: images[t] for t in targets},
                "intensity": spec.get("intensity", "scanner")}

    @property
    def external_runs(self) -> list[str]:
        """The runs whose synthetic volumes come from files (a family that does not train)."""
        return [r for r in self.runs if not family(self.run_of(r).family).trains]

    def external_synthesis(self, run: str, case: str) -> dict | None:
        """What synthesize_volume reads for an external run's ``case`` (None for a run that synthesises)."""
        images = self.external_images(run, case)
        if not images:
            return None
        return {"images": images, "intensity": self.run_of(run).training["intensity"]}

    def external_images(self, run: str, case: str) -> dict[str, str]:
        """An external run's synthetic volumes of ``case`` by target ({} for a run that synthesises)."""
        if run not in self.external_runs:
            return {}
        return {t: template.replace("{case}", case) for t, template in self.run_of(run).training["images"].items()}

    def run_cases(self, run: str) -> list[str]:
        """The cases ``run`` has synthetic volumes of: every case to synthesise, or, for an external
        run, those with a file for every target (the others are missing: :meth:`missing_cases`)."""
        return self._external_cases.get(run, self.synth_cases)

    @cached_property
    def _external_cases(self) -> dict[str, list[str]]:
        """Per external run, the cases to synthesise with a file for every target (looked up once)."""
        return {run: [c for c in self.synth_cases if all(Path(f).is_file() for f in self.external_images(run, c).values())]
                for run in self.external_runs}  # fmt: skip

    def missing_cases(self, run: str, cases: list[str] | None = None) -> list[str]:
        """The cases to synthesise (or those of ``cases``) that an external run has no volume of.
        The model ranking gives them the run's worst observed value of each per-case metric, as the
        MAMA-SYNTH challenge does, and counts them; Table 1, the tumour regions and the figures use
        the cases it has."""
        have = set(self.run_cases(run))
        return [c for c in (self.synth_cases if cases is None else cases) if c not in have]

    def of_run(self, run: str, cases: list[str]) -> list[str]:
        """Those of ``cases`` that ``run`` has synthetic volumes of."""
        have = set(self.run_cases(run))
        return [c for c in cases if c in have]

    def check_external_images(self) -> None:
        """Every external run has a volume for at least one case it synthesises (refused by name
        if not); missing cases are named in the cohort summary."""
        for run in self.external_runs if self.synth_cases else []:
            example = next(iter(self.external_images(run, self.synth_cases[0]).values()))
            if not self.run_cases(run):
                raise ConfigError(f"models.{run}.images: no volume for any of the {len(self.synth_cases)} cases to "
                                  f"synthesise (looked for {example}, ...)")  # fmt: skip
            ranked = self.ranking_cases()
            if ranked and not self.of_run(run, ranked):
                raise ConfigError(f"models.{run}.images: no volume for any of the {len(ranked)} test cases the model "
                                  f"ranking scores ({', '.join(ranked[:5])}{', ...' if len(ranked) > 5 else ''}; looked "
                                  f"for {example}, ...): nothing to rank it on")  # fmt: skip

    # the main run's, as most rules name them
    @property
    def n_epochs(self) -> int:
        return self.run_of(self.run).n_epochs

    @property
    def synthesis_only(self) -> bool:
        """No epoch of the main run trains: gan.init_generator synthesises as it is (epoch 0)."""
        return not self.run_of(self.run).trains

    @property
    def eval_epochs(self) -> list[int]:
        return list(self.run_of(self.run).eval_epochs)

    @property
    def export_epochs(self) -> list[int]:
        return list(self.run_of(self.run).export_epochs)

    def family(self, run: str) -> str:
        return self.run_of(run).family

    def training(self, run: str) -> dict:
        """What shapes a run's training (a training job's params; changing it retrains)."""
        return self.run_of(run).training

    def n_epochs_of(self, run: str) -> int:
        return self.run_of(run).n_epochs

    def eval_epochs_of(self, run: str) -> list[int]:
        return list(self.run_of(run).eval_epochs)

    def export_epochs_of(self, run: str) -> list[int]:
        return list(self.run_of(run).export_epochs)

    def synthesis_generator(self, run: str) -> str:
        """The generator that synthesises: ``synthesis.epoch`` (the main run), or the one SAMe chose
        (every further model; the main run when it is null), or the exported gan.init_generator
        when nothing trains."""
        return self.run_of(run).generator

    @property
    def gan_seqs(self) -> list[str]:
        return [self.gan["input"], *self.gan["targets"]]

    @property
    def gan_processes(self) -> int:
        return int(self.gan.get("processes", 1))

    @property
    def gan_nodes(self) -> int:
        """Nodes one pix2pixHD epoch spans (``gan.nodes``; each runs processes / nodes)."""
        return int(self.gan.get("nodes", 1))

    @property
    def selected_by_same(self) -> bool:
        """Whether SAMe chose the generator the main run synthesises with."""
        return self.selected_by_same_of(self.run)

    def selected_by_same_of(self, run: str) -> bool:
        """Whether SAMe chose the generator ``run`` synthesises with (never for an external model)."""
        return self.run_of(run).label == "best"

    @cached_property
    def export_runs(self) -> list[str]:
        """The runs with DICOM series and a viewer: the main run and ``export.runs`` (checked)."""
        extra = list((self.config.get("export") or {}).get("runs") or [])
        unknown = [r for r in extra if r not in self.runs]
        if unknown:
            raise ConfigError(f"export.runs: no run named {unknown[0]!r} (the runs: {', '.join(self.runs)})")
        return [self.run, *(r for r in extra if r != self.run)]

    @property
    def scoring(self) -> dict:
        """What scores one generator (Table 1; the per-epoch tables without TABLE1_ONLY_KEYS)."""
        return {k: v for k, v in self.config["metrics"].items() if k not in SELECTION_KEYS}

    @property
    def epoch_scoring(self) -> dict:
        return {k: v for k, v in self.scoring.items() if k not in TABLE1_ONLY_KEYS}
