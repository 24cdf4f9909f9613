"""The synthesis model families, one registry for all: pix2pixHD (the paper's), ``unet``, ``nca``
and ``flow``. Importing this module imports no torch, so the plan reads the registry at parse time.

A family is a :class:`Family`: the network it builds (``build_model(name, options, input_nc,
output_nc)``), the trainer that runs one of its training iterations
(:mod:`dcesynth.training.epoch` is the one per-epoch driver for every family), the format of its
training states, and what it can do: train in several processes (``gan.processes``), train in bf16
on CUDA (``gan.precision``), learn a target (post-contrast or subtraction).

Every family's model is an ``nn.Module`` whose ``forward(x)`` translates a batch of pre-contrast
slices (N, C_in, H, W) in [-1, 1] to the target (N, C_out, H, W) in [-1, 1], deterministically in
eval mode, so :func:`dcesynth.models.infer.translate` and everything after synthesis take any of
them alike; the further families' models add ``training_loss(x, y, perceptual=None,
lambda_perceptual=0, generator=None)`` (the loss of one batch and its named terms).

- ``pix2pixHD``: NVIDIA's generator and discriminator (:mod:`.pix2pixhd`), the ``gan`` block;
- ``unet``: :class:`.unet.Regressor`, L1 (+ optional VGG19 perceptual term);
- ``nca``: :class:`.nca.NCA`, a TeNCA-style neural cellular automaton (~15 k parameters);
- ``flow``: :class:`.flow.RectifiedFlow`, conditional flow matching with 1-64 Euler steps;
- ``external``: no network; synthetic volumes made elsewhere (``models.<run>.images``).

:func:`register_family` adds a family (docs/extending.md); a model file of a further family
(:func:`dcesynth.models.files.save_model`) holds the family, its options and the state dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import load_object
from ..errors import ConfigError

FORMAT = "dcesynth-model-2"  # a model file of a further family (files.save_model)
STATE_FORMAT = "dcesynth-model-state-2"  # a further family's training state
# Files of the first version hold options whose defaults have changed since: a flow model with time
# as an input channel, an NCA with fixed perception, a frozen image channel and deterministic
# synthesis over 16 steps. They load with these defaults under their own options.
LEGACY_FORMATS = {"dcesynth-model-1": FORMAT, "dcesynth-model-state-1": STATE_FORMAT}
LEGACY_OPTIONS = {"flow": {"time": "channel"},
                  "nca": {"perception": "fixed", "evolve_image": False, "stochastic_inference": False, "steps": 16}}  # fmt: skip


@dataclass(frozen=True)
class Family:
    """One synthesis model family: where its network and its trainer live ("module:attribute",
    imported when used) and what it can do."""

    name: str
    model: str  # builds the network: called with input_nc, output_nc and the family's options
    trainer: str  # a dcesynth.training.epoch.Trainer
    state_format: str = STATE_FORMAT
    targets: tuple[str, ...] = ("post", "subtraction")  # what it may learn (models.<run>.target)
    processes: bool = False  # epochs in several data-parallel processes (gan.processes, gan.nodes)
    bf16: bool = False  # training under bf16 autocast on CUDA where asked for (gan.precision)
    trains: bool = True  # False: synthetic volumes made elsewhere (models.<run>.images), no network here


FAMILIES: dict[str, Family] = {}
# the family of a training config without a "family" key: the gan block's
GAN_FAMILY = "pix2pixHD"


def register_family(family: Family) -> Family:
    """Add ``family`` to the registry (a name is registered once)."""
    if family.name in FAMILIES and FAMILIES[family.name] != family:
        raise ValueError(f"model family {family.name!r} is registered already")
    FAMILIES[family.name] = family
    return family


register_family(Family("pix2pixHD", "dcesynth.models.pix2pixhd:build_pix2pixhd", "dcesynth.models.pix2pixhd.trainer:Pix2PixHDTrainer",
                state_format="dcesynth-gan-state-1", targets=("post",), processes=True, bf16=True))  # fmt: skip
register_family(Family("unet", "dcesynth.models.unet:Regressor", "dcesynth.training.regression:RegressionTrainer"))
# the NCA evolves the pre-contrast image into the post-contrast one (TeNCA): it learns the image
register_family(Family("nca", "dcesynth.models.nca:NCA", "dcesynth.training.regression:RegressionTrainer", targets=("post",)))
register_family(Family("flow", "dcesynth.models.flow:RectifiedFlow", "dcesynth.training.regression:RegressionTrainer"))
# a model trained elsewhere (a diffusion model, a challenge entry): its synthetic volumes are read
# from models.<run>.images, and every rule after synthesis takes them as a run's
EXTERNAL = "external"
register_family(Family(EXTERNAL, "", "", targets=("post",), trains=False))

# the families of the config's `models` block (the gan block is pix2pixHD's)
def further_families() -> list[str]:
    return [name for name in FAMILIES if name != GAN_FAMILY]


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise ConfigError(f"model family {name!r} is not one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def family_of(cfg: dict[str, Any]) -> Family:
    """The family a training config (a run's training keys) trains."""
    return family(cfg.get("family", GAN_FAMILY))


def build_model(name: str, options: dict[str, Any] | None = None, input_nc: int = 3, output_nc: int = 3):
    """A model of family ``name`` with ``options`` (the family's keyword arguments), seeded by the
    caller's torch seed."""
    if not family(name).trains:
        raise ConfigError(f"model family {name}: its images come from outside (models.<run>.images); it builds no network")
    build = load_object(family(name).model)
    try:
        return build(input_nc=input_nc, output_nc=output_nc, **(options or {}))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model family {name}: {e}") from None


def current_options(name: str, options: dict[str, Any], file_format: str) -> dict[str, Any]:
    """A file's family options as this version builds them (first-version files: LEGACY_OPTIONS)."""
    if file_format in LEGACY_FORMATS:
        return {**LEGACY_OPTIONS.get(name, {}), **options}
    return dict(options)


def n_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
